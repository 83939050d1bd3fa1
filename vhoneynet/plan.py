"""Topology -> the ordered list of resources `up` creates. Pure: no host is touched here.

`vhoneynet plan` prints exactly this list, and `up` executes it step by step, so what a
user reviews is what runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Interface

from vhoneynet import hardware, naming
from vhoneynet.errors import VerifyUnavailable
from vhoneynet.topology.model import Topology

# The veth indexes (naming.veth) held back for temporary hosts, above every outside host's.
# They may run at the same time (`verify` during a `reset`'s probes), so each has its own.
SERVICE_PROBE_VETH = naming.MAX_OUTSIDE  # up/reset: the service prober, when no outside host exists
VERIFY_SINK_VETH = naming.MAX_OUTSIDE + 1  # verify: the sink on the internet side
VERIFY_PROBE_VETH = naming.MAX_OUTSIDE + 2  # verify: the probe playing a compromised honeypot


@dataclass(frozen=True)
class Nic:
    role: str  # ext | int | adm
    bridge: str
    mac: str
    tap: str


@dataclass(frozen=True)
class Guest:
    """One libvirt domain: the gateway or a honeypot."""

    name: str  # as in the topology
    domain: str  # libvirt name
    role: str  # gateway | honeypot
    image: str
    memory: int
    vcpus: int
    agent: bool
    nics: tuple[Nic, ...]
    address: IPv4Address | None = None


@dataclass(frozen=True)
class Bridge:
    role: str
    name: str
    address: IPv4Interface | None = None  # only the admin bridge has a host address
    owned: bool = True  # False for a user's existing bridge: used, never created or removed


@dataclass(frozen=True)
class OutsideHost:
    name: str
    netns: str
    veth: str
    address: IPv4Interface
    mac: str


@dataclass(frozen=True)
class Plan:
    hid: str
    images: tuple[str, ...]
    bridges: tuple[Bridge, ...]
    outside: tuple[OutsideHost, ...]
    guests: tuple[Guest, ...]
    pool: str
    firewall_table: str
    notes: tuple[str, ...] = field(default=())

    @property
    def gateway(self) -> Guest:
        return next(g for g in self.guests if g.role == "gateway")

    @property
    def honeypots(self) -> tuple[Guest, ...]:
        return tuple(g for g in self.guests if g.role == "honeypot")

    def bridge(self, role: str) -> Bridge:
        return next(b for b in self.bridges if b.role == role)

    def actions(self) -> tuple[Action, ...]:
        """What `up` does, in order: the actions it executes (lifecycle.up) and `plan` shows."""
        ext = self.bridge("ext").name
        return (*(BuildImage(name) for name in self.images),
                *(MakeBridge(b) for b in self.bridges),
                ApplyHostRules(self.firewall_table),
                *(AddOutsideHost(o, ext) for o in self.outside),
                MakePool(self.pool),
                *(StartGuest(g) for g in self.guests),
                WaitReady())

    def steps(self) -> list[dict]:
        """The actions as human-readable steps (what `plan` shows)."""
        return [a.describe() for a in self.actions()]

    def to_dict(self) -> dict:
        return {"id": self.hid, "steps": self.steps(), "guests": [asdict(g) for g in self.guests]}


@dataclass(frozen=True)
class BuildImage:
    """Build a recipe's image unless its build is cached (its domains name the build's files)."""

    name: str

    def describe(self) -> dict:
        return {"step": "image", "name": self.name}


@dataclass(frozen=True)
class MakeBridge:
    """Create one of the honeynet's bridges (a user's existing bridge is used, never made)."""

    bridge: Bridge

    def describe(self) -> dict:
        b = self.bridge
        return {"step": "bridge", "name": b.name, "role": b.role, "address": _str(b.address)}


@dataclass(frozen=True)
class ApplyHostRules:
    """Load the host's nftables table for the honeynet (rendered: artifacts.py)."""

    table: str

    def describe(self) -> dict:
        return {"step": "host-firewall", "name": f"inet {self.table}"}


@dataclass(frozen=True)
class AddOutsideHost:
    """Create an outside host: a network namespace on the internet-side bridge."""

    host: OutsideHost
    bridge: str

    def describe(self) -> dict:
        o = self.host
        return {"step": "outside-host", "name": o.name, "netns": o.netns, "address": str(o.address)}


@dataclass(frozen=True)
class MakePool:
    """Define the libvirt storage pool of the honeynet's disks."""

    name: str

    def describe(self) -> dict:
        return {"step": "storage-pool", "name": self.name}


@dataclass(frozen=True)
class StartGuest:
    """Write a guest's overlay and configuration medium and start its domain (booted, or restored
    from a kept warm state); the guests start side by side, those that boot a few per host core
    at a time (pacing.py)."""

    guest: Guest

    def describe(self) -> dict:
        g = self.guest
        return {"step": "guest", "name": g.domain, "role": g.role, "image": g.image, "memory_mib": g.memory,
                "address": _str(g.address), "nics": [f"{n.role}:{n.bridge}" for n in g.nics]}


@dataclass(frozen=True)
class WaitReady:
    """Wait until every guest is ready and every honeypot's services answer from outside."""

    def describe(self) -> dict:
        return {"step": "wait", "name": "every guest ready"}


Action = BuildImage | MakeBridge | ApplyHostRules | AddOutsideHost | MakePool | StartGuest | WaitReady


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def plan(topo: Topology) -> Plan:
    """The resources of one honeynet, named from its id alone."""
    hid = topo.id
    nets = topo.networks
    host_admin, _ = admin_addresses(topo)
    ext = (
        Bridge("ext", nets.internet.bridge, owned=False)
        if nets.internet.mode == "bridge" and nets.internet.bridge
        else Bridge("ext", naming.bridge(hid, "ext"))
    )
    bridges = (ext, Bridge("int", naming.bridge(hid, "int")), Bridge("adm", naming.bridge(hid, "adm"), host_admin))
    by_role = {b.role: b.name for b in bridges}
    taps = iter(range(100))

    def nic(guest: str, role: str, index: int = 0, mac: str | None = None) -> Nic:
        return Nic(role, by_role[role], mac or naming.mac(hid, guest, index), naming.tap(hid, next(taps)))

    gw = topo.gateway
    gateway = Guest(
        name=naming.GATEWAY, domain=naming.domain(hid, naming.GATEWAY), role="gateway", image=gw.image,
        memory=gw.memory, vcpus=gw.vcpus, agent=True,
        nics=tuple(nic(naming.GATEWAY, role, i) for i, role in enumerate(("ext", "int", "adm"))),
    )
    honeypots = tuple(
        Guest(name=h.name, domain=naming.domain(hid, h.name), role="honeypot", image=h.image,
              memory=h.memory, vcpus=h.vcpus, agent=h.agent, nics=(nic(h.name, "int", mac=hardware.mac(hid, h.name, h.hardware)),), address=h.address)
        for h in topo.honeypots
    )
    outside = tuple(
        OutsideHost(o.name, naming.netns(hid, o.name), naming.veth(hid, i),
                    IPv4Interface(f"{o.address}/{nets.honeynet.cidr.prefixlen}"), naming.mac(hid, o.name))
        for i, o in enumerate(topo.outside)
    )
    images = tuple(dict.fromkeys([gw.image, *(h.image for h in topo.honeypots)]))
    return Plan(hid, images, bridges, outside, (gateway, *honeypots), naming.pool(hid), naming.nft_table(hid))


def free_addresses(topo: Topology) -> list[IPv4Address]:
    """Honeynet addresses nobody uses (honeypots, outside hosts, router, resolver, log host),
    highest first: where temporary hosts (`verify`'s probe and sink, `up`'s service prober) sit."""
    net = topo.networks.honeynet
    used = {h.address for h in topo.honeypots} | {o.address for o in topo.outside}
    used |= {a for a in (net.router, net.resolver, net.log_sink) if a is not None}
    return [a for a in reversed(list(net.cidr.hosts())) if a not in used]


def verify_addresses(topo: Topology) -> tuple[IPv4Address, IPv4Address, IPv4Address]:
    """(probe, sink, spoofed): the three highest free addresses of the honeynet subnet."""
    free = free_addresses(topo)
    if len(free) < 3:
        raise VerifyUnavailable(topo.id, f"no three free addresses left in {topo.networks.honeynet.cidr}")
    return free[0], free[1], free[2]


def service_probe_address(topo: Topology) -> IPv4Interface | None:
    """The highest free honeynet address, where `up`'s temporary service prober sits; None if none is free."""
    free = free_addresses(topo)
    return IPv4Interface(f"{free[0]}/{topo.networks.honeynet.cidr.prefixlen}") if free else None


def fence_target(topo: Topology) -> IPv4Address | None:
    """The address verify sends to in the first fenced network (its first host), if any."""
    fence = topo.gateway.data_control.fence
    if not fence:
        return None
    return fence[0].network_address if fence[0].prefixlen == 32 else next(fence[0].hosts())


def admin_addresses(topo: Topology) -> tuple[IPv4Interface, IPv4Interface]:
    """(host, gateway) addresses on the admin network."""
    cidr = topo.networks.admin.cidr
    host, gateway = list(cidr.hosts())[:2]
    return IPv4Interface(f"{host}/{cidr.prefixlen}"), IPv4Interface(f"{gateway}/{cidr.prefixlen}")
