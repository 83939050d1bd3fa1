"""The pcap slice of one alert: the packets of its flow around its time, cut from the day's pcap ring.

The gateway's tcpdump writes `<day>/pcap/<id>-<YYYYmmddTHHMMSS>.pcap` into its share (classic
pcap, rotated by time and size), so every file is read through guestfile and parsed here record
by record, bounded: a header that is not pcap, a record longer than any snapshot, or a file that
ends inside a record stops the reading of that file (what was read before stays). Only the
records inside the time window are kept; tcpdump then keeps the alert's flow with a BPF filter
built from validated addresses, ports and protocol only (the filter never holds captured text).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from vhoneynet.backend.process import run_bytes
from vhoneynet.capture import guestfile
from vhoneynet.errors import AlertNotFound, SliceEmpty
from vhoneynet.rundir import CaptureFolder

BEFORE = 60.0  # seconds of the flow kept before the alert
AFTER = 60.0  # and after it
MAX_SLICE = 256 << 20  # bytes of records handed to tcpdump; more are left out (the slice says so)
MAX_RECORD = 262144  # tcpdump's largest snapshot length
ALERT_TYPES = ("alert", "drop", "fast", "control")
_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
          b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
_STAMP = re.compile(r"-(\d{8}T\d{6})\.pcap$")
_PROTOS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class Flow:
    """What an alert says of its packets: when, between which addresses, protocol and ports."""

    time: datetime
    src: str | None
    dst: str | None
    proto: str | None = None
    sport: int | None = None
    dport: int | None = None

    def bpf(self) -> str:
        """A tcpdump filter for this flow, from validated fields only ('' keeps every packet)."""
        words = [f"host {a}" for a in (self.src, self.dst) if a]
        if self.proto in _PROTOS:
            words.append(self.proto)
        if self.proto in ("tcp", "udp"):
            words += [f"port {p}" for p in (self.sport, self.dport) if p is not None]
        return " and ".join(words)


def flow_of(event: dict) -> Flow:
    """The flow of a stored alert event (IDS alert, drop, fast line, or data-control alert, whose
    addresses are in its data). Raises AlertNotFound for an event that is no alert."""
    if event["type"] not in ALERT_TYPES:
        raise AlertNotFound(event["seq"], f"event {event['seq']} is a {event['type']} event, not an alert")
    data = event["data"] if isinstance(event["data"], dict) else {}
    if event["type"] == "control":
        src, dst = data.get("source") or event["src"], data.get("destination") or event["dst"]
        proto, sport, dport = data.get("protocol") or event["proto"], None, data.get("port")
    else:
        src, dst, proto, sport, dport = event["src"], event["dst"], event["proto"], event["sport"], event["dport"]
    when = datetime.fromisoformat(event["time"])
    proto = str(proto).lower() if proto else None
    return Flow(when, _address(src), _address(dst), proto if proto in _PROTOS else None, _port(sport), _port(dport))


def _address(value: object) -> str | None:
    try:
        return str(ip_address(str(value))) if value else None
    except ValueError:
        return None


def _port(value: object) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535 else None


def cut(root: Path, flow: Flow, output: Path, before: float = BEFORE, after: float = AFTER) -> dict:
    """Write `output`: the packets of `flow` from `before` seconds before its time to `after`
    seconds after, from the honeynet's pcap files (capture folder `root`). Returns what was cut:
    {"output", "packets_read", "filter", "files", "skipped", "truncated"}. Raises SliceEmpty when no
    pcap covers the window, ToolMissing or CommandFailed (tcpdump)."""
    start, end = flow.time - timedelta(seconds=before), flow.time + timedelta(seconds=after)
    skipped: list[str] = []
    files = _files_for(CaptureFolder(root).share, start, end)
    header, records, truncated = None, [], False
    size = 0
    for day, name in files:
        for linktype, record in _records(CaptureFolder(root).share, day, name, start.timestamp(), end.timestamp(), skipped):
            if header is None:
                header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, MAX_RECORD, linktype)
            elif struct.unpack_from("<I", header, 20)[0] != linktype:
                skipped.append(f"{day}/pcap/{name}: another link type")
                break
            if size + len(record) > MAX_SLICE:
                truncated = True
                break
            records.append(record)
            size += len(record)
    if header is None:
        raise SliceEmpty(f"no captured packet between {start:%Y-%m-%dT%H:%M:%S}Z and {end:%Y-%m-%dT%H:%M:%S}Z")
    bpf = flow.bpf()
    run_bytes(["tcpdump", "-r", "-", "-w", str(output), *([bpf] if bpf else [])],
              stdin=header + b"".join(records), timeout=300)
    return {"output": str(output), "packets_read": len(records), "filter": bpf,
            "files": [f"{d}/pcap/{n}" for d, n in files], "skipped": skipped, "truncated": truncated,
            "start": start.isoformat(), "end": end.isoformat()}


def _files_for(share: Path, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(day, name) of the pcap files that may hold packets between start and end: by the start
    time in their names, the last one begun before `start` and every one begun up to `end`; a
    file whose name has no time is always read."""
    found = []
    for day in sorted({start.date().isoformat(), end.date().isoformat()}):
        for name in guestfile.list_files(share, day, "pcap"):  # regular files only: never a link
            stamp = _STAMP.search(name)
            began = datetime.strptime(stamp[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC) if stamp else None
            if name.endswith(".pcap") or stamp:
                found.append((began, day, name))
    timed = sorted((f for f in found if f[0] is not None), key=lambda f: f[0])
    before = [f for f in timed if f[0] <= start][-1:]
    keep = before + [f for f in timed if start < f[0] <= end] + [f for f in found if f[0] is None]
    return [(day, name) for _, day, name in keep]


def _records(share: Path, day: str, name: str, start: float, end: float, skipped: list[str]) -> Iterator[tuple[int, bytes]]:
    """(link type, record in little-endian microsecond form) of each record of one pcap file whose
    time is within [start, end]; reading stops a few seconds past `end` (records are in time order)."""
    try:
        with guestfile.open_file(share, day, "pcap", name) as f:
            head = f.read_at(0, 24)
            if len(head) < 24 or head[:4] not in _MAGIC:
                skipped.append(f"{day}/pcap/{name}: not a pcap file")
                return
            order, unit = _MAGIC[head[:4]]
            linktype = struct.unpack_from(order + "I", head, 20)[0] & 0x0FFFFFFF
            offset = 24
            while offset + 16 <= f.size:
                seconds, fraction, caplen, length = struct.unpack(order + "IIII", f.read_at(offset, 16))
                if caplen > MAX_RECORD or offset + 16 + caplen > f.size:
                    skipped.append(f"{day}/pcap/{name}: a damaged record at byte {offset}")
                    return
                moment = seconds + fraction * unit
                if moment > end + 5:
                    return
                if moment >= start:
                    micro = fraction if unit == 1e-6 else fraction // 1000
                    yield linktype, struct.pack("<IIII", seconds, micro, caplen, length) + f.read_at(offset + 16, caplen)
                offset += 16 + caplen
    except OSError as e:  # GuestPathRefused included
        skipped.append(f"{day}/pcap/{name}: {e}")
