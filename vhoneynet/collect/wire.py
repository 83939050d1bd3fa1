"""What travels from a honeynet to its collector, and the checks every record passes there.

A batch is `{"events": [event, ...]}` in the honeynet's order. Each event is checked on its
own: its fields' types and ranges, strings free of NUL and of lone surrogates (PostgreSQL takes
neither), `data` an object of bounded size and depth. The collector takes a batch whole or not
at all: if any record is bad (or PostgreSQL refuses one that passed, see collect.database) it
stores nothing and answers 422 naming every bad record (index, key, field, reason); the shipper
quarantines those records locally and sends the rest again. All-or-nothing keeps one rule for
the shipper's cursor (it moves past a batch only when every record in it was stored or
quarantined) at the cost of one more round trip, and only for a batch that holds a bad record. Fields not named here are ignored, so a newer honeynet still ships.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from ipaddress import ip_address

from vhoneynet.capture.records import TYPES

MAX_KEY = 512
MAX_SEQ = (1 << 63) - 1  # PostgreSQL BIGINT
MAX_TIME = 64
MAX_SUMMARY = 8192
MAX_SHORT = 64  # proto, honeypot
MAX_DATA_BYTES = 64 << 10
MAX_DATA_DEPTH = 32
MAX_EVENTS = 5000  # per batch
MAX_EVENT_BYTES = 512 << 10  # one encoded event: no valid event comes near it, even all escaped


class BadBatch(ValueError):
    """The body is not a batch at all (not JSON, not `{"events": [...]}`, too many events)."""


@dataclass(frozen=True)
class Rejection:
    """One record the collector will not store, and why."""

    index: int
    key: str | None
    field: str
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def encode_event(event: dict) -> bytes:
    """One event as it travels (without the store-only `honeynet`); ASCII JSON, so any string, even
    one PostgreSQL would refuse, reaches the collector to be named. Raises ValueError (NaN, a value
    JSON has no form for) or TypeError."""
    return json.dumps({k: v for k, v in event.items() if k != "honeynet"}, allow_nan=False).encode()


def batch_body(encoded: list[bytes]) -> bytes:
    """The body of a batch of events encoded by `encode_event`."""
    return b'{"events": [' + b", ".join(encoded) + b"]}"


def decode(body: bytes) -> list:
    """The events of a batch body, unchecked. Raises BadBatch."""
    try:
        doc = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # RecursionError: nesting deeper than the parser allows
        raise BadBatch(f"body is not JSON: {str(e)[:200]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise BadBatch('body must be {"events": [...]}')
    if len(doc["events"]) > MAX_EVENTS:
        raise BadBatch(f"at most {MAX_EVENTS} events per batch")
    return doc["events"]


def rejections(events: list) -> list[Rejection]:
    """Every bad record of a batch (empty when all can be stored)."""
    found = []
    for index, event in enumerate(events):
        problem = check_event(event)
        if problem:
            key = event.get("key") if isinstance(event, dict) and isinstance(event.get("key"), str) else None
            found.append(Rejection(index, key[:MAX_KEY] if key else None, *problem))
    return found


def check_event(event: object) -> tuple[str, str] | None:
    """(field, reason) of the first thing wrong with one record, or None if it can be stored."""
    if not isinstance(event, dict):
        return "", f"an event is an object, not {type(event).__name__}"
    for name, check in _CHECKS.items():
        reason = check(event.get(name))
        if reason:
            return name, reason
    return None


def _text(limit: int, optional: bool = False, empty: bool = False):
    def check(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            return f"must be a string, not {_kind(value)}"
        if not value and not empty:
            return "must not be empty"
        if len(value) > limit:
            return f"longer than {limit} characters"
        return _storable(value)
    return check


def _integer(low: int, high: int, optional: bool = False):
    def check(value: object) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be an integer, not {_kind(value)}"
        if not low <= value <= high:
            return f"{value} is outside {low}..{high}"
        return None
    return check


def _time(value: object) -> str | None:
    reason = _text(MAX_TIME)(value)
    if reason:
        return reason
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return "not an ISO 8601 time"
    return None if moment.tzinfo else "an ISO 8601 time with a time zone is needed"


def _type(value: object) -> str | None:
    return None if isinstance(value, str) and value in TYPES else "not a known event type"


def _address(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_SHORT:
        return f"must be an IP address or null, not {_kind(value)}"
    try:
        address = ip_address(value)
    except ValueError:
        return "not an IP address"
    return "an IPv6 scope (%zone) is not stored" if getattr(address, "scope_id", None) else None


def _data(value: object) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object, not {_kind(value)}"
    reason = _walk(value, 1)
    if reason:
        return reason
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return "holds NaN or Infinity (not JSON)"
    if len(text.encode()) > MAX_DATA_BYTES:
        return f"larger than {MAX_DATA_BYTES} bytes"
    return None


_CHECKS = {
    "key": _text(MAX_KEY),
    "seq": _integer(0, MAX_SEQ),
    "time": _time,
    "type": _type,
    "summary": _text(MAX_SUMMARY, empty=True),
    "src": _address,
    "sport": _integer(0, 65535, optional=True),
    "dst": _address,
    "dport": _integer(0, 65535, optional=True),
    "proto": _text(MAX_SHORT, optional=True),
    "honeypot": _text(MAX_SHORT, optional=True),
    "data": _data,
}


def _storable(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "contains a lone surrogate (not UTF-8)"
    return None


def _walk(value: object, level: int) -> str | None:
    """The first problem inside a JSON value: nesting past MAX_DATA_DEPTH, a string or key that
    PostgreSQL cannot store. Stops at the depth limit, so it never recurses far."""
    if level > MAX_DATA_DEPTH:
        return f"nested deeper than {MAX_DATA_DEPTH}"
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, dict):
        for k, v in value.items():
            reason = _storable(k) or _walk(v, level + 1)
            if reason:
                return reason
    elif isinstance(value, list):
        for v in value:
            reason = _walk(v, level + 1)
            if reason:
                return reason
    return None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
