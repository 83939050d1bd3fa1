"""A capture folder as a honeynet leaves it, for the report's tests: one day of IDS, firewall,
syslog, audit (an ssh login session with hostile typing), data-control alerts and a pcap.

The audit lines come from the honeypots' own forwarder (cloudinit/audit.py.j2's `lines`, in the
line form the gateway's rsyslog writes: loghost.conf.j2's template); the IDS and firewall lines
are the ones tests/unit/test_capture.py holds as the gateway's Suricata and kernel write them;
the alert lines have the fields alerts.sh.j2 prints.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

from tests.unit.test_capture import (
    EVE_ALERT,
    EVE_DNS,
    EVE_FLOW,
    EVE_HTTP,
    FAST,
    FIREWALL,
    FIREWALL_IN,
    FIREWALL_LIMIT,
)
from vhoneynet.render import render
from vhoneynet.rundir import CaptureFolder
from vhoneynet.topology.model import Topology

HID = "vhnt1"
DAY = "2026-11-29"
WEB, ATTACKER = "203.0.113.80", "203.0.113.66"
HOSTILE = "</script><script>alert(1)</script><!--"
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b31m"
# what the intruder typed at the shell prompt (one TTY record at exit) and into cat (one a line)
SHELL_TYPED = f"uname -a\recho {HOSTILE}\rcat\rexit\r".encode() + ESCAPES.encode("latin-1")
CAT_TYPED = f"hello {HOSTILE}\r".encode()
SIGNATURE_HOSTILE = "VHN <b>bold</b> exploit"


def forwarder_lines(kind: int, record: str) -> list[str]:
    """The syslog message(s) the honeypots' audit forwarder sends for one kernel audit record."""
    scope = {"__name__": "vhn_audit"}
    exec(compile(render("cloudinit/audit.py.j2", loghost="127.0.0.1", port=601), "vhn-audit", "exec"), scope)  # noqa: S102 - our own template
    return scope["lines"](kind, record)


def log_sink_line(at: str, message: str, host: str = "web", address: str = WEB) -> str:
    """One line of audit/<honeypot>.log, in the form of the log sink's template (loghost.conf.j2)."""
    return f"{DAY}T{at}.000000+00:00 {address} {host} vhn-audit: {message}"


def audit_lines() -> list[str]:
    """The session's records as the gateway's log sink writes them into audit/web.log."""
    records = [  # (time received, kind, record text) of one ssh login: audit session 2 on pts0
        ("02:11:00", 1300, ('audit(1795918260.100:60): arch=c000003e syscall=59 success=yes exit=0 ppid=800 pid=812 '
                            'auid=0 uid=0 gid=0 tty=pts0 ses=2 comm="uname" exe="/usr/bin/uname" key=(null)')),
        ("02:11:00", 1309, 'audit(1795918260.100:60): argc=2 a0="uname" a1="-a"'),
        ("02:11:04", 1300, ('audit(1795918264.000:61): arch=c000003e syscall=59 success=yes exit=0 ppid=800 pid=813 '
                            'auid=0 uid=0 gid=0 tty=pts0 ses=2 comm="cat" exe="/usr/bin/cat" key=(null)')),
        ("02:11:04", 1309, f'audit(1795918264.000:61): argc=2 a0="cat" a1={b"<img src=x onerror=alert(3)>".hex().upper()}'),
        ("02:11:07", 1319, (f'audit(1795918267.000:62): tty pid=813 uid=0 auid=0 ses=2 major=136 minor=0 comm="cat" '
                            f'data={CAT_TYPED.hex().upper()}')),
        ("02:11:12", 1319, (f'audit(1795918272.000:63): tty pid=800 uid=0 auid=0 ses=2 major=136 minor=0 comm="bash" '
                            f'data={SHELL_TYPED.hex().upper()}')),
    ]
    return [log_sink_line(at, line) for at, kind, record in records for line in forwarder_lines(kind, record)]


def control_alert(kind: str, at: str, proto: str, port: str, limit: str) -> str:
    """One line of alerts.jsonl, with the fields alerts.sh.j2 prints."""
    return json.dumps({"time": f"{DAY}T{at}Z", "honeynet": HID, "kind": kind, "honeypot": "web", "source": WEB,
                       "destination": ATTACKER, "protocol": proto, "port": port, "limit": limit}, separators=(",", ":"))


def tcp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> bytes:
    """An Ethernet frame of one IPv4 TCP segment (checksums left zero: tcpdump filters, not verifies)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x18, 64240, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                     ip_address(src).packed, ip_address(dst).packed)
    return b"\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01\x08\x00" + ip + tcp


def pcap(frames: list[tuple[float, bytes]]) -> bytes:
    """A classic pcap file (as tcpdump -w writes it on this little-endian host), link type Ethernet."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    for moment, frame in frames:
        out += struct.pack("<IIII", int(moment), round(moment % 1 * 1e6), len(frame), len(frame)) + frame
    return out


def at(clock: str) -> float:
    return datetime.fromisoformat(f"{DAY}T{clock}+00:00").astimezone(UTC).timestamp()


ALERT_FRAMES = [  # the alert's flow (203.0.113.80:40000 -> .66:80) and another flow, around 02:10:11
    (at("02:08:00"), tcp_frame(WEB, ATTACKER, 40000, 80, b"too early")),
    (at("02:10:10"), tcp_frame(WEB, ATTACKER, 40000, 80, b"GET /EXPLOIT-TEST HTTP/1.0\r\n")),
    (at("02:10:11"), tcp_frame(ATTACKER, WEB, 80, 40000, b"HTTP/1.0 200 OK\r\n")),
    (at("02:10:12"), tcp_frame(WEB, ATTACKER, 40001, 22, b"another flow")),
    (at("02:13:00"), tcp_frame(WEB, ATTACKER, 40000, 80, b"too late")),
]


def make_capture(storage: Path, topology: Topology | None = None) -> CaptureFolder:
    """The capture folder of honeynet HID under `<storage>/captures`, one day filled."""
    folder = CaptureFolder(storage / "captures" / HID)
    day = folder.share / DAY
    for sub in ("ids", "firewall", "syslog", "audit", "pcap"):
        (day / sub).mkdir(parents=True)
    hostile_alert = json.loads(EVE_ALERT)
    hostile_alert["alert"]["signature"] = SIGNATURE_HOSTILE
    hostile_alert["timestamp"] = "2026-11-29T02:12:00.000000+0000"
    (day / "ids" / "eve-outbound.json").write_text(f"{EVE_ALERT}\n{json.dumps(hostile_alert)}\n{EVE_FLOW}\n")
    (day / "ids" / "eve-inbound.json").write_text(f"{EVE_DNS}\n{EVE_HTTP}\n")
    (day / "ids" / "fast-outbound.log").write_text(FAST + "\n")
    # the rules' log prefixes as limits.nft.j2 and ruleset.nft.j2 write them
    outbound = FIREWALL.replace(" outbound ", " outbound tcp ")
    limited = FIREWALL_LIMIT.replace(" limit tcp ", " limited tcp ")
    exempt = FIREWALL.replace(" outbound ", " allowed ").replace("DST=203.0.113.66", "DST=203.0.113.53")
    (day / "firewall" / "firewall.log").write_text(f"{outbound}\n{outbound}\n{limited}\n{FIREWALL_IN}\n{exempt}\n")
    (day / "syslog" / "web.log").write_text(f"{DAY}T02:11:01.500000+00:00 {WEB} web sshd[812]: Accepted publickey for root\n")
    (day / "audit" / "web.log").write_text("".join(line + "\n" for line in audit_lines()))
    (day / "alerts.jsonl").write_text(control_alert("compromise", "02:10:11", "tcp", "80", "20/hour") + "\n"
                                      + control_alert("limit-reached", "02:10:12", "tcp", "80", "20/hour") + "\n")
    (day / "pcap" / f"{HID}-20261129T020000.pcap").write_bytes(pcap(ALERT_FRAMES))
    folder.consoles.mkdir()
    (folder.consoles / "web.log").write_text("console\n")
    return folder
