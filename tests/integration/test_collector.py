"""Central collection against a real PostgreSQL server and the real `vhoneynet collector serve`
(HTTPS, self-signed): per-honeynet tokens, two honeynets kept apart, nothing lost or doubled when
the collector is away for a while. The honeynets here are capture folders with synthetic logs;
tests/integration/test_capture.py ships a running honeynet's real events."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import unique_id
from tests.integration import postgres
from vhoneynet.capture.store import CaptureStore
from vhoneynet.collect.database import CollectorDatabase
from vhoneynet.collect.shipper import ship
from vhoneynet.errors import CollectorRefused, CollectorUnavailable
from vhoneynet.topology.model import Collect

pytestmark = [pytest.mark.root, pytest.mark.skipif(not postgres.available(), reason="needs root and PostgreSQL")]
DAY = "2026-11-29"


@pytest.fixture(scope="module")
def dsn():
    with postgres.cluster() as dsn:
        yield dsn


class Collector:
    """`vhoneynet collector serve` in a subprocess, restartable on the same port and certificate."""

    def __init__(self, dsn: str, state: Path):
        self.dsn, self.state, self.proc = dsn, state, None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "vhoneynet", "collector", "serve", "--dsn", self.dsn,
                                      "--listen", f"127.0.0.1:{self.port}", "--state", str(self.state)],
                                     stderr=subprocess.PIPE, text=True)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert self.proc.poll() is None, self.proc.stderr.read()
                time.sleep(0.1)
        raise AssertionError("collector did not listen")

    def stop(self) -> str:
        self.proc.terminate()
        _, stderr = self.proc.communicate(timeout=30)
        return stderr

    def token(self, hid: str) -> str:
        out = subprocess.run([sys.executable, "-m", "vhoneynet", "collector", "token", hid, "--dsn", self.dsn],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def collect(self, hid: str, token: str | None = None) -> Collect:
        return Collect(url=self.url, token=token or self.token(hid), ca=self.state / "cert.pem")


@pytest.fixture
def collector(dsn: str, tmp_path: Path):
    c = Collector(dsn, tmp_path / "collector")
    c.start()
    try:
        yield c
    finally:
        if c.proc.poll() is None:
            c.stop()


def honeynet_store(tmp_path: Path, hid: str) -> CaptureStore:
    root = tmp_path / hid
    (root / "gateway" / DAY / "syslog").mkdir(parents=True)  # the share
    return CaptureStore(root, hid, {"203.0.113.80": "web"})


def log_lines(store: CaptureStore, start: int, count: int) -> None:
    with (store.root / "gateway" / DAY / "syslog" / "web.log").open("a") as f:
        for i in range(start, start + count):
            f.write(f"2026-11-29T02:{i // 60 % 60:02d}:{i % 60:02d}.000000+00:00 203.0.113.80 web app: line {i}\n")


def stored(dsn: str, hid: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT seq, summary FROM vhn_events WHERE honeynet = %s ORDER BY seq", (hid,)).fetchall()


def test_wrong_token_is_refused_and_counted(collector: Collector, dsn: str, tmp_path: Path):
    hid = unique_id()
    collector.token(hid)
    with honeynet_store(tmp_path, hid) as store:
        log_lines(store, 0, 3)
        store.ingest()
        with pytest.raises(CollectorRefused, match="401"):
            ship(store, collector.collect(hid, token="x" * 32))
        assert store.shipped(collector.url) == 0  # still spooled
        assert ship(store, collector.collect(hid)) == 3
    assert "refused" in collector.stop()  # refusals are counted in memory, stored at intervals and at stop
    with psycopg.connect(dsn) as conn:
        refused = conn.execute("SELECT reason, count FROM vhn_refused WHERE honeynet = %s", (hid,)).fetchall()
    assert refused == [("wrong credentials", 1)]


def test_two_honeynets_are_kept_apart(collector: Collector, dsn: str, tmp_path: Path):
    first, second = unique_id(), unique_id()
    counts = {}
    for hid, n in ((first, 7), (second, 4)):
        with honeynet_store(tmp_path, hid) as store:
            log_lines(store, 0, n)
            store.ingest()
            assert ship(store, collector.collect(hid)) == n
            counts[hid] = len(store.query())
    assert {hid: len(stored(dsn, hid)) for hid in (first, second)} == counts == {first: 7, second: 4}
    # the same key in two honeynets is two records: events are keyed by (honeynet, key)
    assert [s for _, s in stored(dsn, first)][:4] == [s for _, s in stored(dsn, second)]


def test_collector_away_during_traffic_loses_and_doubles_nothing(collector: Collector, dsn: str, tmp_path: Path):
    hid = unique_id()
    collect = collector.collect(hid)
    with honeynet_store(tmp_path, hid) as store:
        log_lines(store, 0, 100)
        store.ingest()
        assert ship(store, collect, batch=30) == 100
        collector.stop()
        for start in (100, 150):  # traffic goes on while the collector is down: events spool locally
            log_lines(store, start, 50)
            store.ingest()
            with pytest.raises(CollectorUnavailable):
                ship(store, collect, batch=30)
        collector.start()
        store.mark_shipped(collector.url, 90)  # as if the last answer was lost: 10 events are sent again
        assert ship(store, collect, batch=30) == 110
        local = [(e["seq"], e["summary"]) for e in store.query()]
    remote = stored(dsn, hid)
    assert len(remote) == len(local) == 200
    assert remote == local  # same events, same order, no duplicates


def test_database_insert_is_idempotent(dsn: str):
    db = CollectorDatabase(dsn)
    db.create_schema()
    hid = unique_id()
    batch = [{"key": f"k{i}", "seq": i, "time": "2026-11-29T02:00:00Z", "type": "syslog", "summary": "x",
              "data": {}} for i in range(1, 6)]
    assert db.insert(hid, batch) == 5
    assert db.insert(hid, batch) == 0
    assert db.counts(hid) == {"syslog": 5}
    db.close()


@pytest.fixture
def broker():
    """A real hpfeeds broker (hpfeeds3's) on a free local port, in a thread; yields (port, received)."""
    import asyncio
    import threading

    broker_mod = pytest.importorskip("hpfeeds.broker.server")
    from hpfeeds.broker.auth.memory import Authenticator

    auth = Authenticator({"vhn-test": {"secret": "s3cret", "pubchans": ["vhoneynet.syslog"], "subchans": [],
                                       "owner": "vhn"}})
    server = broker_mod.Server(auth)
    server.exporter = None  # else its metrics server listens on 0.0.0.0:8080 (the default of an empty exporter)
    received: list[tuple[str, bytes]] = []
    real_publish = server.publish
    server.publish = lambda source, chan, data: (received.append((chan, data)), real_publish(source, chan, data))[1]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server.add_endpoint_test(sock)
    loop = asyncio.new_event_loop()
    task = loop.create_task(server.serve_forever())
    thread = threading.Thread(target=loop.run_until_complete, args=(task,), daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], received
    finally:
        loop.call_soon_threadsafe(task.cancel)  # serve_forever closes its servers and returns
        thread.join(10)
        loop.close()


def test_events_published_to_hpfeeds_once_per_channel(broker, tmp_path: Path):
    from vhoneynet.collect.hpfeeds import publish
    from vhoneynet.topology.model import Hpfeeds

    port, received = broker
    hid = unique_id()
    with honeynet_store(tmp_path, hid) as store:
        log_lines(store, 0, 5)
        store.ingest()
        with pytest.raises(CollectorRefused):
            publish(store, Hpfeeds(host="127.0.0.1", port=port, ident="vhn-test", secret="wrong"))
        feed = Hpfeeds(host="127.0.0.1", port=port, ident="vhn-test", secret="s3cret")
        assert publish(store, feed) == 5
        log_lines(store, 5, 2)
        store.ingest()
        assert publish(store, feed) == 2 and publish(store, feed) == 0
    for _ in range(50):
        if len(received) >= 7:
            break
        time.sleep(0.1)
    assert [c for c, _ in received] == ["vhoneynet.syslog"] * 7
    assert [json.loads(d)["summary"] for _, d in received] == [f"app: line {i}" for i in range(7)]
    assert {json.loads(d)["honeynet"] for _, d in received} == {hid}


def test_hpfeeds_quarantines_a_record_it_cannot_publish_and_goes_on(broker, tmp_path: Path):
    from vhoneynet.collect import quarantine
    from vhoneynet.collect.hpfeeds import publish
    from vhoneynet.topology.model import Hpfeeds

    port, received = broker
    feed = Hpfeeds(host="127.0.0.1", port=port, ident="vhn-test", secret="s3cret")
    with honeynet_store(tmp_path, unique_id()) as store:
        log_lines(store, 0, 4)
        store.ingest()
        with store.db:  # a value the collector would refuse too: hpfeeds cannot say which record it disliked
            store.db.execute("UPDATE events SET dport = 70000 WHERE seq = 2")
        assert publish(store, feed) == 3
        assert publish(store, feed) == 0  # the cursor moved past it
        assert [(q["seq"], q["field"]) for q in quarantine.quarantined(store)] == [(2, "dport")]
    for _ in range(50):
        if len(received) >= 3:
            break
        time.sleep(0.1)
    assert [json.loads(d)["summary"] for _, d in received] == ["app: line 0", "app: line 2", "app: line 3"]
