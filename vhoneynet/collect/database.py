"""The collector's PostgreSQL tables: events of every honeynet, credentials, refused attempts.

Events keep the honeynet's own key, so a batch delivered twice is stored once
(`ON CONFLICT DO NOTHING`), and its `seq`, so a honeynet's events read back in order.
Connections come from a bounded pool (psycopg_pool): at most `size` at once, however many
clients are connected; a caller waits at most `wait` seconds for one. Refused attempts are
stored as counts (one row per peer, honeynet and reason per interval), never one row each.
Every error names the DSN with its password masked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from ipaddress import ip_address

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from vhoneynet.collect.dsn import redact
from vhoneynet.errors import CollectorDatabaseError

SCHEMA = """
CREATE TABLE IF NOT EXISTS vhn_honeynets (
    id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL, created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS vhn_events (
    honeynet TEXT NOT NULL, key TEXT NOT NULL, seq BIGINT NOT NULL, time TIMESTAMPTZ NOT NULL,
    type TEXT NOT NULL, summary TEXT NOT NULL, src INET, sport INTEGER, dst INET, dport INTEGER,
    proto TEXT, honeypot TEXT, data JSONB NOT NULL, received TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (honeynet, key)
);
CREATE INDEX IF NOT EXISTS vhn_events_order ON vhn_events (honeynet, seq);
CREATE INDEX IF NOT EXISTS vhn_events_type ON vhn_events (honeynet, type, time);
CREATE TABLE IF NOT EXISTS vhn_refused (
    at TIMESTAMPTZ NOT NULL DEFAULT now(), peer TEXT NOT NULL, honeynet TEXT, reason TEXT NOT NULL
);
ALTER TABLE vhn_refused ADD COLUMN IF NOT EXISTS count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE vhn_refused ADD COLUMN IF NOT EXISTS first_at TIMESTAMPTZ;
"""
_COLUMNS = ("key", "seq", "time", "type", "summary", "src", "sport", "dst", "dport", "proto", "honeypot", "data")


class CollectorDatabase:
    """A bounded pool of connections to the collector's database (`dsn`: a libpq connection string
    or URL). Raises CollectorDatabaseError when the database cannot be reached within `wait`."""

    def __init__(self, dsn: str, size: int = 1, wait: float = 10):
        self.dsn = dsn
        try:  # one plain connection first: its error says why (the pool's says only "timeout")
            conninfo_to_dict(dsn)
            psycopg.connect(dsn, connect_timeout=max(2, int(wait))).close()
        except psycopg.Error as e:
            raise CollectorDatabaseError(dsn, str(e).strip()) from None
        logging.getLogger("psycopg.pool").addFilter(_Redacting(dsn))  # the pool logs failed reconnects
        self.pool = ConnectionPool(dsn, min_size=1, max_size=size, timeout=wait, open=False,
                                   kwargs={"autocommit": True}, name="vhn-collector")
        try:
            self.pool.open(wait=True, timeout=wait)
        except (PoolTimeout, psycopg.Error) as e:
            self.pool.close()
            raise CollectorDatabaseError(dsn, f"cannot connect within {wait:g}s: {str(e).strip()}") from None

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection from the pool; any database failure becomes CollectorDatabaseError."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.Error) as e:
            raise CollectorDatabaseError(self.dsn, str(e).strip() or type(e).__name__) from None

    def create_schema(self) -> None:
        """Create the tables if they are missing (idempotent)."""
        with self.connection() as conn:
            conn.execute(SCHEMA)

    def add_honeynet(self, hid: str, token: str | None = None) -> str:
        """Register (or re-key) honeynet `hid`; returns its token (only its SHA-256 is stored)."""
        token = token or secrets.token_urlsafe(32)
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO vhn_honeynets (id, token_sha256) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256", (hid, _digest(token)))
        return token

    def authorized(self, hid: str, token: str) -> bool:
        """Whether `token` is honeynet `hid`'s (compared in constant time)."""
        with self.connection() as conn:
            row = conn.execute("SELECT token_sha256 FROM vhn_honeynets WHERE id = %s", (hid,)).fetchone()
        return row is not None and secrets.compare_digest(row[0], _digest(token))

    def record_refusals(self, rows: list[tuple[str, str | None, str, int, object]]) -> None:
        """Store aggregated refusals: (peer, honeynet, reason, count, first time) each."""
        if not rows:
            return
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany("INSERT INTO vhn_refused (peer, honeynet, reason, count, first_at) "
                            "VALUES (%s, %s, %s, %s, %s)", rows)

    def insert(self, hid: str, events: list[dict]) -> int:
        """Store a batch of one honeynet's checked events in one transaction; returns how many were new.
        Raises RecordsRefused naming the records PostgreSQL itself refuses (nothing is stored then)."""
        placeholders = ", ".join(["%s"] * (len(_COLUMNS) + 1))
        sql = (f"INSERT INTO vhn_events (honeynet, {', '.join(_COLUMNS)}) VALUES ({placeholders}) "
               "ON CONFLICT (honeynet, key) DO NOTHING")
        rows = [_row(hid, e) for e in events]
        if not rows:
            return 0
        with self.connection() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(sql, rows, returning=False)
                    return max(cur.rowcount, 0)
            except _RECORD_ERRORS:
                refused = _refused_rows(conn, sql, rows)
            if refused:
                raise RecordsRefused(refused)
            raise psycopg.DataError("the batch was refused, though no record of it is refused alone")

    def counts(self, hid: str) -> dict[str, int]:
        """Events of one honeynet per type."""
        with self.connection() as conn:
            rows = conn.execute("SELECT type, COUNT(*) FROM vhn_events WHERE honeynet = %s GROUP BY type", (hid,))
            return {t: n for t, n in rows}


class RecordsRefused(Exception):
    """Records of a batch that passed the collector's checks but that PostgreSQL refuses: index -> reason."""

    def __init__(self, refused: dict[int, str]):
        super().__init__(f"{len(refused)} records refused by the database")
        self.refused = refused


# errors of one record's values (class 22 data exception, class 23 integrity), not of the database
_RECORD_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


def _row(hid: str, event: dict) -> tuple:
    """A checked event as column values, in the forms PostgreSQL stores (so what passed the checks
    is what is sent: a datetime, not any text Python's ISO parser takes; a plain address)."""
    values = {**event, "time": datetime.fromisoformat(event["time"]), "data": json.dumps(event.get("data") or {})}
    for field in ("src", "dst"):
        values[field] = str(ip_address(event[field])) if event.get(field) else None
    return (hid, *(values.get(c) for c in _COLUMNS))


def _refused_rows(conn: psycopg.Connection, sql: str, rows: list[tuple]) -> dict[int, str]:
    """Which rows PostgreSQL refuses, each tried alone in a savepoint; everything rolled back."""
    refused: dict[int, str] = {}
    with conn.transaction() as outer:
        for index, row in enumerate(rows):
            try:
                with conn.transaction():
                    conn.execute(sql, row)
            except _RECORD_ERRORS as e:
                refused[index] = (e.diag.message_primary or type(e).__name__)[:300]
        raise psycopg.Rollback(outer)
    return refused


class _Redacting(logging.Filter):
    def __init__(self, dsn: str):
        super().__init__()
        self.dsn = dsn

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.dsn), None
        return True


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
