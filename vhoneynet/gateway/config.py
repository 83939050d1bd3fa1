"""What the gateway VM is told at boot: a start script and the data-control ruleset.

Both land on a small read-only disk (label VHNGW) that the honeywall image's one generic
unit mounts and runs, so the image stays the same for every honeynet.
"""

from __future__ import annotations

from dataclasses import dataclass

from vhoneynet import naming
from vhoneynet.gateway import capture
from vhoneynet.plan import Plan, admin_addresses
from vhoneynet.render import render
from vhoneynet.topology.model import Topology

CONFIG_LABEL = "VHNGW"
CAPTURE_TAG = "capture"
READY_MARK = "vhn-gateway: ready"
FAILED_MARK = "vhn-gateway: failed"
STOP_COMMAND = ["/bin/sh", "/run/vhn/config/stop.sh"]

_WINDOW_UNIT = {"second": "s", "minute": "m", "hour": "h", "day": "d"}
_PROTOCOL_MATCH = {
    "tcp": "ip protocol tcp ",
    "udp": "ip protocol udp ",
    "icmp": "ip protocol icmp ",
    "other": "ip protocol != { tcp, udp, icmp } ",
}


@dataclass(frozen=True)
class ProtocolLimit:
    name: str
    match: str
    count: int


def ruleset(topo: Topology) -> str:
    """The gateway's nftables ruleset (bridge family) for this honeynet."""
    limits = topo.gateway.data_control.limits
    return render(
        "gateway/ruleset.nft.j2",
        hid=topo.id,
        honeypots=[{"mac": naming.mac(topo.id, h.name), "address": h.address} for h in topo.honeypots],
        limits=[ProtocolLimit(p, _PROTOCOL_MATCH[p], getattr(limits, p)) for p in _PROTOCOL_MATCH],
        window=limits.window,
        window_unit=_WINDOW_UNIT[limits.window],
    )


def start_script(topo: Topology, plan: Plan) -> str:
    """The shell script the gateway runs at boot (bridge, ruleset, capture)."""
    _, gateway_admin = admin_addresses(topo)
    return render(
        "gateway/start.sh.j2",
        hid=topo.id,
        nics={nic.role if nic.role != "adm" else "mgmt": nic.mac for nic in plan.gateway.nics},
        admin_address=gateway_admin,
        capture={"pcap": topo.gateway.capture.pcap, "rotate_seconds": 3600,
                 "rotate_mb": topo.gateway.capture.rotate_mb},
    )


def config_files(topo: Topology, plan: Plan) -> dict[str, str]:
    """Files of the gateway's config disk, by name."""
    return {
        "start.sh": start_script(topo, plan),
        "stop.sh": render("gateway/stop.sh.j2", hid=topo.id),
        "ruleset.nft": ruleset(topo),
        **capture.config_files(topo),
    }
