"""Publishing a honeynet's events to an hpfeeds broker (the Honeynet Project's pub/sub), one
channel per event type (`vhoneynet.<type>`), so the data fits existing honeypot tooling.

The wire protocol is small (info, auth, publish; a 5-byte header each), so it is spoken here
with the standard library. hpfeeds has no acknowledgement: a batch counts as delivered once
the broker accepted the connection and did not answer with an error before closing it.
A broker cannot say which record it disliked, so each event is checked here as the collector
checks it (collect.wire), and one that fails, or exceeds the broker's message size, is
quarantined (collect.quarantine) instead of stopping publication for good.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct

from vhoneynet.capture.store import CaptureStore
from vhoneynet.collect import wire
from vhoneynet.collect.quarantine import quarantine
from vhoneynet.errors import CollectorRefused, CollectorUnavailable
from vhoneynet.topology.model import Hpfeeds

OP_ERROR, OP_INFO, OP_AUTH, OP_PUBLISH = 0, 1, 2, 3
BATCH = 500
MAX_MESSAGE = 1 << 20  # hpfeeds brokers refuse larger messages


def channel(event_type: str) -> str:
    return f"vhoneynet.{event_type}"


def publish(store: CaptureStore, feed: Hpfeeds, batch: int = BATCH, timeout: float = 10) -> int:
    """Publish every event not yet published to this broker, in store order; returns how many
    (quarantined events not counted). Raises CollectorUnavailable (events stay spooled) or
    CollectorRefused (broker error)."""
    target = f"hpfeeds://{feed.host}:{feed.port}/{feed.ident}"
    sent = 0
    while events := store.pending(target, batch):
        messages = [_message(OP_PUBLISH, _str(feed.ident) + _str(channel(e["type"])) + payload)
                    for e in events if (payload := _payload(store, target, e)) is not None]
        if messages:
            _send(feed, target, messages, timeout)
        store.mark_shipped(target, events[-1]["seq"])
        sent += len(messages)
    return sent


def _send(feed: Hpfeeds, target: str, messages: list[bytes], timeout: float) -> None:
    try:
        sock = socket.create_connection((feed.host, feed.port), timeout=timeout)
    except OSError as e:
        raise CollectorUnavailable(target, str(e)) from None
    with sock:
        try:
            _authenticate(sock, feed)
            for message in messages:
                sock.sendall(message)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            _expect_no_error(sock, target)  # a refusal (bad secret, channel) explains the broken pipe
            raise CollectorUnavailable(target, str(e)) from None
        _expect_no_error(sock, target)


def _payload(store: CaptureStore, target: str, event: dict) -> bytes | None:
    """The message body of one event, or None when it was quarantined instead."""
    problem = wire.check_event(event)
    if problem is None:
        payload = json.dumps({"honeynet": store.hid, **event}, allow_nan=False).encode()
        if len(payload) <= MAX_MESSAGE - 600:  # room for the header, ident and channel
            return payload
        problem = ("", f"larger than the broker's {MAX_MESSAGE} bytes")
    quarantine(store, target, event, *problem)
    return None


def _authenticate(sock: socket.socket, feed: Hpfeeds) -> None:
    opcode, body = _read(sock)
    if opcode != OP_INFO:
        raise OSError(f"broker sent opcode {opcode} instead of its info")
    name_len = body[0]
    rand = body[1 + name_len:1 + name_len + 4]
    digest = hashlib.sha1(rand + feed.secret.get_secret_value().encode()).digest()
    sock.sendall(_message(OP_AUTH, _str(feed.ident) + digest))


def _expect_no_error(sock: socket.socket, target: str) -> None:
    """After our last message the broker closes quietly, or says what was wrong."""
    try:
        opcode, body = _read(sock)
    except OSError:
        return
    if opcode == OP_ERROR:
        raise CollectorRefused(target, 0, body.decode(errors="replace"))


def _read(sock: socket.socket) -> tuple[int, bytes]:
    header = _exactly(sock, 5)
    length, opcode = struct.unpack("!IB", header)
    return opcode, _exactly(sock, length - 5)


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def _message(opcode: int, body: bytes) -> bytes:
    return struct.pack("!IB", 5 + len(body), opcode) + body


def _str(text: str) -> bytes:
    raw = text.encode()
    return bytes([len(raw)]) + raw
