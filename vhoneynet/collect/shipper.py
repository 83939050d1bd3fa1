"""Delivery of a honeynet's events from its local store to the collector: in order, exactly once.

The local store is the spool: a cursor per collector says up to which `seq` delivery was
confirmed. A batch is sent, and only after the collector answered 200 does the cursor move;
a batch sent twice (no answer, then resent) is stored once thanks to the events' keys.
A record that can never be delivered does not hold the cursor back: one that cannot even be
encoded, or is larger than any valid event, is quarantined here; one the collector rejects
(422, naming it) is quarantined and the rest of its batch is sent again; a batch refused as a
whole (400, 413) is halved until the record at fault is found (collect.quarantine).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from vhoneynet.capture.store import CaptureStore
from vhoneynet.collect import wire
from vhoneynet.collect.quarantine import quarantine
from vhoneynet.errors import CollectorBadAnswer, CollectorRefused, CollectorUnavailable
from vhoneynet.topology.model import Collect

BATCH = 500
MAX_BATCH_BYTES = 4 << 20  # well under the collector's 16 MiB, so a batch of large events still goes
RETRY_LATER = (408, 429, 500, 502, 503, 504)
BATCH_REFUSED = (400, 413, 422)  # about the batch's content: records are set aside, never sent forever


def ship(store: CaptureStore, collect: Collect, batch: int = BATCH, timeout: float = 30) -> int:
    """Send every event not yet confirmed by the collector; returns how many were delivered
    (quarantined events not counted). Raises CollectorUnavailable (events stay spooled),
    CollectorRefused (wrong token, wrong URL) or CollectorBadAnswer."""
    target = collect.url
    context = ssl.create_default_context(cafile=str(collect.ca) if collect.ca else None)
    batch = min(batch, wire.MAX_EVENTS)
    delivered = 0
    while events := store.pending(target, batch):
        sending, encoded, last = _prepare(store, target, events)
        delivered += _deliver(store, collect, sending, encoded, context, timeout)
        store.mark_shipped(target, last)
    return delivered


def _deliver(store: CaptureStore, collect: Collect, events: list[dict], encoded: list[bytes],
             context: ssl.SSLContext, timeout: float) -> int:
    """Deliver `events` in order, quarantining what the collector refuses for good; returns how many
    were stored. A 422 names the bad records: they are set aside and the rest sent again. A 400 or
    413 refuses the batch as a whole: it is halved until the record at fault is alone, and that one
    is set aside. Each round removes a record or halves a part, so the rounds are bounded."""
    target, delivered = collect.url, 0
    parts = [(events, encoded)] if events else []
    while parts:
        events, encoded = parts.pop(0)
        status, answer = _post(collect, store.hid, wire.batch_body(encoded), context, timeout)
        if status == 200:
            delivered += len(events)
        elif status == 422:
            rejected = _rejected(target, answer, len(events))
            for index, (field, reason) in rejected.items():
                quarantine(store, target, events[index], field, f"refused by the collector: {reason}")
            kept = [i for i in range(len(events)) if i not in rejected]
            if kept:
                parts.insert(0, ([events[i] for i in kept], [encoded[i] for i in kept]))
        elif len(events) == 1:
            detail = answer.decode(errors="replace")[:300]
            quarantine(store, target, events[0], "", f"refused by the collector as a whole ({status}): {detail}")
        else:
            half = len(events) // 2
            parts[0:0] = [(events[:half], encoded[:half]), (events[half:], encoded[half:])]
    return delivered


def _prepare(store: CaptureStore, target: str, events: list[dict]) -> tuple[list[dict], list[bytes], int]:
    """The events to send now, encoded, within MAX_BATCH_BYTES, and the seq the cursor may move to
    once they are delivered (past those quarantined on the way)."""
    sending: list[dict] = []
    encoded: list[bytes] = []
    size, last = 0, events[0]["seq"]
    for event in events:
        try:
            data = wire.encode_event(event)
        except (ValueError, TypeError, RecursionError) as e:
            quarantine(store, target, event, "", f"cannot be encoded as JSON: {str(e)[:200]}")
            last = event["seq"]
            continue
        if len(data) > wire.MAX_EVENT_BYTES:
            quarantine(store, target, event, "", f"larger than {wire.MAX_EVENT_BYTES} bytes encoded")
            last = event["seq"]
            continue
        if sending and size + len(data) > MAX_BATCH_BYTES:
            break
        sending.append(event)
        encoded.append(data)
        size, last = size + len(data) + 2, event["seq"]
    return sending, encoded, last


def _post(collect: Collect, hid: str, body: bytes, context: ssl.SSLContext, timeout: float) -> tuple[int, bytes]:
    """POST one batch; (200 or one of BATCH_REFUSED, answer). Raises CollectorRefused (credentials,
    wrong URL) or CollectorUnavailable."""
    request = urllib.request.Request(
        collect.url.rstrip("/") + "/v1/events", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {collect.token.get_secret_value()}",
                 "X-Vhn-Honeynet": hid})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            return reply.status, reply.read(1 << 20)
    except urllib.error.HTTPError as e:
        answer = e.read(1 << 20)
        if e.code in BATCH_REFUSED and (e.code != 400 or _collector_json(answer)):
            return e.code, answer  # a 400 of something else (a proxy's page) says nothing of the records
        detail = answer.decode(errors="replace")[:500]
        if e.code in RETRY_LATER:
            raise CollectorUnavailable(collect.url, f"{e.code} {detail}") from None
        raise CollectorRefused(collect.url, e.code, detail) from None
    except (urllib.error.URLError, OSError) as e:
        raise CollectorUnavailable(collect.url, str(getattr(e, "reason", e))) from None


def _collector_json(answer: bytes) -> bool:
    try:
        return isinstance(json.loads(answer).get("error"), str)
    except (ValueError, AttributeError):
        return False


def _rejected(target: str, answer: bytes, sent: int) -> dict[int, tuple[str, str]]:
    """index -> (field, reason) from a 422 answer; raises CollectorBadAnswer unless it names at
    least one of the records sent (so each round removes one, and the loop ends)."""
    try:
        items = json.loads(answer)["rejected"]
        rejected = {int(r["index"]): (str(r.get("field", "")), str(r.get("reason", ""))) for r in items}
    except (ValueError, KeyError, TypeError) as e:
        raise CollectorBadAnswer(target, f"422 without a usable list of rejected records ({e})") from None
    if not rejected or not all(0 <= i < sent for i in rejected):
        raise CollectorBadAnswer(target, f"422 naming records {sorted(rejected)[:10]} of a batch of {sent}")
    return rejected
