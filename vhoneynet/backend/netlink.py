"""Host network backend: bridges, veth pairs and network namespaces through netlink.

The only module that imports pyroute2. Every call opens its own netlink socket and
closes it before returning, so a `HostNet` is cheap to build and holds no state.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from pyroute2 import IPRoute, NetlinkError
from pyroute2 import netns as pr_netns

from vhoneynet.errors import LinkError, ResourceConflict

IFNAMSIZ = 15  # the kernel's limit on interface names, without the trailing NUL
_SYSCTL_IPV6 = Path("/proc/sys/net/ipv6/conf")


class HostNet:
    """Bridges, veth pairs and network namespaces on this host, found by name alone."""

    # --- bridges and links ------------------------------------------------

    def ensure_bridge(self, name: str, address: IPv4Interface | None = None) -> None:
        """Create the bridge `name` if missing and bring it up; idempotent.

        STP is off and the forward delay 0 (ports forward at once); IPv6 is disabled
        on it so that the host never speaks (link-local, MLD, router solicitations)
        on a honeynet bridge. `address` is given only for the admin bridge.
        Raises ResourceConflict if `name` exists and is not a bridge, LinkError on
        any other netlink failure.
        """
        _check_ifname(name)
        with _ipr() as ipr, _netlink_errors("create bridge", name):
            found = ipr.link_lookup(ifname=name)
            if found:
                if _kind(ipr.link("get", index=found[0])[0]) != "bridge":
                    raise ResourceConflict(f"{name} exists on this host and is not a bridge")
                index = found[0]
            else:
                ipr.link("add", ifname=name, kind="bridge", br_stp_state=0, br_forward_delay=0)
                (index,) = ipr.link_lookup(ifname=name)
            ipr.link("set", index=index, kind="bridge", br_stp_state=0, br_forward_delay=0)
            _disable_ipv6(name)  # before "up": no link-local address is ever generated
            ipr.link("set", index=index, state="up")
            if address is not None and address not in _addresses(ipr, index):
                ipr.addr("add", index=index, **_ifa(address))

    def delete_link(self, name: str) -> None:
        """Delete the link `name` (bridge or veth, which takes its peer along); absent is fine."""
        with _ipr() as ipr:
            try:
                ipr.link("del", ifname=name)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise LinkError("delete link", name, e) from e

    def set_link_up(self, name: str, up: bool) -> None:
        """Bring the link `name` up or down (down: no frame passes it). Raises LinkError."""
        with _ipr() as ipr, _netlink_errors("set state of", name):
            found = ipr.link_lookup(ifname=name)
            if not found:
                raise LinkError("set state of", name, "no such link")
            ipr.link("set", index=found[0], state="up" if up else "down")

    def link_is_up(self, name: str) -> bool:
        """Whether the link `name` exists and is administratively up."""
        with _ipr() as ipr:
            found = ipr.link_lookup(ifname=name)
            return bool(found) and bool(ipr.link("get", index=found[0])[0]["flags"] & 1)

    def links(self, prefix: str) -> list[str]:
        """Names of the host's links that start with `prefix`, sorted."""
        with _ipr() as ipr:
            names = (m.get_attr("IFLA_IFNAME") for m in ipr.link("dump"))
            return sorted(n for n in names if n.startswith(prefix))

    def link_exists(self, name: str) -> bool:
        with _ipr() as ipr:
            return bool(ipr.link_lookup(ifname=name))

    def bridges(self) -> list[str]:
        """Names of every bridge on the host (ours and anyone else's), sorted."""
        with _ipr() as ipr:
            links = ipr.link("dump")
            return sorted(m.get_attr("IFLA_IFNAME") for m in links if _kind(m) == "bridge")

    def addresses_in_use(self) -> list[IPv4Interface]:
        """Every IPv4 address configured on the host's links, for collision checks."""
        with _ipr() as ipr:
            return _addresses(ipr)

    # --- outside hosts (network namespaces) -------------------------------

    def add_outside_host(
        self,
        netns: str,
        bridge: str,
        veth: str,
        address: IPv4Interface,
        gateway: IPv4Address | None = None,
        mac: str | None = None,
    ) -> None:
        """Create the netns `netns` with an `eth0` wired to `bridge` through the veth `veth`.

        The host end `veth` is enslaved to `bridge` (which must exist) and brought up
        with IPv6 disabled; the peer is created inside the netns as `eth0` with
        `address` (and `mac` if given); `lo` is up; the default route goes via
        `gateway` if given, else there is none.
        Raises ResourceConflict if the netns or the veth already exists (nothing is
        touched then), LinkError on a netlink failure (whatever was created is removed).
        """
        _check_ifname(veth)
        if netns in pr_netns.listnetns():
            raise ResourceConflict(f"network namespace {netns} already exists on this host")
        if self.link_exists(veth):
            raise ResourceConflict(f"link {veth} already exists on this host")
        peer: dict[str, str] = {"ifname": "eth0", "net_ns_fd": netns}
        if mac:
            peer["address"] = mac
        pr_netns.create(netns)
        try:
            with _ipr() as ipr, _netlink_errors("add outside host", veth):
                found = ipr.link_lookup(ifname=bridge)
                if not found:
                    raise LinkError("add outside host", veth, f"bridge {bridge} does not exist")
                ipr.link("add", ifname=veth, kind="veth", peer=peer)
                (index,) = ipr.link_lookup(ifname=veth)
                _disable_ipv6(veth)
                ipr.link("set", index=index, master=found[0], state="up")
            # flags=0: never let pyroute2 create a namespace that vanished meanwhile
            with _ipr(netns=netns, flags=0) as ns, _netlink_errors("configure", f"{netns}/eth0"):
                (lo,) = ns.link_lookup(ifname="lo")
                (eth0,) = ns.link_lookup(ifname="eth0")
                ns.link("set", index=lo, state="up")
                ns.addr("add", index=eth0, **_ifa(address))
                ns.link("set", index=eth0, state="up")
                if gateway is not None:
                    ns.route("add", dst="0.0.0.0/0", gateway=str(gateway))
        except BaseException:
            self.delete_link(veth)
            self.delete_netns(netns)
            raise

    def delete_netns(self, name: str) -> None:
        """Remove the network namespace `name` (its links go with it); absent is fine."""
        try:
            pr_netns.remove(name)
        except FileNotFoundError:
            pass

    def netns(self, prefix: str) -> list[str]:
        """Names of the named network namespaces that start with `prefix`, sorted."""
        return sorted(n for n in pr_netns.listnetns() if n.startswith(prefix))


# --- helpers --------------------------------------------------------------


@contextmanager
def _ipr(**kwargs) -> Iterator[IPRoute]:
    try:
        ipr = IPRoute(**kwargs)
    except OSError as e:
        raise LinkError("open netlink socket", kwargs.get("netns", "host"), e) from e
    with ipr:
        yield ipr


@contextmanager
def _netlink_errors(action: str, name: str) -> Iterator[None]:
    try:
        yield
    except NetlinkError as e:
        raise LinkError(action, name, e) from e


def _check_ifname(name: str) -> None:
    if not name or len(name) > IFNAMSIZ or "/" in name or name.strip() != name:
        raise ValueError(f"{name!r} is not an interface name (1-{IFNAMSIZ} chars, no '/' or spaces)")


def _kind(msg) -> str | None:
    info = msg.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info else None


def _addresses(ipr: IPRoute, index: int | None = None) -> list[IPv4Interface]:
    match = {} if index is None else {"index": index}
    msgs = ipr.addr("dump", family=socket.AF_INET, **match)
    # IFA_LOCAL is the host's own address; IFA_ADDRESS is the peer's on point-to-point links
    return [
        IPv4Interface(f"{m.get_attr('IFA_LOCAL') or m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}")
        for m in msgs
    ]


def _ifa(address: IPv4Interface) -> dict[str, object]:
    return {"address": str(address.ip), "prefixlen": address.network.prefixlen}


def _disable_ipv6(name: str) -> None:
    # The per-link sysctl exists only when the kernel runs IPv6; else there is nothing to disable.
    path = _SYSCTL_IPV6 / name / "disable_ipv6"
    if path.exists():
        path.write_text("1\n")
