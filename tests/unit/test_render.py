"""Rendered XML, rulesets and seeds: golden files plus the real validators."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from vhoneynet.gateway.config.disk import config_files, ruleset
from vhoneynet.guestxml import domain_xml, share_xml
from vhoneynet.images import BuiltImage
from vhoneynet.plan import plan
from vhoneynet.seed import documents
from vhoneynet.topology import load, loads


def demo():
    return load(REPO / "topologies" / "demo.yml")


def fake_image(name: str) -> BuiltImage:
    root = Path(f"/var/lib/vhoneynet/images/{name}-0123456789ab")
    return BuiltImage(name, "0123456789ab" * 5, "honeypot", root / "disk.qcow2", root / "vmlinuz", root / "initrd.img")


def rendered_domains(accel: str = "tcg") -> dict[str, str]:
    topo = demo()
    run = Path("/var/lib/vhoneynet/honeynets/demo/disks")
    return {
        g.name: domain_xml(topo, g, fake_image(g.image), accel, run / f"{g.name}.qcow2",
                           run / f"{g.name}-config.img", Path(f"/var/lib/vhoneynet/captures/demo/consoles/{g.name}.log"))
        for g in plan(topo).guests
    }


def virt_xml_validate(tmp_path: Path, xml: str, kind: str) -> None:
    if not shutil.which("virt-xml-validate"):
        pytest.skip("virt-xml-validate is not installed (libvirt-clients)")
    path = tmp_path / "x.xml"
    path.write_text(xml)
    proc = subprocess.run(["virt-xml-validate", str(path), kind], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize("guest", ["gateway", "dns", "web"])
def test_domain_xml_golden_and_valid(guest, golden, tmp_path):
    xml = rendered_domains()[guest]
    golden(f"domain-{guest}.xml", xml)
    virt_xml_validate(tmp_path, xml, "domain")


def test_kvm_domain_uses_host_cpu(tmp_path):
    xml = rendered_domains("kvm")["web"]
    assert xml.startswith('<domain type="kvm"') and 'mode="host-passthrough"' in xml
    virt_xml_validate(tmp_path, xml, "domain")


def test_agent_channel_only_when_enabled():
    topo = loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.10, agent: false}\n")
    g = plan(topo).honeypots[0]
    xml = domain_xml(topo, g, fake_image("linux-web"), "tcg", Path("/x.qcow2"), Path("/s.img"), Path("/c.log"))
    assert "guest_agent" not in xml


def test_gateway_gets_shared_memory_and_its_capture_share_apart():
    xml = rendered_domains()["gateway"]
    assert '<access mode="shared"/>' in xml  # what its virtiofs share needs
    assert "virtiofs" not in xml  # hot-plugged when the gateway waits for it: a save cannot carry it
    share = share_xml(demo())
    assert 'driver type="virtiofs"' in share and "/var/lib/vhoneynet/captures/demo/gateway" in share
    assert "<acpi/>" in xml  # PCI hot-plug on i440FX goes through ACPI
    assert "virtiofs" not in rendered_domains()["web"]


def test_pool_xml_valid(tmp_path, golden):
    from vhoneynet.render import render

    pool = render("libvirt/pool.xml.j2", name="vhn-demo", path="/var/lib/vhoneynet/honeynets/demo/disks")
    golden("pool.xml", pool)
    virt_xml_validate(tmp_path, pool, "storagepool")


def test_gateway_ruleset_golden(golden):
    golden("honeynet-demo/gateway/config-disk/ruleset.nft", ruleset(demo()))


def test_gateway_ruleset_limits_follow_topology():
    topo = loads("id: t1\ngateway:\n  data_control:\n    limits: {tcp: 5, udp: 0, window: minute}\n")
    text = ruleset(topo)
    assert "add @limit_tcp { ip saddr limit rate over 5/minute burst 5 packets } goto limited_tcp" in text
    assert 'goto limited_udp comment "limit udp 0/minute"' in text
    assert "timeout 1m" in text


def test_gateway_start_script_golden(golden):
    topo = demo()
    golden("honeynet-demo/gateway/config-disk/start.sh", config_files(topo, plan(topo))["start.sh"])


def test_gateway_start_script_is_valid_shell(tmp_path):
    topo = demo()
    script = tmp_path / "start.sh"
    script.write_text(config_files(topo, plan(topo))["start.sh"])
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0


@pytest.mark.parametrize("guest", ["dns", "web"])
def test_seed_documents_golden(guest, golden):
    topo = demo()
    docs = documents(topo, topo.honeypot(guest))
    for name, text in docs.items():
        golden(f"seed-{guest}-{name}", text)


def test_seed_documents_are_yaml():
    from ruamel.yaml import YAML

    topo = demo()
    docs = documents(topo, topo.honeypot("dns"))
    user = YAML(typ="safe").load(docs["user-data"])
    net = YAML(typ="safe").load(docs["network-config"])
    assert docs["user-data"].startswith("#cloud-config\n")
    assert user["hostname"] == "dns" and user["fqdn"] == "dns.corp.example"
    zone = next(f for f in user["write_files"] if f["path"] == "/etc/bind/db.corp.example")["content"]
    assert "web\tIN A\t203.0.113.80" in zone
    assert net["ethernets"]["eth0"]["addresses"] == ["203.0.113.53/24"]
