"""What a honeynet's report shows, gathered from its capture folder (event store, share) and its
topology when known: never from libvirt, so a honeynet taken down is reported the same way.

Everything here is plain data (dicts, lists, numbers, text) for the page's template and for the
JSON the page's scripts read; text that came from a guest or the wire stays as it is here and is
escaped where it is shown (autoescape, textContent).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from vhoneynet.capture import archive
from vhoneynet.capture.pcap import ALERT_TYPES
from vhoneynet.capture.session import Captures
from vhoneynet.capture.store import CaptureStore
from vhoneynet.errors import DayNotCaptured, VhoneynetError
from vhoneynet.graph import draw
from vhoneynet.report.replay import login_sessions
from vhoneynet.topology.model import Topology

TOP = 10
MAX_ALERTS = 1000
INGEST_PASSES = 100
NETWORK_TYPES = ("alert", "drop", "fast", "flow", "dns", "http", "tls", "ssh", "smtp", "fileinfo", "anomaly", "firewall")
# The firewall log's rules (limits.nft.j2) of new outbound connections: counted, and over the limit
# (`limit` is an older name of `limited`).
OUTBOUND_RULES = {"outbound": "allowed", "limited": "limited", "limit": "limited"}
WINDOW_BUCKET = {"second": 19, "minute": 16, "hour": 13, "day": 10}  # characters of an ISO time per window
_BUCKETS = ((16, 60, "minute"), (13, 3600, "hour"), (10, 86400, "day"))


def gather(captures: Captures, day: str | None = None) -> dict:
    """Every section of the report of `captures`, for one day or (None) all days. Raises
    DayNotCaptured for a day that has no capture."""
    days = archive.days(captures.root)
    if day is not None and day not in days:
        raise DayNotCaptured(captures.hid, day, days)
    since, until = (day, _next_day(day)) if day else (None, None)
    topo = captures.topology
    with captures.store() as store:
        for _ in range(INGEST_PASSES):  # one pass reads a bounded part of each file: catch up on a backlog
            if not store.ingest():
                break
        alerts = store.query(types=ALERT_TYPES, since=since, until=until, limit=MAX_ALERTS + 1)
        sessions = login_sessions(store, since, until)
        return {
            "hid": captures.hid,
            "day": day,
            "days": days if day is None else [day],
            "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "counts": dict(sorted((t, n) for t, n in store.tally(["type"], since=since, until=until))),
            "timeline": _timeline(store, since, until),
            "outbound": _outbound(store, topo, since, until),
            "sources": [{"address": a, "events": n} for a, n in
                        store.tally(["src"], NETWORK_TYPES, since, until, limit=TOP + 1) if a][:TOP],
            "destinations": [{"address": a, "port": p, "events": n} for a, p, n in
                             store.tally(["dst", "dport"], NETWORK_TYPES, since, until, limit=TOP + 1) if a][:TOP],
            "signatures": [{"sid": sid, "signature": sig, "action": act, "severity": sev, "events": n}
                           for sid, sig, act, sev, n in
                           store.tally(["sid", "signature", "action", "severity"], ("alert", "drop"), since, until)],
            "alerts": alerts[:MAX_ALERTS],
            "alerts_left_out": len(alerts) > MAX_ALERTS,
            "slices": {},  # alert seq -> link to its pcap slice, when the report's writer cut them
            "sessions": sessions,
            "manifests": [_manifest(captures, d) for d in (days if day is None else [day])],
            "topology": _picture(topo),
        }


def _next_day(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()


def _timeline(store: CaptureStore, since: str | None, until: str | None) -> dict:
    """Events per type and time bucket (a minute, an hour or a day: the finest that gives at most
    a few hundred points over the captured span), for a plot: x in seconds since the epoch."""
    span = store.tally(["type"], since=since, until=until, bucket=10)  # whole days seen
    days = sorted({row[0] for row in span})
    width, seconds, unit = _BUCKETS[0] if len(days) <= 1 else _BUCKETS[1] if len(days) <= 14 else _BUCKETS[2]
    rows = store.tally(["type"], since=since, until=until, bucket=width)
    buckets = sorted({r[0] for r in rows})
    if not buckets:
        return {"unit": unit, "x": [], "series": {}}
    first, last = _bucket_time(buckets[0]), _bucket_time(buckets[-1])
    x = list(range(int(first.timestamp()), int(last.timestamp()) + 1, seconds))
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(x))
    for bucket, kind, n in rows:
        series[kind][(int(_bucket_time(bucket).timestamp()) - x[0]) // seconds] = n
    return {"unit": unit, "x": x, "series": dict(sorted(series.items()))}


def _bucket_time(prefix: str) -> datetime:
    """The start of a bucket named by a cut ISO time (2026-11-29, 2026-11-29T02, 2026-11-29T02:10)."""
    return datetime.fromisoformat(prefix + "0000-01-01T00:00:00"[len(prefix):]).replace(tzinfo=UTC)


def _outbound(store: CaptureStore, topo: Topology | None, since: str | None, until: str | None) -> dict:
    """Per honeypot and protocol: new outbound connections counted against the limit (the firewall
    log's `outbound <proto>` lines), those refused over it (`limited <proto>`), the most counted in
    one limit window, and the topology's limit per window. Destinations exempt from counting
    (`allowed`) are left out."""
    limits = topo.gateway.data_control.limits if topo else None
    window = limits.window if limits else "hour"
    rows = store.tally(["honeypot", "src", "proto", "rule"], ["firewall"], since, until, bucket=WINDOW_BUCKET[window])
    table: dict[tuple[str, str], dict] = {}
    per_window: dict[tuple[str, str, str], int] = defaultdict(int)
    for bucket, pot, src, proto, rule, n in rows:
        words = str(rule or "").split()
        verdict = OUTBOUND_RULES.get(words[0] if words else "")
        if verdict is None:
            continue
        key = (pot or src or "?", words[1] if len(words) > 1 else proto or "other")
        row = table.setdefault(key, {"honeypot": key[0], "proto": key[1], "allowed": 0, "limited": 0, "peak": 0,
                                     "limit": _limit(topo, key[1])})
        row[verdict] += n
        if verdict == "allowed":
            per_window[(*key, bucket)] += n  # one protocol of the limits can be several on the wire (other)
            row["peak"] = max(row["peak"], per_window[(*key, bucket)])
    return {"window": window, "known": limits is not None, "rows": [table[k] for k in sorted(table)]}


def _limit(topo: Topology | None, proto: str) -> int | None:
    """The topology's limit per window of new outbound connections of `proto` (None: not known)."""
    if topo is None:
        return None
    control = topo.gateway.data_control
    if control.mode == "roach-motel":
        return 0
    return getattr(control.limits, proto) if proto in ("tcp", "udp", "icmp") else control.limits.other


def _manifest(captures: Captures, day: str) -> dict:
    try:
        return {"day": day, **archive.manifest(captures.root, day)}
    except DayNotCaptured:
        return {"day": day, "files": [], "skipped": ["day folder gone"]}


def _picture(topo: Topology | None) -> dict:
    """The topology as SVG (Graphviz), or why there is none."""
    if topo is None:
        return {"svg": None, "why": "the honeynet's topology is not known (it is down: give --topology FILE)"}
    if shutil.which("dot") is None:
        return {"svg": None, "why": "Graphviz's `dot` is not installed (apt-get install graphviz)"}
    try:
        svg = draw(topo, "svg").decode()
    except VhoneynetError as e:
        return {"svg": None, "why": str(e)}
    return {"svg": svg[svg.find("<svg"):], "why": None}
