"""Refused attempts at the collector, counted instead of stored one by one.

A client that is refused thousands of times a second must cost neither thousands of database
rows nor thousands of log lines: refusals are counted in memory per (peer, honeynet, reason),
and drained as one row per key every interval; the first refusal of a key in an interval is
logged, at most `log_lines` of them, and the rest are summed up in one line when drained.
The number of keys held is bounded too: past `max_keys`, refusals are counted under one
overflow key per reason.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

OVERFLOW_PEER = "(many peers)"
log = logging.getLogger("vhoneynet.collector")


@dataclass
class _Tally:
    count: int
    first: datetime


class Refusals:
    """Counter of refused attempts; thread-safe."""

    def __init__(self, max_keys: int = 4096, log_lines: int = 20):
        self.max_keys = max_keys
        self.log_lines = log_lines
        self._lock = threading.Lock()
        self._tallies: dict[tuple[str, str | None, str], _Tally] = {}
        self._logged = 0
        self._unlogged = 0

    def count(self, peer: str, hid: str | None, reason: str) -> None:
        """One refusal. `hid` must already be checked (it is stored and logged as given)."""
        key = (peer, hid, reason)
        with self._lock:
            tally = self._tallies.get(key)
            if tally is None and len(self._tallies) >= self.max_keys:
                key = (OVERFLOW_PEER, None, reason)
                tally = self._tallies.get(key)
            if tally is not None:
                tally.count += 1
                self._unlogged += 1
                return
            self._tallies[key] = _Tally(1, datetime.now(UTC))
            if self._logged >= self.log_lines:
                self._unlogged += 1
                return
            self._logged += 1
        log.warning("refused %s from %s: %s", hid or "-", peer, reason)

    def drain(self) -> list[tuple[str, str | None, str, int, datetime]]:
        """The counts since the last drain, as (peer, honeynet, reason, count, first) rows; resets."""
        with self._lock:
            tallies, self._tallies = self._tallies, {}
            unlogged, self._unlogged, self._logged = self._unlogged, 0, 0
        if unlogged:
            total = sum(t.count for t in tallies.values())
            log.warning("refused %d more attempts (%d in all from %d peers) since the last count",
                        unlogged, total, len({k[0] for k in tallies}))
        return [(peer, hid, reason, t.count, t.first) for (peer, hid, reason), t in tallies.items()]
