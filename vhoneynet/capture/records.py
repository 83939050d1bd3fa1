"""Parsers from the captured log lines to events: Suricata EVE and fast, firewall, syslog, audit.

Each parser takes one complete line and returns an Event (or None for lines that are not
events, like Suricata's stats). The key is given by the caller: where the line was read
(file and offset), so re-reading a file never makes a second event of the same line.

Every line was written by a guest that may belong to an intruder, or carries what an intruder
sent over the wire. So a parser checks the type of every field it uses, bounds JSON nesting,
and raises RecordError (and nothing else) for a line it cannot read; the store turns that into
an `unparsed` event and goes on. `checked` bounds what an event may hold before it is stored.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import TypeVar

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

MAX_DEPTH = 32  # JSON nesting of a record (Suricata's deepest EVE records are about 5)
MAX_SUMMARY = 1000
MAX_FIELD = 256  # addresses, protocol, honeypot
INT64 = (-(1 << 63), (1 << 63) - 1)  # what an SQLite INTEGER holds


class RecordError(ValueError):
    """A captured line that is not a record of its file's kind; the message names the field."""


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


Parser = TypeVar("Parser", bound=Callable[..., Event | None])


def _record_parser(parse: Parser) -> Parser:
    """Whatever goes wrong on a hostile line leaves the parser as RecordError only."""

    @functools.wraps(parse)
    def guarded(line: str, *args: str) -> Event | None:
        try:
            return parse(line, *args)
        except RecordError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as e:
            raise RecordError(f"{type(e).__name__}: {e}"[:300]) from None

    return guarded  # type: ignore[return-value]


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds: every stored time has this form, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> str:
    """Any of the captured logs' time stamps, as `iso` (Suricata's +0000, dmesg's ',' and +00:00).
    Raises RecordError."""
    text = text.strip().replace(",", ".")
    if len(text) > 64:
        raise RecordError("timestamp: too long")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RecordError(f"timestamp: {text[:40]!r} is not a time") from None
    if moment.year < 1000:
        raise RecordError(f"timestamp: {text[:40]!r} is out of range")
    return iso(moment)


# --- typed access to JSON records -------------------------------------------


def _no_constant(name: str) -> None:
    raise RecordError(f"{name} is not a number JSON allows")


def json_object(line: str) -> dict:
    """One JSON object of bounded nesting (NaN and Infinity refused). Raises RecordError."""
    try:
        value = json.loads(line, parse_constant=_no_constant)
    except RecursionError:
        raise RecordError("JSON nested too deep") from None
    except (ValueError, UnicodeError) as e:
        raise RecordError(f"not JSON: {str(e)[:100]}") from None
    if not isinstance(value, dict):
        raise RecordError(f"a JSON {type(value).__name__}, not an object")
    if line.count("[") + line.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:  # count first: cheap
        raise RecordError(f"JSON nested deeper than {MAX_DEPTH}")
    return value


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            stack += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _obj(rec: dict, name: str) -> dict:
    return _of_type(rec, name, dict, "an object")


def _list(rec: dict, name: str) -> list:
    return _of_type(rec, name, list, "a list")


def _of_type(rec: dict, name: str, kind: type, what: str):
    """Field `name` of `kind`; empty when missing or null; RecordError for any other type."""
    value = rec.get(name)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise RecordError(f"{name}: expected {what}, got {type(value).__name__}")
    return value


def _text(rec: dict, name: str) -> str:
    """A scalar field as text; '' when missing or null; RecordError for an object or list."""
    value = rec.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise RecordError(f"{name}: expected text, got {type(value).__name__}")


def _address(rec: dict, name: str) -> str | None:
    value = rec.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected an address, got {type(value).__name__}")
    try:
        return str(ip_address(value))
    except ValueError:
        raise RecordError(f"{name}: {value[:60]!r} is not an address") from None


def _port(value: object, name: str) -> int | None:
    """A port: an int (or digits) from 0 to 65535, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise RecordError(f"{name}: {str(value)[:20]!r} is not a port")
    return value


def _int(value: str | None, name: str) -> int | None:
    """Digits as an int that SQLite can hold, or None."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise RecordError(f"{name}: {value[:20]!r} is not a number")
    return int(value)


# --- Suricata -----------------------------------------------------------------


@_record_parser
def eve(line: str, key: str) -> Event | None:
    """One Suricata EVE JSON line; None for types that are not events (stats). Raises RecordError."""
    rec = json_object(line)
    kind = _text(rec, "event_type")
    if kind not in EVE_TYPES:
        return None
    data = {k: v for k, v in rec.items() if k not in ("timestamp", "event_type")}
    if "payload" in rec:
        try:
            payload = base64.b64decode(_text(rec, "payload"), validate=True)
        except binascii.Error:
            raise RecordError("payload: not base64") from None
        data["payload_text"] = _printable(payload)
    return Event(key, parse_time(_text(rec, "timestamp")), kind, _eve_summary(kind, rec),
                 _address(rec, "src_ip"), _port(rec.get("src_port"), "src_port"),
                 _address(rec, "dest_ip"), _port(rec.get("dest_port"), "dest_port"),
                 _text(rec, "proto").lower()[:MAX_FIELD] or None, data=data)


def _eve_summary(kind: str, rec: dict) -> str:
    if kind in ("alert", "drop"):
        alert = _obj(rec, "alert")
        return (f"[{_text(alert, 'action') or '?'}] {_text(alert, 'signature')} "
                f"(sid {_text(alert, 'signature_id') or '?'})")
    if kind == "dns":
        return _dns_summary(_obj(rec, "dns"))
    if kind == "http":
        http = _obj(rec, "http")
        return (f"http {_text(http, 'http_method')} {_text(http, 'hostname')}{_text(http, 'url')} "
                f"{_text(http, 'status')}")
    if kind == "tls":
        tls = _obj(rec, "tls")
        return f"tls {_text(tls, 'sni')} {_text(tls, 'version')}"
    if kind == "flow":
        flow = _obj(rec, "flow")
        return (f"flow {_text(rec, 'app_proto') or _text(rec, 'proto')} {_text(flow, 'state')} "
                f"{_text(flow, 'pkts_toserver') or 0}/{_text(flow, 'pkts_toclient') or 0} pkts")
    return kind


def _dns_summary(dns: dict) -> str:
    """EVE dns records of version 2 (rrname at the top) and 3 (a `queries` list): `dns query A web.example`,
    `dns answer A web.example NOERROR 203.0.113.80`."""
    queries = _list(dns, "queries")
    query = dns if "rrname" in dns else (queries[0] if queries else {})
    if not isinstance(query, dict):
        raise RecordError("dns.queries: expected objects")
    words = ["dns", _text(dns, "type"), _text(query, "rrtype"), _text(query, "rrname")]
    if _text(dns, "type") in ("answer", "response") or "rcode" in dns:
        words.append(_text(dns, "rcode"))
        answers = [a for a in _list(dns, "answers")[:4] if isinstance(a, dict) and "rdata" in a]
        words += [_text(a, "rdata") for a in answers]
    return " ".join(w for w in words if w)


_FAST = re.compile(
    r"^(?P<time>\d\d/\d\d/\d{4}-\d\d:\d\d:\d\d\.\d+)\s+(?:\[(?P<action>[A-Za-z]+)\]\s+)?\[\*\*\]\s+"
    r"\[(?P<sid>[\d:]+)\]\s+(?P<msg>.*?)\s+\[\*\*\].*?\{(?P<proto>[A-Z0-9-]+)\}\s+"
    r"(?P<src>[\d.]+)(?::(?P<sport>\d+))?\s+->\s+(?P<dst>[\d.]+)(?::(?P<dport>\d+))?"
)


@_record_parser
def fast(line: str, key: str) -> Event | None:
    """One line of Suricata's fast.log (one line per alert). Raises RecordError."""
    m = _FAST.match(line.strip())
    if not m:
        return None
    try:
        when = datetime.strptime(m["time"], "%m/%d/%Y-%H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        raise RecordError(f"time: {m['time']!r} is not a time") from None
    action = (m["action"] or "alert").lower()
    return Event(key, iso(when), "fast", f"[{action}] {m['msg']} ({m['sid']})", m["src"], _port(m["sport"], "sport"),
                 m["dst"], _port(m["dport"], "dport"), m["proto"].lower(), data={"action": action, "line": line.strip()})


# --- the gateway's firewall log ----------------------------------------------

_KV = re.compile(r"([A-Z]+)=(\S*)")


@_record_parser
def firewall(line: str, key: str, hid: str) -> Event | None:
    """One firewall log line as the gateway writes it: `<dmesg ISO time> vhn <id> <rule> IN=… SRC=…`.
    Raises RecordError."""
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
    return Event(key, parse_time(stamp), "firewall", summary, fields.get("SRC"), _port(fields.get("SPT"), "SPT"),
                 fields.get("DST"), _port(fields.get("DPT"), "DPT"), proto,
                 data={"rule": rule, "verdict": verdict, "in": fields.get("IN"), "out": fields.get("OUT"),
                       "len": _int(fields.get("LEN"), "LEN")})


# --- honeypots' syslog and audit records ---------------------------------------


def _syslog_fields(line: str) -> tuple[str, str, str, str]:
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 4:
        raise RecordError("expected `<time> <address> <host> <message>`")
    return parts[0], parts[1], parts[2], parts[3]


@_record_parser
def syslog(line: str, key: str, honeypot: str) -> Event | None:
    """One line of a honeypot's syslog file (`<time> <ip> <host> <tag> <msg>`), as a `syslog` event,
    whatever it says: a line that looks like an audit record is still what some program logged.
    Raises RecordError."""
    stamp, address, host, message = _syslog_fields(line)
    return Event(key, parse_time(stamp), "syslog", message, src=address, honeypot=honeypot, data={"host": host})


_AUDIT = re.compile(r"audit: type=(?P<type>\d{1,5}) audit\((?P<stamp>[\d.]+):(?P<serial>\d{1,18})\): (?P<body>.*)$")
_TTY_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')


@_record_parser
def audit(line: str, key: str, honeypot: str) -> Event | None:
    """One line of a honeypot's audit file (the syslog line format, written by the gateway from
    the honeypot's audit forwarder only). Kernel EXECVE records become `command` events (argv
    decoded), TTY records `keystrokes` (typed text decoded; a long one comes in pieces, each with
    `part` n/m); any other line is kept as a `syslog` event. Raises RecordError."""
    stamp, address, host, message = _syslog_fields(line)
    found = _AUDIT.search(message)
    kind = int(found["type"]) if found else None
    if found and kind in (AUDIT_TTY, AUDIT_USER_TTY):
        fields = dict(_TTY_FIELD.findall(found["body"]))
        data = fields.get("data", "")
        typed = _typed(data[1:-1].encode("latin-1") if data.startswith('"') else bytes.fromhex(data))
        comm = fields.get("comm", "?").strip('"')
        extra = {"part": fields["part"]} if "part" in fields else {}
        return Event(key, parse_time(stamp), "keystrokes", f"{comm}: {typed}", src=address, honeypot=honeypot,
                     data={"typed": typed, "pid": _int(fields.get("pid"), "pid"), "uid": fields.get("uid"),
                           "auid": fields.get("auid"), "ses": fields.get("ses"), "comm": comm, "host": host,
                           "audit_serial": int(found["serial"]), **extra})
    if found and kind == AUDIT_EXECVE:
        argv = _argv(found["body"])
        return Event(key, parse_time(stamp), "command", " ".join(argv), src=address, honeypot=honeypot,
                     data={"argv": argv, "host": host, "audit_serial": int(found["serial"])})
    return Event(key, parse_time(stamp), "syslog", message, src=address, honeypot=honeypot, data={"host": host})


_ARG = re.compile(r'\ba(\d{1,5})(?:\[(\d{1,5})\])?=("[^"]*"|[0-9A-Fa-f]+)(?=\s|$)')


def _argv(body: str) -> list[str]:
    """argv of an EXECVE record: quoted text, or hex when an argument has spaces or odd bytes;
    long arguments come in pieces a1[0], a1[1], ... An odd-length hex value is kept as written."""
    pieces: dict[int, list[tuple[int, str]]] = {}
    for index, part, value in _ARG.findall(body):
        if value.startswith('"'):
            text = value[1:-1]
        elif len(value) % 2 == 0:
            text = _printable(bytes.fromhex(value))
        else:
            text = value
        pieces.setdefault(int(index), []).append((int(part or 0), text))
    return ["".join(text for _, text in sorted(pieces[i])) for i in sorted(pieces)]


# --- the gateway's data-control alerts -----------------------------------------


@_record_parser
def control(line: str, key: str) -> Event | None:
    """One data-control alert (alerts.jsonl from the gateway), kept as written; its addresses,
    protocol and port (alerts.sh.j2 names them source, destination, protocol, port) also in the
    event's columns. Raises RecordError."""
    rec = json_object(line)
    stamp = _text(rec, "time") or _text(rec, "timestamp")
    if not stamp:
        return None
    kind = _text(rec, "kind") or _text(rec, "alert") or _text(rec, "type") or "alert"
    src, dst = _text(rec, "src") or _text(rec, "source"), _text(rec, "dst") or _text(rec, "destination")
    port = _text(rec, "port")
    return Event(key, parse_time(stamp), "control", kind, src or None, None, dst or None,
                 int(port) if port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535 else None,
                 _text(rec, "proto") or _text(rec, "protocol") or None, _text(rec, "honeypot") or None, data=rec)


# --- bounds on what is stored -------------------------------------------------


def checked(event: Event) -> Event:
    """The event as it may be stored: known type, text fields bounded (the summary cut), ports in
    range, `data` an object that JSON (and so SQLite and the collector's PostgreSQL) can hold:
    no NaN, and NUL or lone surrogates in text written as escapes. Raises RecordError."""
    if event.type not in TYPES:
        raise RecordError(f"type: {str(event.type)[:40]!r} is not an event type")
    for name in ("key", "time", "summary"):
        if not isinstance(getattr(event, name), str):
            raise RecordError(f"{name}: expected text")
    for name in ("src", "dst", "proto", "honeypot"):
        value = getattr(event, name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD):
            raise RecordError(f"{name}: expected text of at most {MAX_FIELD} characters")
    for name in ("sport", "dport"):
        _port(getattr(event, name), name)
    if not isinstance(event.data, dict):
        raise RecordError("data: expected an object")
    summary = event.summary if len(event.summary) <= MAX_SUMMARY else event.summary[:MAX_SUMMARY - 1] + "…"
    try:
        dumped = json.dumps(event.data, allow_nan=False)
    except (ValueError, TypeError):
        raise RecordError("data: a value JSON cannot hold") from None
    data = _storable(event.data) if "\\u0000" in dumped or _SURROGATE.search(dumped) else event.data
    return replace(event, summary=_storable(summary), src=_storable(event.src), dst=_storable(event.dst),
                   proto=_storable(event.proto), honeypot=_storable(event.honeypot), data=data)


_SURROGATE = re.compile(r"\\ud[89a-f]")  # how json.dumps writes a surrogate (paired or not)


def _storable(value):
    """`value` with NUL and lone surrogates in its text escaped; RecordError for NaN or infinity.
    Recursion is bounded: records were checked for nesting by json_object."""
    if isinstance(value, str):
        if "\0" in value or not value.isascii():
            value = value.replace("\0", "\\x00").encode("utf-8", "backslashreplace").decode()
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError("data: a number JSON cannot hold")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _typed(raw: bytes) -> str:
    """What a terminal's input bytes say: CR as a line break, escape sequences (arrows) dropped."""
    text = re.sub(rb"\x1b(\[[0-9;]*[A-Za-z~]|O.)", b"", raw).replace(b"\r", b"\n")
    return _printable(text).strip("\n")


def _printable(raw: bytes) -> str:
    return "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in raw.decode("latin-1"))
