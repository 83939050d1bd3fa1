"""The gateway's data capture besides the pcap: the honeypots' log sink (syslog, and the audit
channel of keystrokes and commands), the firewall log, retention, the quota watcher.

The log sink is taken off the wire at layer 2, as Sebek did: honeypots send their syslog and
audit records as UDP datagrams to the log host's address and MAC (a permanent neighbour
entry, so they never ask for it), and the gateway's ingress hook on its honeynet NIC moves those
frames to the sink before the bridge sees them. The sink is on no bridge, has ARP off and
never sends: nothing on the honeynet answers at the log host's address, and nothing leaves
towards the internet side (docs/stealth.md).

Rendered onto the gateway's config disk next to data control's files and run by start.sh
(capture.sh), with its own nftables tables so the two rulesets never edit each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from vhoneynet import hardware
from vhoneynet.render import render
from vhoneynet.topology.model import Capture, Topology

SINK_PORT = "vlog"  # the log sink's veth in the gateway (on no bridge)
SINK_NETNS = "log"  # the log sink's network namespace in the gateway
SINK_NAME = "log-host"  # whose MAC the log sink's is (hardware.mac: a vendor's, stable per honeynet)
# The log sink's port for the honeypots' audit forwarders (cloudinit/audit.py): only a
# datagram from a source port below 1024 reaches it, which an unprivileged user cannot bind.
AUDIT_PORT = 601
QUOTA_CHECK_SECONDS = 10
# How the capture quota is split between the gateway's writers; whatever else it writes (IDS,
# firewall log, alerts) has the rest, and the quota watcher stops everything at the quota.
PCAP_PART = 0.5  # of the quota: the most one hour's pcap ring may hold
SYSLOG_PART = 0.25  # of the quota: shared by the honeypots' syslog and audit files of one day
MIN_FILE_BYTES = 64 << 10
TCPDUMP_MB = 1_000_000  # tcpdump's -C counts millions of bytes


@dataclass(frozen=True)
class Budget:
    """What the gateway's writers get of a quota."""

    quota: int  # bytes
    pcap_file_mb: int  # tcpdump -C
    pcap_files: int  # tcpdump -W: files in one hour's ring
    log_file: int  # bytes a honeypot's syslog (and its audit) file may reach in one day

    @property
    def quota_kib(self) -> int:
        return self.quota // 1024


def budget(capture: Capture, honeypots: int) -> Budget:
    """Split `capture.quota` between the pcap ring and the honeypots' log files."""
    quota = capture.quota_bytes
    pcap = int(quota * PCAP_PART)
    file_mb = max(1, min(capture.rotate_mb, pcap // 4 // TCPDUMP_MB))
    files = max(2, pcap // (file_mb * TCPDUMP_MB))
    log_file = max(MIN_FILE_BYTES, int(quota * SYSLOG_PART) // (2 * max(1, honeypots)))
    return Budget(quota, file_mb, files, log_file)


def sink_mac(topo: Topology) -> str:
    """The log host's MAC, as the honeypots' neighbour entry names it and the sink wears it."""
    return hardware.mac(topo.id, SINK_NAME)


def _context(topo: Topology) -> dict:
    net = topo.networks.honeynet
    shares = budget(topo.gateway.capture, len(topo.honeypots))
    return {
        "hid": topo.id,
        "loghost": net.log_sink,
        "sink_mac": sink_mac(topo),
        "prefixlen": net.cidr.prefixlen,
        "sink_port": SINK_PORT,
        "sink_netns": SINK_NETNS,
        "retention_days": topo.gateway.capture.retention_days,
        "honeypots": [{"name": h.name, "address": h.address} for h in topo.honeypots],
        "audit_port": AUDIT_PORT,
        "cidr": net.cidr,
        "pcap": topo.gateway.capture.pcap,
        "quota": topo.gateway.capture.quota,
        "quota_kib": shares.quota_kib,
        "quota_check_seconds": QUOTA_CHECK_SECONDS,
        "log_file_bytes": shares.log_file,
    }


def config_files(topo: Topology) -> dict[str, str]:
    """capture.sh, capture.nft and loghost.conf (rsyslog of the log sink), by file name."""
    ctx = _context(topo)
    return {
        "capture.sh": render("gateway/capture.sh.j2", **ctx),
        "capture.nft": render("gateway/capture.nft.j2", **ctx),
        "loghost.conf": render("gateway/loghost.conf.j2", **ctx),
    }
