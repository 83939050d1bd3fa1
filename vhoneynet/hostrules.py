"""The host's own containment layer for one honeynet, as an nftables ruleset."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from vhoneynet import naming
from vhoneynet.plan import Plan, admin_addresses
from vhoneynet.render import render
from vhoneynet.topology.model import Topology


@dataclass(frozen=True)
class HoneypotPort:
    """A honeypot's NIC on the host: its tap, and the only MAC and address it may send from."""

    name: str
    tap: str
    mac: str
    address: IPv4Address | str


def host_ruleset(hid: str, bridges: dict[str, str], admin_host: IPv4Address | str,
                 gateway_admin: IPv4Address | str, owned_roles: tuple[str, ...] = naming.BRIDGE_ROLES,
                 honeypots: tuple[HoneypotPort, ...] = ()) -> str:
    """Tables `inet vhn_<hid>` (no routing for the honeynet, admin bridge open to the gateway only,
    nothing sent by the host into the honeynet; a user's own internet bridge, not owned, is left
    alone) and `bridge vhn_<hid>` (anti-spoofing at each honeypot's tap)."""
    return render("host/firewall.nft.j2", hid=hid, bridges=bridges, roles=list(owned_roles),
                  link_prefix=naming.link_prefix(hid), admin_host=admin_host, gateway_admin=gateway_admin,
                  honeypots=honeypots)


def for_plan(topo: Topology, p: Plan) -> str:
    host, gateway = admin_addresses(topo)
    ports = tuple(HoneypotPort(g.name, g.nics[0].tap, g.nics[0].mac, g.address)
                  for g in p.honeypots if g.address is not None)
    return host_ruleset(topo.id, {b.role: b.name for b in p.bridges}, host.ip, gateway.ip,
                        tuple(b.role for b in p.bridges if b.owned), ports)
