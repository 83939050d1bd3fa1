"""HostNet against the real kernel: bridges, veth pairs and network namespaces.

Every test works under its own random honeynet id, so tests run in parallel, and
removes everything it made in `finally`. Traffic flows only between namespaces the
test created; the root namespace's routes and uplink are never touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Interface

import pytest

from vhoneynet import naming
from vhoneynet.backend.netlink import HostNet
from vhoneynet.errors import LinkError, ResourceConflict

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture
def hid() -> str:
    return "t" + secrets.token_hex(3)


@pytest.fixture
def net() -> HostNet:
    return HostNet()


def subnet(hid: str) -> str:
    """A /24 in the benchmarking range 198.18.0.0/15, different for each test id."""
    return f"198.{18 + int(hid[1], 16) % 2}.{int(hid[2:4], 16)}"


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)


def remove_all(net: HostNet, hid: str) -> None:
    for name in net.links(naming.link_prefix(hid)):
        net.delete_link(name)
    for name in net.netns(naming.netns_prefix(hid)):
        net.delete_netns(name)


def test_ensure_bridge_is_idempotent_and_never_speaks_ipv6(net: HostNet, hid: str) -> None:
    br = naming.bridge(hid, "ext")
    try:
        net.ensure_bridge(br)
        net.ensure_bridge(br)
        assert net.links(naming.link_prefix(hid)) == [br]
        assert br in net.bridges()
        details = sh("ip", "-d", "link", "show", br).stdout
        assert "state UP" in details or "UP," in details
        assert "stp_state 0" in details and "forward_delay 0" in details
        # a port makes the bridge carrier up: the moment it would gain a link-local address
        net.add_outside_host(naming.netns(hid, "a"), br, naming.veth(hid, 1), IPv4Interface(f"{subnet(hid)}.1/24"))
        assert sh("ip", "-6", "-o", "addr", "show", "dev", br).stdout == ""
        assert sh("ip", "-6", "-o", "addr", "show", "dev", naming.veth(hid, 1)).stdout == ""
    finally:
        remove_all(net, hid)


def test_ensure_bridge_refuses_a_link_that_is_not_a_bridge(net: HostNet, hid: str) -> None:
    name = naming.bridge(hid, "int")
    try:
        made = sh("ip", "link", "add", name, "type", "veth", "peer", "name", f"{naming.link_prefix(hid)}p")
        assert made.returncode == 0, made.stderr
        with pytest.raises(ResourceConflict, match=name):
            net.ensure_bridge(name)
    finally:
        remove_all(net, hid)


@pytest.mark.skipif(shutil.which("ping") is None, reason="ping not installed (iputils-ping)")
def test_outside_hosts_reach_each_other_across_the_bridge(net: HostNet, hid: str) -> None:
    br, ns_a, ns_b = naming.bridge(hid, "ext"), naming.netns(hid, "alpha"), naming.netns(hid, "beta")
    net_ = subnet(hid)
    try:
        net.ensure_bridge(br)
        net.add_outside_host(
            ns_a, br, naming.veth(hid, 1), IPv4Interface(f"{net_}.1/24"),
            gateway=IPv4Address(f"{net_}.254"), mac="52:54:00:12:34:56",
        )
        net.add_outside_host(ns_b, br, naming.veth(hid, 2), IPv4Interface(f"{net_}.2/24"))

        ping = sh("ip", "netns", "exec", ns_a, "ping", "-c1", "-W2", f"{net_}.2")
        assert ping.returncode == 0, ping.stdout + ping.stderr

        eth0 = sh("ip", "netns", "exec", ns_a, "ip", "-o", "link", "show", "eth0").stdout
        assert "52:54:00:12:34:56" in eth0 and "UP" in eth0
        assert "LOWER_UP" in sh("ip", "netns", "exec", ns_a, "ip", "-o", "link", "show", "lo").stdout
        assert f"default via {net_}.254 dev eth0" in sh("ip", "netns", "exec", ns_a, "ip", "route").stdout
        assert "default" not in sh("ip", "netns", "exec", ns_b, "ip", "route").stdout
        assert f"master {br}" in sh("ip", "-o", "link", "show", naming.veth(hid, 1)).stdout
    finally:
        remove_all(net, hid)


def test_delete_leaves_nothing(net: HostNet, hid: str) -> None:
    prefix, ns_prefix = naming.link_prefix(hid), naming.netns_prefix(hid)
    try:
        for role in naming.BRIDGE_ROLES:
            net.ensure_bridge(naming.bridge(hid, role))
        net.add_outside_host(naming.netns(hid, "a"), naming.bridge(hid, "ext"), naming.veth(hid, 1),
                             IPv4Interface(f"{subnet(hid)}.1/24"))
        assert len(net.links(prefix)) == 4 and net.netns(ns_prefix) == [naming.netns(hid, "a")]
    finally:
        for name in net.links(prefix):
            net.delete_link(name)
        for name in net.netns(ns_prefix):
            net.delete_netns(name)
    assert prefix not in sh("ip", "-o", "link").stdout
    assert ns_prefix not in sh("ip", "netns", "list").stdout
    # deleting what is already gone is not an error
    net.delete_link(naming.bridge(hid, "ext"))
    net.delete_netns(naming.netns(hid, "a"))


def test_admin_bridge_address_is_in_use(net: HostNet, hid: str) -> None:
    adm, addr = naming.bridge(hid, "adm"), IPv4Interface(f"{subnet(hid)}.1/24")
    try:
        net.ensure_bridge(adm, addr)
        net.ensure_bridge(adm, addr)  # the address is not added twice
        assert addr in net.addresses_in_use()
        assert sh("ip", "-4", "-o", "addr", "show", "dev", adm).stdout.count(" inet ") == 1
    finally:
        remove_all(net, hid)
    assert addr not in net.addresses_in_use()


def test_add_outside_host_refuses_what_exists_and_rolls_back_on_failure(net: HostNet, hid: str) -> None:
    br, ns = naming.bridge(hid, "ext"), naming.netns(hid, "a")
    addr = IPv4Interface(f"{subnet(hid)}.1/24")
    try:
        net.ensure_bridge(br)
        net.add_outside_host(ns, br, naming.veth(hid, 1), addr)
        with pytest.raises(ResourceConflict, match=ns):
            net.add_outside_host(ns, br, naming.veth(hid, 2), addr)
        with pytest.raises(ResourceConflict, match=naming.veth(hid, 1)):
            net.add_outside_host(naming.netns(hid, "b"), br, naming.veth(hid, 1), addr)
        # a missing bridge fails after the netns exists: it must be removed again
        with pytest.raises(LinkError, match="does not exist"):
            net.add_outside_host(naming.netns(hid, "c"), naming.bridge(hid, "int"), naming.veth(hid, 3), addr)
        assert net.netns(naming.netns_prefix(hid)) == [ns]
        assert net.links(naming.link_prefix(hid)) == [br, naming.veth(hid, 1)]
    finally:
        remove_all(net, hid)
