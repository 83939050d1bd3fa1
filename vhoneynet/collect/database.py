"""The collector's PostgreSQL tables: events of every honeynet, credentials, refused attempts.

Events keep the honeynet's own key, so a batch delivered twice is stored once
(`ON CONFLICT DO NOTHING`), and its `seq`, so a honeynet's events read back in order.
"""

from __future__ import annotations

import hashlib
import json
import secrets

import psycopg

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
"""
_COLUMNS = ("key", "seq", "time", "type", "summary", "src", "sport", "dst", "dport", "proto", "honeypot", "data")


class CollectorDatabase:
    """One connection to the collector's database (`dsn`: a libpq connection string)."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        try:
            self.conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as e:
            raise CollectorDatabaseError(dsn, str(e).strip()) from None

    def close(self) -> None:
        self.conn.close()

    def create_schema(self) -> None:
        """Create the tables if they are missing (idempotent)."""
        self.conn.execute(SCHEMA)

    def add_honeynet(self, hid: str, token: str | None = None) -> str:
        """Register (or re-key) honeynet `hid`; returns its token (only its SHA-256 is stored)."""
        token = token or secrets.token_urlsafe(32)
        self.conn.execute(
            "INSERT INTO vhn_honeynets (id, token_sha256) VALUES (%s, %s) "
            "ON CONFLICT (id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256", (hid, _digest(token)))
        return token

    def authorized(self, hid: str, token: str) -> bool:
        row = self.conn.execute("SELECT token_sha256 FROM vhn_honeynets WHERE id = %s", (hid,)).fetchone()
        return row is not None and secrets.compare_digest(row[0], _digest(token))

    def refuse(self, peer: str, hid: str | None, reason: str) -> None:
        self.conn.execute("INSERT INTO vhn_refused (peer, honeynet, reason) VALUES (%s, %s, %s)", (peer, hid, reason))

    def insert(self, hid: str, events: list[dict]) -> int:
        """Store a batch of one honeynet's events in one transaction; returns how many were new."""
        placeholders = ", ".join(["%s"] * (len(_COLUMNS) + 1))
        sql = (f"INSERT INTO vhn_events (honeynet, {', '.join(_COLUMNS)}) VALUES ({placeholders}) "
               "ON CONFLICT (honeynet, key) DO NOTHING")
        rows = [(hid, *(json.dumps(e.get(c) or {}) if c == "data" else e.get(c) for c in _COLUMNS)) for e in events]
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(sql, rows, returning=False)
            new = cur.rowcount
        return max(new, 0)

    def counts(self, hid: str) -> dict[str, int]:
        """Events of one honeynet per type."""
        rows = self.conn.execute("SELECT type, COUNT(*) FROM vhn_events WHERE honeynet = %s GROUP BY type", (hid,))
        return {t: n for t, n in rows}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
