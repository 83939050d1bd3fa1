"""Events a collector (or broker) will never take, set aside in the honeynet's local store.

A record the collector rejects (collect.wire names the field and reason) would be sent again
forever if the shipper's cursor waited for it; instead it goes into the `quarantine` table of
the store, with the target and the reason, and delivery moves on. The event itself stays in
the store's `events` table; the quarantine row says it was not delivered to that target.
"""

from __future__ import annotations

from datetime import UTC, datetime

from vhoneynet.capture.store import CaptureStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    target TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL,
    reason TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (target, seq)
);
"""
MAX_REASON = 500


def quarantine(store: CaptureStore, target: str, event: dict, field: str, reason: str) -> None:
    """Set `event` aside for `target` (idempotent)."""
    _ensure(store)
    with store.db:
        store.db.execute("INSERT OR REPLACE INTO quarantine (target, seq, key, field, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                         (target, event["seq"], event["key"], field[:100], reason[:MAX_REASON],
                          datetime.now(UTC).isoformat()))


def quarantined(store: CaptureStore, target: str | None = None) -> list[dict]:
    """The quarantined events' rows (target, seq, key, field, reason, at), in seq order."""
    _ensure(store)
    where, args = ("WHERE target = ?", (target,)) if target else ("", ())
    rows = store.db.execute(f"SELECT target, seq, key, field, reason, at FROM quarantine {where} ORDER BY seq", args)
    return [dict(r) for r in rows]


def count(store: CaptureStore) -> int:
    """How many events are quarantined, all targets together."""
    _ensure(store)
    return store.db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]


def _ensure(store: CaptureStore) -> None:
    store.db.executescript(_SCHEMA)
