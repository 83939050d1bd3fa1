"""The gateway's data capture besides the pcap: the honeypots' log sink, the firewall log, retention.

Rendered onto the gateway's config disk next to data control's files and run by start.sh
(capture.sh), with its own nftables tables so the two rulesets never edit each other.
"""

from __future__ import annotations

from vhoneynet.render import render
from vhoneynet.topology.model import Topology

SINK_PORT = "vlog"  # the log sink's veth on br0


def _context(topo: Topology) -> dict:
    net = topo.networks.honeynet
    return {
        "hid": topo.id,
        "loghost": net.log_sink,
        "prefixlen": net.cidr.prefixlen,
        "sink_port": SINK_PORT,
        "retention_days": topo.gateway.capture.retention_days,
        "honeypots": [{"name": h.name, "address": h.address} for h in topo.honeypots],
    }


def config_files(topo: Topology) -> dict[str, str]:
    """capture.sh, capture.nft and loghost.conf (rsyslog of the log sink), by file name."""
    ctx = _context(topo)
    return {
        "capture.sh": render("gateway/capture.sh.j2", **ctx),
        "capture.nft": render("gateway/capture.nft.j2", **ctx),
        "loghost.conf": render("gateway/loghost.conf.j2", **ctx),
    }
