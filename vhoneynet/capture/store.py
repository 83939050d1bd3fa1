"""The local event store: every captured record of a honeynet, indexed in SQLite on the host.

`CaptureStore.ingest` reads the day folders the gateway writes into its share
(`<day>/ids`, `firewall`, `syslog`, `audit`, `alerts.jsonl`) from where it stopped last time,
through `guestfile` (no links followed, regular files only, bounded chunks), and keeps only
complete lines. Each event's key is its file and byte offset plus a digest of the line, so
ingesting again never duplicates, and a file that was replaced is read from its start again.

Every line is one record on its own: a line that does not parse, or whose fields have the wrong
types, becomes an `unparsed` event and the cursor moves past it, so no record can stall capture.
Keystrokes and commands come only from a honeypot's audit file; its syslog file gives `syslog`
events whatever its lines look like. One pass reads a bounded amount of each file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

from vhoneynet.capture import guestfile, records
from vhoneynet.capture.records import Event
from vhoneynet.naming import GUEST_PATTERN
from vhoneynet.rundir import SHARE, CaptureFolder
from vhoneynet.topology.model import Topology

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fullmatch: `$` would let "…\n" in
ALERTS_FILE = "alerts.jsonl"
FIREWALL_LOG = "firewall.log"
UNIQUE_FIREWALL_LOG = "firewall-unique.log"
FILE_BUDGET = 8 << 20  # bytes of one file read in one pass
HEAD = 256  # bytes of a file's first line kept to tell a replaced file
UNPARSED_TEXT = 500
_HONEYPOT = re.compile(GUEST_PATTERN)  # fullmatch; "unknown" (the sink's file for strangers) fits it
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
    """One captured file of the share (`parts` below it) and how its lines become events."""

    parts: tuple[str, ...]
    parse: Callable[[str, str], Event | None]
    honeypot: str | None = None

    @property
    def rel(self) -> str:
        """Its path under the capture folder: the cursor's name and the prefix of its events' keys."""
        return "/".join((SHARE, *self.parts))


class CaptureStore:
    """Events of one honeynet in `<root>/events.sqlite`, where `root` is `<capture_dir>/<id>`
    (a CaptureFolder's root); the captured files are read from its share, through guestfile."""

    def __init__(self, root: Path, hid: str, honeypots: dict[str, str] | None = None, *,
                 max_line: int = guestfile.MAX_LINE, file_budget: int = FILE_BUDGET):
        """`honeypots` maps address -> honeypot name, to tag events by the honeypot they involve.
        One pass reads at most `file_budget` bytes of a file; a line over `max_line` bytes is
        stored as one truncated `unparsed` event."""
        self.folder = CaptureFolder(root)
        self.root = root
        self.hid = hid
        self.honeypots = honeypots or {}
        self.max_line, self.file_budget = max_line, file_budget
        root.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.folder.store_file, timeout=30)
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
        """Every captured file of every day in the share, in day order. Only real folders and
        regular files count (links, fifos, sockets are not read); a honeypot's syslog or audit
        file counts only when its name is a honeypot name."""
        share = self.folder.share
        found: list[Source] = []
        for day in (d for d in guestfile.list_dirs(share) if DAY.fullmatch(d)):
            ids = guestfile.list_files(share, day, "ids")
            found += [Source((day, "ids", n), records.eve) for n in ids if fnmatch(n, "eve*.json")]
            found += [Source((day, "ids", n), records.fast) for n in ids if fnmatch(n, "fast*.log")]
            if FIREWALL_LOG in guestfile.list_files(share, day, "firewall"):
                found.append(Source((day, "firewall", FIREWALL_LOG), functools.partial(_firewall, hid=self.hid)))
            for folder, parse in (("syslog", records.syslog), ("audit", records.audit)):
                for name in guestfile.list_files(share, day, folder):
                    pot = name.removesuffix(".log")
                    if name.endswith(".log") and _HONEYPOT.fullmatch(pot):
                        found.append(Source((day, folder, name), functools.partial(_of_honeypot, parse=parse, pot=pot), pot))
            if ALERTS_FILE in guestfile.list_files(share, day):
                found.append(Source((day, ALERTS_FILE), records.control))
        return found

    def ingest(self) -> int:
        """Read what is new in every captured file (at most `file_budget` bytes of each: a bigger
        backlog takes several passes); returns how many events were added. A record that cannot
        be read is stored as an `unparsed` event; a file that cannot be opened is skipped."""
        added = 0
        sources = self.sources()
        for source in sources:
            try:
                added += self._ingest_file(source)
            except OSError:  # GuestPathRefused included
                continue  # gone, or swapped for a link since listed: nothing to read this time
        for day in sorted({s.parts[0] for s in sources if s.parts[1:] == ("firewall", FIREWALL_LOG)}):
            self.write_unique_firewall(day)
        return added

    def _ingest_file(self, source: Source) -> int:
        rel = source.rel
        row = self.db.execute("SELECT offset, head FROM cursors WHERE path = ?", (rel,)).fetchone()
        offset, head = (row["offset"], row["head"]) if row else (0, "")
        with guestfile.open_file(self.folder.share, *source.parts) as f:
            first = f.read_at(0, HEAD)
            first = first[:first.find(b"\n") + 1] if b"\n" in first else first
            if row and (not first.startswith(head.encode("latin-1")[:len(first)]) or f.size < offset):
                offset = 0  # the file was replaced or truncated: read it again from the start
            if offset >= f.size:
                return 0
            reader = f.lines(offset, self.max_line, self.file_budget)
            events = [self._event(source, line, f.mtime) for line in reader]
        with self.db:
            before = self.db.total_changes
            for event in events:
                if event is not None:
                    self._insert(event)
            added = self.db.total_changes - before
            self.db.execute("INSERT OR REPLACE INTO cursors (path, offset, head) VALUES (?, ?, ?)",
                            (rel, reader.position, first.decode("latin-1")))
        return added

    def _event(self, source: Source, line: guestfile.Line, mtime: float) -> Event | None:
        """The event of one line; an `unparsed` one for a line that is not a record of its kind."""
        key = f"{source.rel}:{line.start}:{hashlib.sha256(line.data).hexdigest()[:12]}"
        text = line.data.decode(errors="replace")
        if line.truncated:
            return _unparsed(source, key, text, mtime, f"line longer than {self.max_line} bytes")
        if not text.strip():
            return None
        try:
            event = source.parse(text.removesuffix("\n"), key)
            return records.checked(self._tag(event)) if event is not None else None
        except Exception as e:  # noqa: BLE001 - one hostile record, whatever it breaks, must not stop capture
            return _unparsed(source, key, text, mtime, str(e))

    def _insert(self, event: Event) -> None:
        sql = f"INSERT OR IGNORE INTO events (honeynet, {', '.join(_COLUMNS)}) VALUES (?{', ?' * len(_COLUMNS)})"
        try:
            self.db.execute(sql, (self.hid, *_row(event)))
        except (sqlite3.Error, ValueError, OverflowError) as e:
            # checked() should have made this impossible; if not, keep the record's place
            fallback = Event(event.key, event.time, "unparsed", "record the store cannot hold",
                             honeypot=None, data={"error": str(e)[:200]})
            self.db.execute(sql, (self.hid, *_row(fallback)))

    def _tag(self, event: Event) -> Event:
        if event.honeypot:
            return event
        pot = self.honeypots.get(event.src or "") or self.honeypots.get(event.dst or "")
        if pot is None:
            return event
        return replace(event, honeypot=pot)

    def write_unique_firewall(self, day: str) -> Path:
        """`derived/<day>/firewall-unique.log` (host state, outside the share): distinct (source,
        destination, protocol, port) of the day's firewall log."""
        rows = self.db.execute(
            "SELECT src, dst, proto, dport, COUNT(*) AS n, MIN(time) AS first, MAX(time) AS last FROM events "
            "WHERE type = 'firewall' AND time >= ? AND time < ? GROUP BY src, dst, proto, dport ORDER BY first, src, dst, proto, dport",
            (day, day + "T99")).fetchall()
        path = self.folder.derived(day) / UNIQUE_FIREWALL_LOG
        lines = [f"{r['first']} {r['last']} {r['n']} {r['src']} {r['dst']} {r['proto']} {r['dport'] or '-'}" for r in rows]
        text = "# first last count source destination protocol port\n" + "".join(line + "\n" for line in lines)
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".new")
            partial.write_text(text)
            partial.replace(path)
        return path

    # --- queries -----------------------------------------------------------

    def query(self, types: Iterable[str] = (), since: str | None = None, honeypot: str | None = None,
              after: int = 0, limit: int | None = None, until: str | None = None,
              containing: str | None = None) -> list[dict]:
        """Events in store order (`seq`), filtered; `after` gives only those past a seq (for --follow),
        `until` those before a time, `containing` those whose summary has that text."""
        where, args = _where(types, since, until, honeypot)
        where.append("seq > ?")
        args.append(after)
        if containing:
            where.append("instr(summary, ?) > 0")
            args.append(containing)
        sql = f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_event_dict(r) for r in self.db.execute(sql, args)]

    def tally(self, columns: Iterable[str], types: Iterable[str] = (), since: str | None = None,
              until: str | None = None, bucket: int | None = None, limit: int | None = None) -> list[tuple]:
        """Events counted by `columns` (names of TALLY_COLUMNS), most first: tuples of the columns'
        values and the count. With `bucket`, the first value is the time cut to that many characters
        (10 a day, 13 an hour, 16 a minute, 19 a second)."""
        exprs = [TALLY_COLUMNS[c] for c in columns]
        if bucket:
            exprs.insert(0, f"substr(time, 1, {int(bucket)})")
        where, args = _where(types, since, until, None)
        names = ", ".join(exprs)
        sql = (f"SELECT {names}, COUNT(*) AS n FROM events WHERE {' AND '.join(where) or '1'} "
               f"GROUP BY {names} ORDER BY n DESC, {names}")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [tuple(r) for r in self.db.execute(sql, args)]

    def event(self, seq: int) -> dict | None:
        """The event numbered `seq`, or None."""
        row = self.db.execute("SELECT * FROM events WHERE seq = ?", (seq,)).fetchone()
        return _event_dict(row) if row else None

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


def address_map(topology: Topology | None) -> dict[str, str]:
    """address -> honeypot name, from a honeynet's topology."""
    return {str(h.address): h.name for h in topology.honeypots} if topology else {}


# What `tally` may count by: stored columns, and fields of the stored records' data.
TALLY_COLUMNS = {
    **{c: c for c in ("type", "src", "sport", "dst", "dport", "proto", "honeypot")},
    "verdict": "json_extract(data, '$.verdict')",
    "rule": "json_extract(data, '$.rule')",
    "sid": "json_extract(data, '$.alert.signature_id')",
    "signature": "json_extract(data, '$.alert.signature')",
    "action": "json_extract(data, '$.alert.action')",
    "severity": "json_extract(data, '$.alert.severity')",
}


def _where(types: Iterable[str], since: str | None, until: str | None, honeypot: str | None) -> tuple[list[str], list]:
    where: list[str] = []
    args: list = []
    types = list(types)
    if types:
        where.append(f"type IN ({', '.join('?' * len(types))})")
        args += types
    for clause, value in (("time >= ?", since), ("time < ?", until), ("honeypot = ?", honeypot)):
        if value:
            where.append(clause)
            args.append(value)
    return where, args


def _row(e: Event) -> tuple:
    return tuple(json.dumps(e.data, sort_keys=True) if c == "data" else getattr(e, c) for c in _COLUMNS)


def _event_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["data"] = json.loads(d["data"])
    return d


def _unparsed(source: Source, key: str, text: str, mtime: float, error: str) -> Event:
    return Event(key, records.iso(datetime.fromtimestamp(mtime, UTC)), "unparsed",
                 text.strip()[:UNPARSED_TEXT], honeypot=source.honeypot,
                 data={"file": source.rel, "error": error[:UNPARSED_TEXT]})


def _firewall(line: str, key: str, hid: str) -> Event | None:
    return records.firewall(line, key, hid)


def _of_honeypot(line: str, key: str, parse: Callable[[str, str, str], Event | None], pot: str) -> Event | None:
    return parse(line, key, pot)


def open_store(root: Path, hid: str, topology: Topology | None = None) -> CaptureStore:
    """The store of honeynet `hid` under its capture folder `root`."""
    return CaptureStore(root, hid, address_map(topology))
