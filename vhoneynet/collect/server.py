"""`vhoneynet collector serve`: HTTPS endpoint that authenticates honeynets and stores their events.

POST /v1/events with `Authorization: Bearer <token>`, `X-Vhn-Honeynet: <id>` and a
`Content-Length`, body `{"events": [...]}` in the honeynet's order (see collect.wire).
Answers: 200 `{received, stored, last_seq}`; 422 `{error, rejected: [{index, key, field,
reason}]}` and nothing stored when a record is bad; 400 (not a batch, bad HTTP), 401 (wrong or
missing credentials), 404/405, 411 (no Content-Length, or chunked), 413 (too large), 503
(database busy or away: try again). A self-signed certificate is made at first start.

The server faces the internet, so every client is held to bounds: at most `connections` at
once (more are closed at once); the TLS handshake runs in the connection's own task with a
deadline, never in the accept loop; the request head must arrive within `head` seconds of the
first byte (slowloris), a kept-alive connection may idle `idle` seconds, the body must arrive
within `body` seconds; the credentials are checked before a byte of the body is read, and
`0 <= Content-Length <= max_body` before that; at most `bodies` bodies are held at once. Database
work runs in `database` threads, each holding one connection of a bounded pool. Refusals are
counted (collect.refusals).

Stack: asyncio streams from the standard library for connections and TLS, h11 for HTTP/1.1
parsing, psycopg_pool for the database. Weighed against the alternatives (2026): `http.server`
spends a thread per connection, so an idle or slow client holds a worker until its timeout and
a bounded pool falls to as many idle clients as it has threads, where asyncio holds an idle
client for the price of a socket; uvicorn has no deadline for the request head (its
keep-alive timer restarts on every byte, uvicorn issue #157) nor a handshake timeout of ours;
hypercorn's keep-alive and read timeouts are re-armed by every read, and it brings h2/wsproto;
gunicorn's sync workers need a buffering proxy in front against slow clients. h11 is the
sans-I/O parser under uvicorn and httpx (one small pure-Python wheel, also in Debian 12): it
rejects malformed framing (negative or non-numeric Content-Length, bad header syntax) and
bounds the head's size, and leaves every deadline and limit to us.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import h11

from vhoneynet import naming
from vhoneynet.backend.process import run
from vhoneynet.collect import wire
from vhoneynet.collect.database import CollectorDatabase, RecordsRefused
from vhoneynet.collect.refusals import Refusals
from vhoneynet.errors import CollectorDatabaseError

ENDPOINT = "/v1/events"
MAX_TOKEN = 256
LINGER, LINGER_BYTES = 1.0, 1 << 20  # after an early answer: at most this long, this much read and dropped
log = logging.getLogger("vhoneynet.collector")
_ID = re.compile(naming.ID_PATTERN)


@dataclass(frozen=True)
class Limits:
    """What one client may cost the collector; seconds, bytes, counts."""

    connections: int = 512
    handshake: float = 10.0
    head: float = 10.0
    idle: float = 30.0
    body: float = 60.0
    max_body: int = 16 << 20
    max_head: int = 16 << 10
    database: int = 8
    bodies: int = 16
    refusal_interval: float = 60.0


def ensure_certificate(state: Path, hostname: str) -> tuple[Path, Path]:
    """cert.pem and key.pem under `state`, self-signed for `hostname`, made once."""
    cert, key = state / "cert.pem", state / "key.pem"
    if not (cert.exists() and key.exists()):
        state.mkdir(parents=True, exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", f"/CN={hostname}", "-addext", f"subjectAltName=DNS:{hostname},IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)])
        key.chmod(0o600)
    return cert, key


class _Reply(Exception):
    """Answer the current request with `status` and `payload`, then close if `close`."""

    def __init__(self, status: int, payload: dict, close: bool = True):
        super().__init__(status)
        self.status, self.payload, self.close = status, payload, close


class CollectorServer:
    """The collector on `address`: `start()` binds it (then `port` is known), `serve()` serves until
    its task is cancelled. Raises CollectorDatabaseError when the database cannot be reached."""

    def __init__(self, address: tuple[str, int], dsn: str, cert: Path, key: Path, limits: Limits = Limits()):
        self.address, self.limits, self.cert = address, limits, cert
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self.db = CollectorDatabase(dsn, size=limits.database)
        self.db.create_schema()
        self.refusals = Refusals()
        self.workers = ThreadPoolExecutor(limits.database, thread_name_prefix="vhn-collector-db")
        self.active = 0
        self.port = 0
        self._bodies = asyncio.Semaphore(limits.bodies)
        self._clients: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self._flusher: asyncio.Task | None = None

    async def start(self) -> None:
        """Listen; returns once the socket is bound."""
        self._server = await asyncio.start_server(self._connection, *self.address, backlog=1024,
                                                  limit=self.limits.max_head)
        self.port = self._server.sockets[0].getsockname()[1]
        self._flusher = asyncio.create_task(self._flush_refusals())

    async def serve(self) -> None:
        """Serve until cancelled, then store the refusals counted so far and release the database."""
        try:
            await self._server.serve_forever()
        finally:
            self._server.close()
            self._flusher.cancel()
            for task in self._clients:  # the server's close leaves its connections open (before 3.13)
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._store_refusals()
            self.workers.shutdown(wait=True)
            self.db.close()

    # --- one connection ----------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("?",))[0]
        if self.active >= self.limits.connections:
            self.refusals.count(peer, None, "too many connections")
            writer.transport.abort()
            return
        self.active += 1
        task = asyncio.current_task()
        self._clients.add(task)
        try:
            async with asyncio.timeout(self.limits.handshake):
                await writer.start_tls(self.context)
            await self._requests(reader, writer, peer)
        except (TimeoutError, OSError, ssl.SSLError, h11.ProtocolError, asyncio.IncompleteReadError):
            pass  # a client that stalls, hangs up or speaks badly is dropped; it costs nothing more
        finally:
            try:
                writer.close()  # sends TLS close_notify after what is still buffered
                async with asyncio.timeout(LINGER):
                    await writer.wait_closed()
            except (TimeoutError, OSError, ssl.SSLError):
                pass
            finally:
                writer.transport.abort()
                self.active -= 1
                self._clients.discard(task)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head)
        first = True
        while True:
            try:
                request = await self._head(conn, reader, first)
                if request is None:
                    return
                payload = await self._handle(conn, reader, request, peer)
                await self._send(conn, writer, 200, payload, close=False)
            except _Reply as reply:
                await self._send(conn, writer, reply.status, reply.payload, close=reply.close)
                if reply.close:
                    await _linger(reader)
                    return
            except h11.RemoteProtocolError as e:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._send(conn, writer, e.error_status_hint, {"error": f"bad HTTP request: {e}"}, close=True)
                return
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
            first = False

    async def _head(self, conn: h11.Connection, reader: asyncio.StreamReader, first: bool) -> h11.Request | None:
        """The next request's head; None when the client closed between requests. A first byte must
        come within `head` (first request) or `idle` (kept alive) seconds, the rest within `head`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.limits.head if first else self.limits.idle)
        started = False
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                return event
            if isinstance(event, h11.ConnectionClosed):
                return None
            async with asyncio.timeout_at(deadline):
                data = await reader.read(65536)
            if not started and data:
                started, deadline = True, loop.time() + self.limits.head
            conn.receive_data(data)

    async def _handle(self, conn: h11.Connection, reader: asyncio.StreamReader, request: h11.Request, peer: str) -> dict:
        """Check the request in order of cost (path, framing, credentials, body) and store the batch."""
        if request.target.split(b"?")[0] != ENDPOINT.encode():
            raise _Reply(404, {"error": "not found"})
        if request.method != b"POST":
            raise _Reply(405, {"error": "only POST"})
        headers = {name.decode().lower(): value for name, value in request.headers}
        if b"chunked" in headers.get("transfer-encoding", b"").lower():
            raise _Reply(411, {"error": "Content-Length is required (no chunked bodies)"})
        length = headers.get("content-length")
        if length is None:
            raise _Reply(411, {"error": "Content-Length is required"})
        if int(length) > self.limits.max_body:  # h11 let through only digits
            raise _Reply(413, {"error": f"batch larger than {self.limits.max_body} bytes"})
        hid, token = self._credentials(headers, peer)
        if not await self._in_worker(self.db.authorized, hid, token):
            self._refuse(peer, hid, "wrong credentials")
        async with self._bodies:  # bodies held in memory at once: at most `bodies` x max_body bytes
            body = await self._body(conn, reader)
            return await self._in_worker(self._store, hid, body)

    def _credentials(self, headers: dict[str, bytes], peer: str) -> tuple[str, str]:
        hid = headers.get("x-vhn-honeynet", b"").decode(errors="replace")
        auth = headers.get("authorization", b"").decode(errors="replace")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not _ID.match(hid):
            self._refuse(peer, None, "no honeynet id" if not hid else "malformed honeynet id")
        if not token or len(token) > MAX_TOKEN:
            self._refuse(peer, hid, "no credentials" if not token else "malformed credentials")
        return hid, token

    def _refuse(self, peer: str, hid: str | None, reason: str) -> None:
        self.refusals.count(peer, hid, reason)
        raise _Reply(401, {"error": reason})

    async def _body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        async with asyncio.timeout(self.limits.body):
            while True:
                event = conn.next_event()
                if isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    return b"".join(chunks)
                elif event is h11.NEED_DATA:
                    data = await reader.read(1 << 16)
                    if not data:
                        raise asyncio.IncompleteReadError(b"", None)
                    conn.receive_data(data)
                else:
                    raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in the body")

    def _store(self, hid: str, body: bytes) -> dict:
        """Decode, check and store one batch (in a worker thread: parsing a large body takes a while)."""
        try:
            events = wire.decode(body)
        except wire.BadBatch as e:
            raise _Reply(400, {"error": str(e)}, close=False) from None
        rejected = wire.rejections(events)
        if rejected:
            raise _Reply(422, {"error": f"{len(rejected)} of {len(events)} events cannot be stored; nothing was stored",
                               "rejected": [r.as_dict() for r in rejected]}, close=False)
        try:
            stored = self.db.insert(hid, events)
        except RecordsRefused as e:
            raise _Reply(422, {"error": f"{len(e.refused)} of {len(events)} events refused by the database; "
                                        "nothing was stored",
                               "rejected": [{"index": i, "key": events[i]["key"], "field": "",
                                             "reason": f"refused by the database: {reason}"}
                                            for i, reason in e.refused.items()]}, close=False) from None
        return {"received": len(events), "stored": stored, "last_seq": events[-1]["seq"] if events else None}

    async def _in_worker(self, fn: Callable, *args: object):
        try:
            return await asyncio.get_running_loop().run_in_executor(self.workers, fn, *args)
        except CollectorDatabaseError as e:
            log.error("%s", e)
            raise _Reply(503, {"error": "the collector's database is unavailable; try again later"}) from None

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, payload: dict,
                    close: bool) -> None:
        data = json.dumps(payload).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if close:
            headers.append(("Connection", "close"))
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
        writer.write(conn.send(h11.Data(data=data)))
        writer.write(conn.send(h11.EndOfMessage()))
        async with asyncio.timeout(self.limits.body):  # a client that does not read its answer
            await writer.drain()

    # --- refusals ----------------------------------------------------------

    async def _flush_refusals(self) -> None:
        while True:
            await asyncio.sleep(self.limits.refusal_interval)
            await self._store_refusals()

    async def _store_refusals(self) -> None:
        rows = self.refusals.drain()
        if rows:
            with contextlib.suppress(CollectorDatabaseError):
                await asyncio.get_running_loop().run_in_executor(self.workers, self.db.record_refusals, rows)


async def _linger(reader: asyncio.StreamReader) -> None:
    """After answering before the body was read: read and drop what the client is still sending, for
    a bounded time and amount, so closing with unread data (a TCP reset) does not destroy the answer
    on its way (as a lingering close does in other servers)."""
    received = 0
    with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
        async with asyncio.timeout(LINGER):
            while received < LINGER_BYTES and (data := await reader.read(1 << 16)):
                received += len(data)


def serve(dsn: str, host: str, port: int, state: Path, ready: Callable[[CollectorServer], None] | None = None,
          limits: Limits = Limits()) -> None:
    """Run the collector until interrupted; `ready(server)` is called once it listens.
    Raises CollectorDatabaseError when the database cannot be reached at start."""
    cert, key = ensure_certificate(state, host if not host[0].isdigit() else "localhost")
    server = CollectorServer((host, port), dsn, cert, key, limits)

    async def main() -> None:
        await server.start()
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # stop as on ^C
        if ready:
            ready(server)
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve()

    asyncio.run(main())


@contextlib.contextmanager
def background(dsn: str, state: Path, limits: Limits = Limits(), host: str = "127.0.0.1") -> Iterator[CollectorServer]:
    """The collector serving in a thread of this process on a free port of `host` (for embedding it,
    and for benchmarks); stopped, with its refusals stored, on exit."""
    cert, key = ensure_certificate(state, "localhost")
    server = CollectorServer((host, 0), dsn, cert, key, limits)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def main() -> None:
        await server.start()
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve()

    task = loop.create_task(main())
    thread = threading.Thread(target=loop.run_until_complete, args=(task,), name="vhn-collector", daemon=True)
    thread.start()
    try:
        if not started.wait(30):
            raise RuntimeError("collector did not start")
        yield server
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        loop.close()
