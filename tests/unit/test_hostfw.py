"""The host firewall template renders to a ruleset nft accepts; HostFirewall guards its inputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined, UndefinedError

import vhoneynet
from vhoneynet import naming
from vhoneynet.backend import hostfw
from vhoneynet.backend.hostfw import HostFirewall
from vhoneynet.errors import HostNotReady
from vhoneynet.hostrules import HoneypotPort, host_ruleset

TEMPLATES = Path(vhoneynet.__file__).parent / "render" / "templates"


def render(hid: str, **overrides: object) -> str:
    values: dict = {
        "bridges": {role: naming.bridge(hid, role) for role in naming.BRIDGE_ROLES},
        "admin_host": "10.213.0.1",
        "gateway_admin": "10.213.0.2",
    }
    values.update(overrides)
    return host_ruleset(hid, **values)


def test_template_defines_one_table_for_the_honeynet() -> None:
    text = render("demo")
    assert text.count("table inet vhn_demo {") == 1
    assert "delete table inet vhn_demo" in text
    for role in naming.BRIDGE_ROLES:
        assert f'iifname "vhndemo-{role}" oifname != "vhndemo-{role}"' in text
    assert "ip saddr 10.213.0.2 ip daddr 10.213.0.1" in text
    assert '"vhndemo-n*", "vhndemo-o*" } counter drop' in text


PORTS = (HoneypotPort("web-1", "vhndemo-n03", "52:54:00:aa:bb:cc", "203.0.113.80"),
         HoneypotPort("dns", "vhndemo-n04", "52:54:00:aa:bb:cd", "203.0.113.53"))


def test_each_honeypot_port_sends_only_its_own_mac_and_address() -> None:
    text = render("demo", honeypots=PORTS)
    assert "delete table bridge vhn_demo" in text and text.count("table bridge vhn_demo {") == 1
    assert '"vhndemo-n03" : jump honeypot_web_1, "vhndemo-n04" : jump honeypot_dns' in text
    assert "ether saddr != 52:54:00:aa:bb:cc counter drop" in text
    assert "arp saddr ether 52:54:00:aa:bb:cd arp saddr ip 203.0.113.53 accept" in text
    assert "jump" not in render("demo")  # no honeypot: an empty bridge table


def test_a_users_own_internet_bridge_is_left_alone() -> None:
    text = host_ruleset("demo", {"ext": "br-lab", "int": "vhndemo-int", "adm": "vhndemo-adm"},
                        "10.213.0.1", "10.213.0.2", owned_roles=("int", "adm"))
    assert "br-lab" not in text


def test_template_needs_every_variable() -> None:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined)
    with pytest.raises(UndefinedError):
        env.get_template("host/firewall.nft.j2").render(hid="demo")


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft")
def test_rendered_ruleset_passes_nft_check() -> None:
    HostFirewall().check(render("demo"))
    HostFirewall().check(render("demo", honeypots=PORTS))


@pytest.mark.parametrize("hid", ["", "Demo", "a b", "x; flush ruleset", "toolongid1"])
def test_ids_outside_the_topology_pattern_are_refused(hid: str) -> None:
    with pytest.raises(ValueError, match="honeynet id"):
        HostFirewall().remove(hid)


def test_apply_refuses_a_ruleset_for_another_table() -> None:
    with pytest.raises(ValueError, match="table inet vhn_mine"):
        HostFirewall().apply("mine", render("other"))


def test_missing_nft_is_reported_as_host_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostfw, "NFT", "/nonexistent/nft")
    with pytest.raises(HostNotReady, match="nftables"):
        HostFirewall().tables()
