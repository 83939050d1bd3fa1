"""Delivery of a honeynet's events from its local store to the collector: in order, exactly once.

The local store is the spool: a cursor per collector says up to which `seq` delivery was
confirmed. A batch is sent, and only after the collector answered 200 does the cursor move;
a batch sent twice (no answer, then resent) is stored once thanks to the events' keys.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from vhoneynet.capture.store import CaptureStore
from vhoneynet.errors import CollectorRefused, CollectorUnavailable
from vhoneynet.topology.model import Collect

BATCH = 500


def ship(store: CaptureStore, collect: Collect, batch: int = BATCH, timeout: float = 30) -> int:
    """Send every event not yet confirmed by the collector; returns how many were delivered.
    Raises CollectorUnavailable (events stay spooled) or CollectorRefused (wrong token)."""
    target = collect.url
    context = ssl.create_default_context(cafile=str(collect.ca) if collect.ca else None)
    delivered = 0
    while events := store.pending(target, batch):
        body = json.dumps({"events": [_wire(e) for e in events]}).encode()
        request = urllib.request.Request(
            collect.url.rstrip("/") + "/v1/events", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {collect.token}",
                     "X-Vhn-Honeynet": store.hid})
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
                reply.read()
        except urllib.error.HTTPError as e:
            raise CollectorRefused(target, e.code, e.read().decode(errors="replace")) from None
        except (urllib.error.URLError, OSError) as e:
            raise CollectorUnavailable(target, str(getattr(e, "reason", e))) from None
        store.mark_shipped(target, events[-1]["seq"])
        delivered += len(events)
    return delivered


def _wire(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "honeynet"}
