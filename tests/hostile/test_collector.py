"""The collector under clients that mean harm, against a real PostgreSQL server and the real server
on 127.0.0.1: idle TCP clients that never say hello, slowloris, lying Content-Lengths, bodies
without credentials, batches with bad records, floods of refusals, and all of it at once while
eight honeynets ship (a short load test: every event stored exactly once)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.conftest import unique_id
from tests.integration import postgres
from vhoneynet.capture import session
from vhoneynet.capture.store import CaptureStore
from vhoneynet.collect import quarantine
from vhoneynet.collect.database import CollectorDatabase, RecordsRefused
from vhoneynet.collect.server import Limits, background
from vhoneynet.collect.shipper import ship
from vhoneynet.errors import CollectorUnavailable
from vhoneynet.rundir import SHARE, RunDir
from vhoneynet.topology.model import Collect, Topology

pytestmark = [pytest.mark.root, pytest.mark.skipif(not postgres.available(), reason="needs root and PostgreSQL")]
DAY = "2026-11-29"
# short deadlines keep the tests short; each assertion below stays well inside them
LIMITS = Limits(handshake=3, head=2, idle=3, body=4, max_body=1 << 20, refusal_interval=3600)
PROMPT = 2.0  # an answer that must come "at once": well inside the body deadline (4 s) a server waiting for it would use


@pytest.fixture(scope="module")
def dsn():
    with postgres.cluster() as dsn:
        yield dsn


@pytest.fixture(scope="module")
def collector(dsn: str, tmp_path_factory):
    with background(dsn, tmp_path_factory.mktemp("collector"), LIMITS) as server:
        yield server


def url(server) -> str:
    return f"https://127.0.0.1:{server.port}"


def registered(dsn: str, server, hid: str) -> Collect:
    db = CollectorDatabase(dsn)
    try:
        token = db.add_honeynet(hid)
    finally:
        db.close()
    return Collect(url=url(server), token=token, ca=server.cert)


def honeynet(tmp_path: Path, hid: str, count: int) -> CaptureStore:
    """A local store with `count` syslog events."""
    root = tmp_path / hid
    (root / SHARE / DAY / "syslog").mkdir(parents=True)
    with (root / SHARE / DAY / "syslog" / "web.log").open("w") as f:
        for i in range(count):
            f.write(f"2026-11-29T02:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}+00:00 203.0.113.80 web app: line {i}\n")
    store = CaptureStore(root, hid, {"203.0.113.80": "web"})
    store.ingest()
    return store


def stored(dsn: str, hid: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT seq, key FROM vhn_events WHERE honeynet = %s ORDER BY seq", (hid,)).fetchall()


def tls(port: int, timeout: float = 10) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout), server_hostname="localhost")


def exchange(port: int, head: str, body: bytes = b"") -> tuple[int, dict, float]:
    """Send a raw request head (and body); (status, JSON answer, seconds until the answer came)."""
    with tls(port) as sock:
        started = time.monotonic()
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        answer = json.loads(reply.read() or b"{}")
        return reply.status, answer, time.monotonic() - started


def post_head(length: str | None, hid: str = "", token: str = "", extra: str = "") -> str:
    lines = ["POST /v1/events HTTP/1.1", "Host: collector", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if hid:
        lines.append(f"X-Vhn-Honeynet: {hid}")
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\n".join(lines + ([extra] if extra else [])) + "\n"


@contextmanager
def idle_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """TCP connections that never send a TLS hello."""
    with ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10)) for _ in range(count)]


def test_idle_tcp_clients_do_not_stall_a_shipper(collector, dsn: str, tmp_path: Path):
    hid = unique_id()
    collect = registered(dsn, collector, hid)
    with honeynet(tmp_path, hid, 50) as store, idle_clients(collector.port, 8):
        started = time.monotonic()
        assert ship(store, collect, timeout=10) == 50
        took = time.monotonic() - started
    assert took < LIMITS.handshake, f"shipping took {took:.1f}s behind idle clients"
    assert len(stored(dsn, hid)) == 50


def test_idle_tcp_client_is_dropped_after_the_handshake_deadline(collector):
    with idle_clients(collector.port, 1) as (sock,):
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, not by our 10 s timeout
    assert time.monotonic() - started < LIMITS.handshake + 1.5


def test_slowloris_is_dropped_and_others_are_served(collector, dsn: str, tmp_path: Path):
    hid = unique_id()
    collect = registered(dsn, collector, hid)
    head = post_head("10", hid, "x" * 40).replace("\n", "\r\n").encode()
    sent, dropped = 0, threading.Event()

    def trickle() -> None:
        nonlocal sent
        with tls(collector.port) as sock:
            try:
                for byte in head:  # ~8 s at this pace, four times the head deadline
                    sock.sendall(bytes([byte]))
                    sent += 1
                    time.sleep(0.05)
                sock.recv(1)
            except OSError:
                pass
            dropped.set()

    thread = threading.Thread(target=trickle)
    started = time.monotonic()
    thread.start()
    with honeynet(tmp_path, hid, 20) as store:
        time.sleep(0.5)
        assert ship(store, collect, timeout=10) == 20  # served while the slow client trickles
    assert dropped.wait(LIMITS.head * 2 + 2)
    thread.join(5)
    assert sent < len(head), "the slow client got its whole head in"
    assert time.monotonic() - started < LIMITS.head * 2 + 2


def test_a_kept_alive_connection_is_closed_after_the_idle_deadline(collector, dsn: str):
    hid = unique_id()
    token = registered(dsn, collector, hid).token.get_secret_value()
    with tls(collector.port) as sock:
        body = b'{"events": []}'
        sock.sendall(post_head(str(len(body)), hid, token).replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        reply.read()
        assert reply.status == 200 and reply.getheader("Connection") is None  # kept alive
        started = time.monotonic()
        assert sock.recv(1) == b""
    assert LIMITS.idle - 0.5 < time.monotonic() - started < LIMITS.idle + 2


@pytest.mark.parametrize(("length", "extra", "status"), [
    ("-1", "", 400),
    ("abc", "", 400),
    ("1e9", "", 400),
    (str(10**15), "", 413),
    (None, "", 411),
    (None, "Transfer-Encoding: chunked", 411),
])
def test_bad_content_length_is_answered_at_once(collector, length, extra, status):
    code, answer, took = exchange(collector.port, post_head(length, extra=extra))
    assert code == status and "error" in answer
    assert took < PROMPT


@pytest.mark.parametrize("credentials", ["none", "wrong token", "unknown honeynet", "bad id"])
def test_credentials_are_checked_before_the_body_is_read(collector, dsn: str, credentials: str):
    hid = unique_id()
    registered(dsn, collector, hid)
    hid, token = {"none": ("", ""), "wrong token": (hid, "y" * 43), "unknown honeynet": (unique_id(), "y" * 43),
                  "bad id": ("../../etc", "y" * 43)}[credentials]
    # a length the collector would accept, and no body at all: an answer that waited for the body never comes
    code, answer, took = exchange(collector.port, post_head(str(LIMITS.max_body), hid, token))
    assert code == 401 and answer["error"]
    assert took < PROMPT


def test_a_batch_with_bad_records_is_refused_naming_each(collector, dsn: str):
    hid = unique_id()
    token = registered(dsn, collector, hid).token.get_secret_value()
    good = {"key": "k1", "seq": 1, "time": "2026-11-29T02:00:00Z", "type": "syslog", "summary": "ok", "data": {}}
    deep: dict = {}
    for _ in range(100):
        deep = {"d": deep}
    bad = [
        {**good, "key": "k2", "seq": 2, "sport": 70000},
        {**good, "key": "k3", "seq": 3, "summary": "nul \x00 inside"},
        {**good, "key": "k4", "seq": 4, "data": deep},
        {**good, "key": "k5", "seq": 5, "src": "not-an-address"},
        {**good, "key": "k6", "seq": -6},
        {**good, "key": "k7", "seq": 7, "type": "bogus"},
        {**good, "key": "k8", "seq": 8, "time": "yesterday"},
        "not an object",
    ]
    body = json.dumps({"events": [good, *bad]}).encode()
    code, answer, _ = exchange(collector.port, post_head(str(len(body)), hid, token), body)
    assert code == 422
    named = {(r["index"], r["key"], r["field"]) for r in answer["rejected"]}
    assert named == {(1, "k2", "sport"), (2, "k3", "summary"), (3, "k4", "data"), (4, "k5", "src"),
                     (5, "k6", "seq"), (6, "k7", "type"), (7, "k8", "time"), (8, None, "")}
    assert all(r["reason"] for r in answer["rejected"])
    assert stored(dsn, hid) == []  # all or nothing


def test_shipper_quarantines_rejected_records_and_moves_on(collector, dsn: str, tmp_path: Path):
    hid = unique_id()
    collect = registered(dsn, collector, hid)
    with honeynet(tmp_path, hid, 10) as store:
        with store.db:  # records the collector refuses (a NUL PostgreSQL cannot store; a port out of range)
            store.db.execute("UPDATE events SET summary = 'a' || char(0) || 'b' WHERE seq = 3")
            store.db.execute("UPDATE events SET sport = 70000 WHERE seq = 7")
        assert ship(store, collect, batch=4, timeout=10) == 8
        assert store.shipped(collect.url) == 10
        rows = quarantine.quarantined(store, collect.url)
        assert [(r["seq"], r["field"]) for r in rows] == [(3, "summary"), (7, "sport")]
        assert "refused by the collector" in rows[0]["reason"]
        # a later good batch arrives too
        with (store.root / SHARE / DAY / "syslog" / "web.log").open("a") as f:
            f.write("2026-11-29T03:00:00.000000+00:00 203.0.113.80 web app: later\n")
        store.ingest()
        captures = session.locate(hid, tmp_path / "storage", tmp_path, Topology(id=hid, collect=collect))
        result = session.refresh(captures, store)  # what `events` and the follower run
        assert (result["shipped"], result["ship_error"], result["quarantined"], result["newly_quarantined"]) == (1, None, 2, 0)
    assert [seq for seq, _ in stored(dsn, hid)] == [1, 2, 4, 5, 6, 8, 9, 10, 11]


def test_a_record_postgresql_refuses_is_named_and_nothing_is_stored(dsn: str):
    hid = unique_id()
    db = CollectorDatabase(dsn)
    try:
        db.create_schema()
        good = {"key": "k1", "seq": 1, "time": "2026-11-29T02:00:00Z", "type": "syslog", "summary": "ok", "data": {}}
        with pytest.raises(RecordsRefused) as refused:  # values past the checks (a port beyond INTEGER)
            db.insert(hid, [good, {**good, "key": "k2", "seq": 2, "sport": 1 << 40}, {**good, "key": "k3", "seq": 3}])
        assert list(refused.value.refused) == [1] and "out of range" in refused.value.refused[1]
        assert db.counts(hid) == {}
        assert db.insert(hid, [good]) == 1  # the connection is usable afterwards
    finally:
        db.close()


def test_a_batch_too_large_is_halved_until_the_record_at_fault_is_alone(dsn: str, tmp_path: Path):
    hid = unique_id()
    with background(dsn, tmp_path / "collector", Limits(max_body=4096)) as server:
        collect = registered(dsn, server, hid)
        with honeynet(tmp_path, hid, 30) as store:
            with store.db:
                store.db.execute("UPDATE events SET summary = ? WHERE seq = 17", ("x" * 5000,))
            assert ship(store, collect, timeout=10) == 29
            rows = quarantine.quarantined(store, collect.url)
    assert [(r["seq"], r["reason"][:41]) for r in rows] == [(17, "refused by the collector as a whole (413)")]
    assert [seq for seq, _ in stored(dsn, hid)] == [s for s in range(1, 31) if s != 17]


def test_the_run_folders_saved_topology_is_enough_to_ship(collector, dsn: str, tmp_path: Path):
    """What the follower and `events --follow` do: read the saved topology (secrets included), ship."""
    hid = unique_id()
    storage = tmp_path / "storage"
    collect = registered(dsn, collector, hid)
    RunDir(storage, hid).save(Topology(id=hid, host={"storage": storage}, collect=collect,
                                       gateway={"capture": {"directory": tmp_path}}))
    with honeynet(tmp_path, hid, 5) as store:
        result = session.refresh(session.locate(hid, storage), store)
    assert (result["shipped"], result["ship_error"]) == (5, None)
    assert len(stored(dsn, hid)) == 5


def test_many_refusals_make_a_bounded_number_of_rows(dsn: str, tmp_path: Path):
    hid = unique_id()
    attempts = 100
    with background(dsn, tmp_path / "collector", LIMITS) as server:
        registered(dsn, server, hid)
        for _ in range(attempts):
            code, _, _ = exchange(server.port, post_head("10", hid, "z" * 43))
            assert code == 401
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT reason, count FROM vhn_refused WHERE honeynet = %s", (hid,)).fetchall()
    assert rows == [("wrong credentials", attempts)]


def test_collector_away_is_unavailable_not_fatal(dsn: str, tmp_path: Path):
    with background(dsn, tmp_path / "collector", LIMITS) as server:
        collect = registered(dsn, server, unique_id())
    with honeynet(tmp_path, unique_id(), 3) as store, pytest.raises(CollectorUnavailable):
        ship(store, collect, timeout=3)


# --- load: many honeynets ship while hostile clients press --------------------


def _hostile(port: int, kind: str, stop: threading.Event) -> None:
    """One hostile client, repeating its trick until told to stop (each round bounded by timeouts)."""
    while not stop.is_set():
        try:
            if kind == "idle":
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.recv(1)
            elif kind == "slow":
                with tls(port) as sock:
                    for byte in b"POST /v1/events HTTP/1.1\r\nHost: x\r\n":
                        if stop.is_set():
                            break
                        sock.sendall(bytes([byte]))
                        time.sleep(0.2)
            else:  # oversized: a large body without credentials
                exchange(port, post_head(str(LIMITS.max_body)), b"A" * (256 << 10))
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.05)


def test_load_many_shippers_and_hostile_clients_store_every_event_once(collector, dsn: str, tmp_path: Path):
    honeynets, per_honeynet = 8, 2000
    hids = [unique_id() for _ in range(honeynets)]
    collects = {hid: registered(dsn, collector, hid) for hid in hids}
    stores = {hid: honeynet(tmp_path, hid, per_honeynet) for hid in hids}
    stop = threading.Event()
    hostile = [threading.Thread(target=_hostile, args=(collector.port, kind, stop), daemon=True)
               for kind in ["idle"] * 16 + ["slow"] * 8 + ["oversized"] * 4]
    failures: list[BaseException] = []

    def shipper(hid: str) -> None:
        try:
            with CaptureStore(stores[hid].root, hid) as store:  # its own SQLite connection, in its thread
                for attempt in range(20):  # a refused or dropped batch is sent again, as the follower does
                    try:
                        ship(store, collects[hid], batch=250, timeout=15)
                        return
                    except CollectorUnavailable:
                        time.sleep(0.2)
                raise AssertionError(f"{hid}: not delivered after 20 attempts")
        except BaseException as e:  # noqa: BLE001 (reported by the test thread)
            failures.append(e)

    try:
        for t in hostile:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        shippers = [threading.Thread(target=shipper, args=(hid,)) for hid in hids]
        for t in shippers:
            t.start()
        for t in shippers:
            t.join(240)
        took = time.monotonic() - started
    finally:
        stop.set()
        for t in hostile:
            t.join(15)
    assert not failures, failures
    for hid in hids:
        local = [(e["seq"], e["key"]) for e in stores[hid].query()]
        stores[hid].close()
        assert len(local) == per_honeynet
        assert stored(dsn, hid) == local  # every event once, in order, nothing else
    print(f"\n{honeynets * per_honeynet} events in {took:.1f}s with {len(hostile)} hostile clients")
