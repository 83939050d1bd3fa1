"""The host's own containment layer for one honeynet, as an nftables ruleset."""

from __future__ import annotations

from ipaddress import IPv4Address

from vhoneynet import naming
from vhoneynet.plan import Plan, admin_addresses
from vhoneynet.render import render
from vhoneynet.topology.model import Topology


def host_ruleset(hid: str, bridges: dict[str, str], admin_host: IPv4Address | str,
                 gateway_admin: IPv4Address | str, owned_roles: tuple[str, ...] = naming.BRIDGE_ROLES) -> str:
    """Table `inet vhn_<hid>`: no routing for the honeynet, admin bridge open to the gateway only,
    nothing sent by the host into the honeynet. A user's own internet bridge (not owned) is left alone."""
    return render("host/firewall.nft.j2", hid=hid, bridges=bridges, roles=list(owned_roles),
                  link_prefix=naming.link_prefix(hid), admin_host=admin_host, gateway_admin=gateway_admin)


def for_plan(topo: Topology, p: Plan) -> str:
    host, gateway = admin_addresses(topo)
    return host_ruleset(topo.id, {b.role: b.name for b in p.bridges}, host.ip, gateway.ip,
                        tuple(b.role for b in p.bridges if b.owned))
