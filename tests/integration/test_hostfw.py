"""HostFirewall against the real nftables of this host.

Each test owns the table of its own random honeynet id and removes it in `finally`.
The traffic tests send pings only between namespaces they created and the admin
address they put on their own bridge.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

import vhoneynet
from vhoneynet import naming
from vhoneynet.backend.hostfw import HostFirewall
from vhoneynet.backend.netlink import HostNet
from vhoneynet.errors import CommandFailed
from vhoneynet.hostrules import HoneypotPort, host_ruleset

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft"),
]
needs_ping = pytest.mark.skipif(shutil.which("ping") is None, reason="ping not installed (iputils-ping)")

TEMPLATES = Path(vhoneynet.__file__).parent / "render" / "templates"


@pytest.fixture
def hid() -> str:
    return "t" + secrets.token_hex(3)


@pytest.fixture
def fw() -> HostFirewall:
    return HostFirewall()


def subnet(hid: str) -> str:
    """A /24 in the benchmarking range 198.18.0.0/15, different for each test id."""
    return f"198.{18 + int(hid[1], 16) % 2}.{int(hid[2:4], 16)}"


def render(hid: str) -> str:
    return host_ruleset(hid, {role: naming.bridge(hid, role) for role in naming.BRIDGE_ROLES},
                        f"{subnet(hid)}.1", f"{subnet(hid)}.2")


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)


def ping(netns: str, address: str) -> bool:
    return sh("ip", "netns", "exec", netns, "ping", "-c1", "-W2", address).returncode == 0


def test_apply_is_idempotent_and_remove_leaves_nothing(fw: HostFirewall, hid: str) -> None:
    table = naming.nft_table(hid)
    try:
        fw.apply(hid, render(hid))
        listed = sh("nft", "list", "table", "inet", table)
        assert listed.returncode == 0, listed.stderr
        assert "hook forward" in listed.stdout and "hook input" in listed.stdout
        fw.apply(hid, render(hid))
        assert fw.tables().count(table) == 1
        assert sh("nft", "list", "tables").stdout.count(f"inet {table}\n") == 1
        # re-applying replaces the table: rules are not doubled
        assert sh("nft", "list", "table", "inet", table).stdout.count("drop") == listed.stdout.count("drop")
    finally:
        fw.remove(hid)
    assert table not in fw.tables()
    assert table not in sh("nft", "list", "tables").stdout
    fw.remove(hid)  # removing what is gone is fine


def test_check_names_the_problem(fw: HostFirewall, hid: str) -> None:
    broken = f"table inet {naming.nft_table(hid)} {{\n\tchain input {{\n\t\tiifname \"x\" dorp\n\t}}\n}}\n"
    try:
        with pytest.raises(CommandFailed, match="dorp") as caught:
            fw.check(broken)
        assert "syntax error" in str(caught.value)
        with pytest.raises(CommandFailed):
            fw.apply(hid, broken)
        assert naming.nft_table(hid) not in fw.tables()  # nothing half-loaded
    finally:
        fw.remove(hid)


def remove_all(fw: HostFirewall, net: HostNet, hid: str) -> None:
    """The test's host table, links and namespaces, all carrying its id."""
    fw.remove(hid)
    for name in net.links(naming.link_prefix(hid)):
        net.delete_link(name)
    for name in net.netns(naming.netns_prefix(hid)):
        net.delete_netns(name)


@needs_ping
def test_bridged_traffic_passes_and_the_host_answers_only_the_gateway(fw: HostFirewall, hid: str) -> None:
    # br_netfilter (loaded on these hosts) shows bridged frames to the forward hook with the
    # bridge as iif and oif: the ruleset must drop routed traffic only, not the bridged.
    net, prefix = HostNet(), subnet(hid)
    ext, adm = naming.bridge(hid, "ext"), naming.bridge(hid, "adm")
    a, b = naming.netns(hid, "a"), naming.netns(hid, "b")
    gw, other = naming.netns(hid, "gw"), naming.netns(hid, "other")
    try:
        net.ensure_bridge(ext)
        net.ensure_bridge(adm, IPv4Interface(f"{prefix}.1/24"))
        net.add_outside_host(a, ext, naming.veth(hid, 1), IPv4Interface("10.99.0.1/24"))
        net.add_outside_host(b, ext, naming.veth(hid, 2), IPv4Interface("10.99.0.2/24"))
        net.add_outside_host(gw, adm, naming.veth(hid, 3), IPv4Interface(f"{prefix}.2/24"))
        net.add_outside_host(other, adm, naming.veth(hid, 4), IPv4Interface(f"{prefix}.3/24"))
        assert ping(other, f"{prefix}.1"), "the admin address answers before the firewall is applied"

        fw.apply(hid, render(hid))

        assert ping(a, "10.99.0.2"), "bridged traffic on a honeynet bridge must pass"
        assert ping(gw, f"{prefix}.1"), "the gateway must reach the host's admin address"
        assert not ping(other, f"{prefix}.1"), "anyone else on the admin bridge must not"
    finally:
        remove_all(fw, net, hid)


@needs_ping
def test_a_honeypot_port_sends_only_its_own_mac_and_address(fw: HostFirewall, hid: str) -> None:
    net = HostNet()
    int_ = naming.bridge(hid, "int")
    pot, peer = naming.netns(hid, "pot"), naming.netns(hid, "peer")
    tap, mac = naming.veth(hid, 1), "52:54:00:12:34:56"
    ruleset = host_ruleset(hid, {role: naming.bridge(hid, role) for role in naming.BRIDGE_ROLES},
                           f"{subnet(hid)}.1", f"{subnet(hid)}.2",
                           honeypots=(HoneypotPort("web-1", tap, mac, "10.99.0.1"),))
    try:
        net.ensure_bridge(int_)
        net.add_outside_host(pot, int_, tap, IPv4Interface("10.99.0.1/24"), mac=mac)
        net.add_outside_host(peer, int_, naming.veth(hid, 2), IPv4Interface("10.99.0.2/24"))
        fw.apply(hid, ruleset)
        assert ping(pot, "10.99.0.2"), "the honeypot's own MAC and address pass"
        assert ping(peer, "10.99.0.1"), "and it is reachable"

        assert sh("ip", "-n", pot, "addr", "add", "10.99.0.9/24", "dev", "eth0").returncode == 0
        assert sh("ip", "-n", peer, "neigh", "replace", "10.99.0.9", "lladdr", mac, "dev", "eth0").returncode == 0
        spoofed = sh("ip", "netns", "exec", pot, "ping", "-c1", "-W2", "-I", "10.99.0.9", "10.99.0.2")
        assert spoofed.returncode != 0, "another source address must not leave the port"

        assert sh("ip", "-n", pot, "link", "set", "eth0", "address", "52:54:00:12:34:57").returncode == 0
        assert not ping(pot, "10.99.0.2"), "another source MAC must not leave the port"
        chain = sh("nft", "list", "chain", "bridge", naming.nft_table(hid), "honeypot_web_1").stdout
        mac_drops, other_drops = (int(n) for n in re.findall(r"counter packets (\d+)", chain))
        assert mac_drops > 0 and other_drops > 0, chain
        assert fw.honeypot_drops(hid, "web-1") == mac_drops + other_drops  # what `verify` reads
    finally:
        remove_all(fw, net, hid)
    assert naming.nft_table(hid) not in sh("nft", "list", "tables").stdout
