"""What the gateway VM is told at boot: a start script and the data-control ruleset.

Both land on a small read-only disk (label VHNGW) that the honeywall image's one generic
unit mounts and runs, so the image stays the same for every honeynet.
"""

from __future__ import annotations

from dataclasses import dataclass

from vhoneynet import hardware
from vhoneynet.errors import VerifyUnavailable
from vhoneynet.gateway.config import capture, ips, reject
from vhoneynet.gateway.config.capture import budget
from vhoneynet.plan import Plan, admin_addresses, verify_addresses
from vhoneynet.render import render
from vhoneynet.topology.model import Limits, Topology, rate_bytes, size_bytes

CONFIG_LABEL = "VHNGW"
CONFIG_DISK = "gateway-config.img"  # in the honeynet's pool directory
CAPTURE_TAG = "capture"
READY_MARK = "vhn-gateway: ready"
# said when everything but capture runs: the gateway waits there for its capture share (start.sh)
PARKED_MARK = "vhn-gateway: waiting for the capture share"
FAILED_MARK = "vhn-gateway: failed"
STOP_COMMAND = ["/bin/sh", "/run/vhn/config/stop.sh"]
CONFIG_DISK_KIB = 2048  # the smallest config disk; larger when the topology brings rule files

_WINDOW_UNIT = {"second": "s", "minute": "m", "hour": "h", "day": "d"}
_WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_PROTOCOL_MATCH = {
    "tcp": "ip protocol tcp ",
    "udp": "ip protocol udp ",
    "icmp": "ip protocol icmp ",
    "other": "",
}


MAX_ECHO_BYTES = 1500  # an echo request larger than one Ethernet frame (after reassembly) is a ping of death


@dataclass(frozen=True)
class ProtocolLimit:
    name: str
    match: str
    count: int


def protocol_limits(limits: Limits) -> list[ProtocolLimit]:
    """The per-protocol limits, in the order the ruleset tests them."""
    return [ProtocolLimit(p, _PROTOCOL_MATCH[p], getattr(limits, p)) for p in _PROTOCOL_MATCH]


def limits_context(topo: Topology, limits: Limits | None = None) -> dict:
    """What templates/gateway/limits.nft.j2 needs (also used for live changes)."""
    limits = limits or topo.gateway.data_control.limits
    return {"hid": topo.id, "limits": protocol_limits(limits), "window": limits.window,
            "window_unit": _WINDOW_UNIT[limits.window]}


def ruleset(topo: Topology) -> str:
    """The gateway's nftables ruleset (bridge family) for this honeynet."""
    dc = topo.gateway.data_control
    throttle = dc.throttle
    return render(
        "gateway/ruleset.nft.j2",
        honeypots=[{"name": h.name.replace("-", "_"), "mac": hardware.mac(topo.id, h.name, h.hardware), "address": h.address}
                   for h in topo.honeypots],
        cidr=topo.networks.honeynet.cidr,
        broadcast=topo.networks.honeynet.cidr.broadcast_address,
        fence=[str(n) for n in dc.fence],
        allow=[str(n) for n in dc.allow],
        throttle={"rate": rate_bytes(throttle.rate), "burst": size_bytes(throttle.burst)} if throttle.enabled else None,
        roach_motel=dc.mode == "roach-motel",
        lockdown=dc.lockdown,
        icmp_block=dc.icmp == "block",
        max_echo=MAX_ECHO_BYTES,
        ips=dc.ips.enabled,
        reject_mark=f"{reject.REJECT_MARK:#010x}",
        reject_mask=f"{reject.REJECT_MASK:#010x}",
        **limits_context(topo),
    )


def start_script(topo: Topology, plan: Plan) -> str:
    """The shell script the gateway runs at boot (bridge, ruleset, capture)."""
    _, gateway_admin = admin_addresses(topo)
    pcap_ring = budget(topo.gateway.capture, len(topo.honeypots))
    return render(
        "gateway/start.sh.j2",
        hid=topo.id,
        parked_mark=PARKED_MARK.removeprefix("vhn-gateway: "),
        nics={nic.role if nic.role != "adm" else "mgmt": nic.mac for nic in plan.gateway.nics},
        admin_address=gateway_admin,
        capture={"pcap": topo.gateway.capture.pcap, "rotate_seconds": 3600,
                 "rotate_mb": pcap_ring.pcap_file_mb, "pcap_files": pcap_ring.pcap_files},
        ips=topo.gateway.data_control.ips.enabled,
    )


def alert_script(topo: Topology) -> str:
    """The gateway's alert loop: firewall log lines -> /capture/<day>/alerts.jsonl."""
    ctx = limits_context(topo)
    try:
        probe = verify_addresses(topo)[0]
    except VerifyUnavailable:
        probe = None
    return render(
        "gateway/alerts.sh.j2",
        probe=probe,
        honeypots=[{"name": h.name, "address": h.address} for h in topo.honeypots],
        window_seconds=_WINDOW_SECONDS[ctx["window"]],
        **ctx,
    )


def config_files(topo: Topology, plan: Plan) -> dict[str, str]:
    """Files of the gateway's config disk, by name."""
    return {
        "start.sh": start_script(topo, plan),
        "stop.sh": render("gateway/stop.sh.j2", hid=topo.id),
        "ruleset.nft": ruleset(topo),
        **capture.config_files(topo),
        "alerts.sh": alert_script(topo),
        **ips.config_files(topo),
    }


def config_disk_kib(files: dict[str, str]) -> int:
    """KiB of the gateway's config disk for these files: their size, FAT's overhead, room to spare."""
    size = sum(len(text.encode()) for text in files.values())
    return max(CONFIG_DISK_KIB, size * 5 // 4 // 1024 + 1024)
