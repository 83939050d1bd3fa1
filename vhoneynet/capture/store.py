"""The local event store: every captured record of a honeynet, indexed in SQLite on the host.

`CaptureStore.ingest` reads the day folders the gateway writes (`<day>/ids`, `firewall`,
`syslog`, `alerts.jsonl`) from where it stopped last time and keeps only complete lines. Each
event's key is its file and byte offset plus a digest of the line, so ingesting again never
duplicates, and a file that was replaced is read from its start again.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path

from vhoneynet.capture import records
from vhoneynet.capture.records import Event

STORE_FILE = "events.sqlite"
DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
_COLUMNS = ("key", "time", "type", "summary", "src", "sport", "dst", "dport", "proto", "honeypot", "data")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    honeynet TEXT NOT NULL, key TEXT NOT NULL UNIQUE, time TEXT NOT NULL, type TEXT NOT NULL,
    summary TEXT NOT NULL, src TEXT, sport INTEGER, dst TEXT, dport INTEGER, proto TEXT,
    honeypot TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_type ON events (type, time);
CREATE INDEX IF NOT EXISTS events_honeypot ON events (honeypot, time);
CREATE TABLE IF NOT EXISTS cursors (path TEXT PRIMARY KEY, offset INTEGER NOT NULL, head TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shipped (target TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


@dataclass(frozen=True)


class Source:
    """One captured file and how its lines become events."""

    path: Path
    parse: Callable[[str, str], Event | None]
    honeypot: str | None = None


class CaptureStore:
    """Events of one honeynet in `<root>/events.sqlite`, where `root` is `<capture_dir>/<id>`."""

    def __init__(self, root: Path, hid: str, honeypots: dict[str, str] | None = None):
        """`honeypots` maps address -> honeypot name, to tag events by the honeypot they involve."""
        self.root = root
        self.hid = hid
        self.honeypots = honeypots or {}
        root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(root / STORE_FILE, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CaptureStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- ingestion ---------------------------------------------------------

    def sources(self) -> list[Source]:
        """Every captured file of every day, in day order."""
        found: list[Source] = []
        for day in sorted(p for p in self.root.iterdir() if p.is_dir() and DAY.match(p.name)):
            found += [Source(p, records.eve) for p in sorted((day / "ids").glob("eve*.json"))]
            found += [Source(p, records.fast) for p in sorted((day / "ids").glob("fast*.log"))]
            fw = day / "firewall" / "firewall.log"
            if fw.exists():
                found.append(Source(fw, lambda line, key: records.firewall(line, key, self.hid)))
            for log in sorted((day / "syslog").glob("*.log")):
                found.append(Source(log, lambda line, key, pot=log.stem: records.syslog(line, key, pot), log.stem))
            if (day / "alerts.jsonl").exists():
                found.append(Source(day / "alerts.jsonl", records.control))
        return found

    def ingest(self) -> int:
        """Read what is new in every captured file; returns how many events were added."""
        added = 0
        for source in self.sources():
            added += self._ingest_file(source)
        for day in {s.path.parent.parent for s in self.sources() if s.path.name == "firewall.log"}:
            self.write_unique_firewall(day.name)
        return added

    def _ingest_file(self, source: Source) -> int:
        rel = str(source.path.relative_to(self.root))
        row = self.db.execute("SELECT offset, head FROM cursors WHERE path = ?", (rel,)).fetchone()
        offset, head = (row["offset"], row["head"]) if row else (0, "")
        with source.path.open("rb") as f:
            first = f.readline(256)
            if row and (not first.startswith(head.encode("latin-1")[:len(first)]) or f.seek(0, 2) < offset):
                offset = 0  # the file was replaced or truncated: read it again from the start
            f.seek(offset)
            chunk = f.read()
        events: list[Event] = []
        pos = offset
        for raw in chunk.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # a line still being written: next time
            line = raw.decode(errors="replace")
            key = f"{rel}:{pos}:{hashlib.sha256(raw).hexdigest()[:12]}"
            pos += len(raw)
            if not line.strip():
                continue
            try:
                event = source.parse(line, key)
            except (ValueError, KeyError, TypeError):
                event = records.Event(key, records.iso(_mtime(source.path)), "unparsed", line.strip()[:500],
                                      honeypot=source.honeypot, data={"file": rel})
            if event is not None:
                events.append(self._tag(event))
        with self.db:
            before = self.db.total_changes
            self.db.executemany(
                f"INSERT OR IGNORE INTO events (honeynet, {', '.join(_COLUMNS)}) VALUES (?{', ?' * len(_COLUMNS)})",
                [(self.hid, *_row(e)) for e in events])
            added = self.db.total_changes - before
            self.db.execute("INSERT OR REPLACE INTO cursors (path, offset, head) VALUES (?, ?, ?)",
                            (rel, pos, first.decode("latin-1")))
        return added

    def _tag(self, event: Event) -> Event:
        if event.honeypot:
            return event
        pot = self.honeypots.get(event.src or "") or self.honeypots.get(event.dst or "")
        if pot is None:
            return event
        return Event(**{**event.as_dict(), "honeypot": pot})

    def write_unique_firewall(self, day: str) -> Path:
        """`<day>/firewall/unique.log`: distinct (source, destination, protocol, port) of the day's firewall log."""
        rows = self.db.execute(
            "SELECT src, dst, proto, dport, COUNT(*) AS n, MIN(time) AS first, MAX(time) AS last FROM events "
            "WHERE type = 'firewall' AND time >= ? AND time < ? GROUP BY src, dst, proto, dport ORDER BY first, src, dst, proto, dport",
            (day, day + "T99")).fetchall()
        path = self.root / day / "firewall" / "unique.log"
        lines = [f"{r['first']} {r['last']} {r['n']} {r['src']} {r['dst']} {r['proto']} {r['dport'] or '-'}" for r in rows]
        text = "# first last count source destination protocol port\n" + "".join(line + "\n" for line in lines)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return path

    # --- queries -----------------------------------------------------------

    def query(self, types: Iterable[str] = (), since: str | None = None, honeypot: str | None = None,
              after: int = 0, limit: int | None = None) -> list[dict]:
        """Events in store order (`seq`), filtered; `after` gives only those past a seq (for --follow)."""
        where, args = ["seq > ?"], [after]
        types = list(types)
        if types:
            where.append(f"type IN ({', '.join('?' * len(types))})")
            args += types
        if since:
            where.append("time >= ?")
            args.append(since)
        if honeypot:
            where.append("honeypot = ?")
            args.append(honeypot)
        sql = f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_event_dict(r) for r in self.db.execute(sql, args)]

    def counts(self) -> dict[str, int]:
        """Events per type."""
        return {r[0]: r[1] for r in self.db.execute("SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type")}

    def pending(self, target: str, limit: int) -> list[dict]:
        """The next events (in seq order) not yet delivered to `target`."""
        return self.query(after=self.shipped(target), limit=limit)

    def shipped(self, target: str) -> int:
        row = self.db.execute("SELECT seq FROM shipped WHERE target = ?", (target,)).fetchone()
        return row[0] if row else 0

    def mark_shipped(self, target: str, seq: int) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO shipped (target, seq) VALUES (?, ?)", (target, seq))

    def last_seq(self) -> int:
        """The highest seq stored (0 when empty)."""
        return self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]


def address_map(topology: dict | None) -> dict[str, str]:
    """address -> honeypot name, from a saved topology (JSON dict)."""
    if not topology:
        return {}
    return {str(IPv4Address(h["address"])): h["name"] for h in topology.get("honeypots", [])}


def _row(e: Event) -> tuple:
    d = e.as_dict()
    return tuple(json.dumps(d[c], sort_keys=True) if c == "data" else d[c] for c in _COLUMNS)


def _event_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["data"] = json.loads(d["data"])
    return d


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def open_store(root: Path, hid: str, topology: dict | None = None) -> CaptureStore:
    """The store of honeynet `hid` under its capture folder `root`."""
    return CaptureStore(root, hid, address_map(topology))
