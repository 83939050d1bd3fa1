"""Parsers from the captured log lines to events: Suricata EVE and fast, firewall, syslog, keystrokes.

Each parser takes one complete line and returns an Event (or None for lines that are not
events, like Suricata's stats). The key is given by the caller: where the line was read
(file and offset), so re-reading a file never makes a second event of the same line.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

EVE_TYPES = ("alert", "flow", "dns", "http", "tls", "drop", "anomaly", "fileinfo", "ssh", "smtp")
TYPES = (*EVE_TYPES, "fast", "firewall", "syslog", "command", "keystrokes", "control", "unparsed")

# Firewall log prefixes ("vhn <id> <rule> ") and the verdict each one stands for.
VERDICTS = {
    "outbound": "allowed", "inbound": "inbound", "limit": "limited", "spoofed": "spoofed",
    "fence": "fenced", "fenced": "fenced", "lockdown": "blocked", "roach": "blocked",
    "icmp": "blocked", "throttle": "throttled", "count": "counted", "allow": "allowed",
}
AUDIT_TTY = 1319  # the kernel's record of what a process read from its terminal (pam_tty_audit turns it on)
AUDIT_USER_TTY = 1124  # the same, sent by a program itself
AUDIT_EXECVE = 1309  # arguments of a program started (execve audit rule)


@dataclass(frozen=True)
class Event:
    """One record of the event store; `key` is unique within a honeynet."""

    key: str
    time: str
    type: str
    summary: str
    src: str | None = None
    sport: int | None = None
    dst: str | None = None
    dport: int | None = None
    proto: str | None = None
    honeypot: str | None = None
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds: every stored time has this form, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> str:
    """Any of the captured logs' time stamps, as `iso` (Suricata's +0000, dmesg's ',' and +00:00)."""
    text = text.strip().replace(",", ".")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    return iso(datetime.fromisoformat(text))


def eve(line: str, key: str) -> Event | None:
    """One Suricata EVE JSON line; None for types that are not events (stats)."""
    rec = json.loads(line)
    kind = rec.get("event_type", "")
    if kind not in EVE_TYPES:
        return None
    data = {k: v for k, v in rec.items() if k not in ("timestamp", "event_type")}
    if "payload" in rec:
        data["payload_text"] = _printable(base64.b64decode(rec["payload"]))
    return Event(key, parse_time(rec["timestamp"]), kind, _eve_summary(kind, rec),
                 rec.get("src_ip"), rec.get("src_port"), rec.get("dest_ip"), rec.get("dest_port"),
                 (rec.get("proto") or "").lower() or None, data=data)


def _eve_summary(kind: str, rec: dict) -> str:
    if kind in ("alert", "drop"):
        alert = rec.get("alert", {})
        return f"[{alert.get('action', '?')}] {alert.get('signature', '')} (sid {alert.get('signature_id', '?')})"
    if kind == "dns":
        return _dns_summary(rec.get("dns", {}))
    if kind == "http":
        http = rec.get("http", {})
        return f"http {http.get('http_method', '')} {http.get('hostname', '')}{http.get('url', '')} {http.get('status', '')}"
    if kind == "tls":
        tls = rec.get("tls", {})
        return f"tls {tls.get('sni', '')} {tls.get('version', '')}"
    if kind == "flow":
        flow = rec.get("flow", {})
        return (f"flow {rec.get('app_proto', rec.get('proto', ''))} {flow.get('state', '')} "
                f"{flow.get('pkts_toserver', 0)}/{flow.get('pkts_toclient', 0)} pkts")
    return kind


def _dns_summary(dns: dict) -> str:
    """EVE dns records of version 2 (rrname at the top) and 3 (a `queries` list): `dns query A web.example`,
    `dns answer A web.example NOERROR 203.0.113.80`."""
    query = dns if "rrname" in dns else (dns.get("queries") or [{}])[0]
    words = ["dns", dns.get("type", ""), query.get("rrtype", ""), query.get("rrname", "")]
    if dns.get("type") in ("answer", "response") or "rcode" in dns:
        words.append(dns.get("rcode", ""))
        words += [str(a.get("rdata", "")) for a in dns.get("answers", []) if "rdata" in a][:4]
    return " ".join(w for w in words if w)


_FAST = re.compile(
    r"^(?P<time>\d\d/\d\d/\d{4}-\d\d:\d\d:\d\d\.\d+)\s+(?:\[(?P<action>[A-Za-z]+)\]\s+)?\[\*\*\]\s+"
    r"\[(?P<sid>[\d:]+)\]\s+(?P<msg>.*?)\s+\[\*\*\].*?\{(?P<proto>[A-Z0-9-]+)\}\s+"
    r"(?P<src>[\d.]+)(?::(?P<sport>\d+))?\s+->\s+(?P<dst>[\d.]+)(?::(?P<dport>\d+))?"
)


def fast(line: str, key: str) -> Event | None:
    """One line of Suricata's fast.log (one line per alert)."""
    m = _FAST.match(line.strip())
    if not m:
        return None
    when = datetime.strptime(m["time"], "%m/%d/%Y-%H:%M:%S.%f").replace(tzinfo=UTC)
    action = (m["action"] or "alert").lower()
    return Event(key, iso(when), "fast", f"[{action}] {m['msg']} ({m['sid']})", m["src"], _int(m["sport"]),
                 m["dst"], _int(m["dport"]), m["proto"].lower(), data={"action": action, "line": line.strip()})


_KV = re.compile(r"([A-Z]+)=(\S*)")


def firewall(line: str, key: str, hid: str) -> Event | None:
    """One firewall log line as the gateway writes it: `<dmesg ISO time> vhn <id> <rule> IN=… SRC=…`."""
    stamp, _, rest = line.strip().partition(" ")
    marker = f"vhn {hid} "
    at = rest.find(marker)
    if at < 0:
        return None
    body = rest[at + len(marker):]
    rule = body.split(" IN=", 1)[0].strip() if " IN=" in body else body.split("=", 1)[0].rsplit(" ", 1)[0].strip()
    fields = dict(_KV.findall(body))
    verdict = VERDICTS.get(rule.split(" ")[0], rule.split(" ")[0])
    proto = fields.get("PROTO", "").lower() or None
    summary = f"{verdict} {proto or '?'} {fields.get('SRC', '?')}:{fields.get('SPT', '')} -> {fields.get('DST', '?')}:{fields.get('DPT', '')} ({rule})"
    return Event(key, parse_time(stamp), "firewall", summary, fields.get("SRC"), _int(fields.get("SPT")),
                 fields.get("DST"), _int(fields.get("DPT")), proto,
                 data={"rule": rule, "verdict": verdict, "in": fields.get("IN"), "out": fields.get("OUT"),
                       "len": _int(fields.get("LEN"))})


_AUDIT = re.compile(r"audit: type=(?P<type>\d+) audit\((?P<stamp>[\d.]+):(?P<serial>\d+)\): (?P<body>.*)$")
_TTY_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')


def syslog(line: str, key: str, honeypot: str) -> Event | None:
    """One line of a honeypot's syslog file (`<time> <ip> <host> <tag> <msg>`). Kernel audit EXECVE
    records become `command` events (argv decoded), TTY records `keystrokes` (typed text decoded;
    a long one comes in pieces, each with `part` n/m)."""
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4:
        return None
    stamp, address, host, message = parts
    audit = _AUDIT.search(message)
    if audit and int(audit["type"]) in (AUDIT_TTY, AUDIT_USER_TTY):
        fields = {k: v for k, v in _TTY_FIELD.findall(audit["body"])}
        data = fields.get("data", "")
        typed = _typed(data[1:-1].encode("latin-1") if data.startswith('"') else bytes.fromhex(data))
        comm = fields.get("comm", "?").strip('"')
        extra = {"part": fields["part"]} if "part" in fields else {}
        return Event(key, parse_time(stamp), "keystrokes", f"{comm}: {typed}", src=address, honeypot=honeypot,
                     data={"typed": typed, "pid": _int(fields.get("pid")), "uid": fields.get("uid"),
                           "auid": fields.get("auid"), "ses": fields.get("ses"), "comm": comm, "host": host,
                           "audit_serial": int(audit["serial"]), **extra})
    if audit and int(audit["type"]) == AUDIT_EXECVE:
        argv = _argv(audit["body"])
        return Event(key, parse_time(stamp), "command", " ".join(argv), src=address, honeypot=honeypot,
                     data={"argv": argv, "host": host, "audit_serial": int(audit["serial"])})
    return Event(key, parse_time(stamp), "syslog", message, src=address, honeypot=honeypot,
                 data={"host": host})


_ARG = re.compile(r'\ba(\d+)(?:\[(\d+)\])?=("[^"]*"|[0-9A-Fa-f]+)(?=\s|$)')


def _argv(body: str) -> list[str]:
    """argv of an EXECVE record: quoted text, or hex when an argument has spaces or odd bytes;
    long arguments come in pieces a1[0], a1[1], ..."""
    pieces: dict[int, list[tuple[int, str]]] = {}
    for index, part, value in _ARG.findall(body):
        text = value[1:-1] if value.startswith('"') else _printable(bytes.fromhex(value))
        pieces.setdefault(int(index), []).append((int(part or 0), text))
    return ["".join(text for _, text in sorted(pieces[i])) for i in sorted(pieces)]


def control(line: str, key: str) -> Event | None:
    """One data-control alert (alerts.jsonl from the gateway), kept as written."""
    rec = json.loads(line)
    stamp = rec.get("time") or rec.get("timestamp")
    if not stamp:
        return None
    return Event(key, parse_time(str(stamp)), "control", str(rec.get("kind") or rec.get("alert") or rec.get("type") or "alert"),
                 rec.get("src"), None, rec.get("dst"), None, rec.get("proto"), rec.get("honeypot"), data=rec)


def _typed(raw: bytes) -> str:
    """What a terminal's input bytes say: CR as a line break, escape sequences (arrows) dropped."""
    text = re.sub(rb"\x1b(\[[0-9;]*[A-Za-z~]|O.)", b"", raw).replace(b"\r", b"\n")
    return _printable(text).strip("\n")


def _printable(raw: bytes) -> str:
    return "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in raw.decode("latin-1"))


def _int(text: str | None) -> int | None:
    return int(text) if text else None
