"""Where a honeynet's captures are, and one pass of the host-side work on them: retention,
ingestion into the local store, delivery to the collector named by the topology."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vhoneynet.backend.netlink import HostNet
from vhoneynet.capture import archive, quota
from vhoneynet.capture.records import iso
from vhoneynet.capture.store import CaptureStore, address_map
from vhoneynet.errors import BadTimeSpec, CaptureNotFound, VhoneynetError
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology.model import DEFAULT_STORAGE, Collect, Topology


@dataclass(frozen=True)
class Captures:
    """The capture folder of one honeynet and what its topology says about it (if known)."""

    folder: CaptureFolder
    topology: Topology | None

    @property
    def hid(self) -> str:
        return self.folder.hid

    @property
    def root(self) -> Path:
        return self.folder.root

    @property
    def collect(self) -> Collect | None:
        return self.topology.collect if self.topology else None

    @property
    def retention_days(self) -> int | None:
        return self.topology.gateway.capture.retention_days if self.topology else None

    def store(self) -> CaptureStore:
        return CaptureStore(self.root, self.hid, address_map(self.topology))


def locate(hid: str, storage: Path = DEFAULT_STORAGE, capture_dir: Path | None = None,
           topology: Topology | None = None) -> Captures:
    """The captures of `hid`: from an explicit folder, the topology given, or the running honeynet's
    saved topology (default `<storage>/captures`). Raises InvalidName, CaptureNotFound."""
    run = RunDir(storage, hid)
    topo = topology or run.topology()
    folder = run.captures(capture_dir, topo)
    if not folder.root.is_dir():
        raise CaptureNotFound(hid, str(folder.root.parent))
    return Captures(folder, topo)


def refresh(captures: Captures, store: CaptureStore) -> dict:
    """Retention, ingestion and delivery, once. Delivery problems are reported, never raised:
    the events stay spooled in the store until the next pass."""
    result: dict = {"removed_days": [], "ingested": 0, "shipped": None, "ship_error": None}
    if captures.retention_days:
        result["removed_days"] = archive.apply_retention(captures.root, captures.retention_days)
    result["quota"] = quota.enforce(captures.root, captures.topology, HostNet)  # control wins over a full share
    result["ingested"] = store.ingest()
    collect = captures.collect
    if collect is not None:
        # Imported here: ssl and sockets are loaded only when a collector is named.
        from vhoneynet.collect import hpfeeds, quarantine, shipper

        errors = []
        before = quarantine.count(store)
        try:
            result["shipped"] = shipper.ship(store, collect)
        except VhoneynetError as e:
            errors.append(str(e))
        if collect.hpfeeds is not None:
            try:
                result["published"] = hpfeeds.publish(store, collect.hpfeeds)
            except VhoneynetError as e:
                errors.append(str(e))
        result["ship_error"] = "; ".join(errors) or None
        result["quarantined"] = quarantine.count(store)
        result["newly_quarantined"] = result["quarantined"] - before
    return result


def follow(captures: Captures, store: CaptureStore, interval: float = 1.0, **filters):
    """Refresh (ingest, ship) every `interval` seconds and yield the new events matching `filters`."""
    last = store.last_seq()
    while True:
        result = refresh(captures, store)
        newest = store.last_seq()
        yield from store.query(after=last, **filters)
        last = newest
        if result["ship_error"]:
            yield {"warning": result["ship_error"]}
        if result.get("newly_quarantined"):
            yield {"quarantined": result["newly_quarantined"]}
        time.sleep(interval)


_AGE = re.compile(r"^(\d+)\s*([smhd])$")


def since_time(text: str, now: datetime | None = None) -> str:
    """`--since`: an ISO time or an age such as 15m; the store's time form. Raises BadTimeSpec."""
    m = _AGE.match(text.strip())
    if m:
        seconds = int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
        return iso((now or datetime.now(timezone.utc)) - timedelta(seconds=seconds))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadTimeSpec(text) from None
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
