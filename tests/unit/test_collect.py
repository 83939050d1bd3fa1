"""Collection without a database: per-record checks, refusal counts, the shipper's handling of a
422, the quarantine, secrets kept out of dumps, and the DSN's password kept out of messages."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from vhoneynet.capture.store import CaptureStore
from vhoneynet.collect import quarantine, shipper, wire
from vhoneynet.collect.dsn import redact
from vhoneynet.collect.refusals import OVERFLOW_PEER, Refusals
from vhoneynet.errors import (
    FAILED,
    CollectorBadAnswer,
    CollectorDatabaseError,
    CollectorRefused,
)
from vhoneynet.rundir import SHARE, RunDir
from vhoneynet.topology.model import REVEAL_SECRETS, Collect, Hpfeeds, Topology

GOOD = {"key": "syslog/web.log:0:ab", "seq": 1, "time": "2026-11-29T02:00:00.000000Z", "type": "syslog",
        "summary": "app: hello", "src": "203.0.113.80", "sport": 22, "dst": None, "dport": None, "proto": "tcp",
        "honeypot": "web", "data": {"line": "x"}}


# --- per-record checks -------------------------------------------------------


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


@pytest.mark.parametrize(("field", "value"), [
    ("key", ""), ("key", 5), ("key", "k" * (wire.MAX_KEY + 1)),
    ("seq", -1), ("seq", "1"), ("seq", True), ("seq", 1 << 63), ("seq", 1.5),
    ("time", "yesterday"), ("time", "2026-11-29T02:00:00"), ("time", None),
    ("type", "bogus"), ("type", ["syslog"]),
    ("summary", None), ("summary", "s" * (wire.MAX_SUMMARY + 1)), ("summary", "a\x00b"), ("summary", "\ud800"),
    ("src", "999.1.1.1"), ("src", 3232235777), ("dst", "host.example"),
    ("sport", 65536), ("dport", -1), ("sport", "22"),
    ("proto", "p" * 65), ("honeypot", {"a": 1}),
    ("data", []), ("data", "text"), ("data", nested(wire.MAX_DATA_DEPTH + 1)), ("data", {"k": "\x00"}),
    ("data", {"\x00": 1}), ("data", {"big": "x" * (wire.MAX_DATA_BYTES + 1)}), ("data", {"n": float("nan")}),
])
def test_bad_field_is_named(field: str, value: object):
    assert wire.check_event({**GOOD, field: value})[0] == field


def test_good_records_pass_with_nulls_ipv6_and_unknown_fields():
    assert wire.check_event(GOOD) is None
    assert wire.check_event({**GOOD, "src": "2001:db8::1", "sport": None, "summary": "", "proto": None,
                             "honeypot": None, "data": nested(wire.MAX_DATA_DEPTH), "future_field": 1}) is None


def test_rejections_name_index_and_key():
    found = wire.rejections([GOOD, {**GOOD, "key": "k2", "dport": 70000}, 7])
    assert [(r.index, r.key, r.field) for r in found] == [(1, "k2", "dport"), (2, None, "")]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": {}}', b'{"events": [NaN]}',
                                  b"[" * 100000, json.dumps({"events": [{}] * (wire.MAX_EVENTS + 1)}).encode()])
def test_a_body_that_is_not_a_batch_is_refused_whole(body: bytes):
    with pytest.raises(wire.BadBatch):
        wire.decode(body)


# --- refusals ------------------------------------------------------------------


def test_refusals_are_counted_per_key_and_logged_a_bounded_number_of_times(caplog):
    refusals = Refusals(max_keys=3, log_lines=2)
    with caplog.at_level("WARNING", logger="vhoneynet.collector"):
        for i in range(1000):
            refusals.count(f"198.51.100.{i % 5}", "web", "wrong credentials")
        rows = refusals.drain()
    assert len(rows) == 4  # three keys and the overflow key
    assert sum(r[3] for r in rows) == 1000
    assert OVERFLOW_PEER in {r[0] for r in rows}
    assert len(caplog.records) == 3  # two refusals, then one line summing up the rest
    assert refusals.drain() == []


# --- the shipper and the quarantine ------------------------------------------------


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "h1" / SHARE / "2026-11-29" / "syslog").mkdir(parents=True)
    with (tmp_path / "h1" / SHARE / "2026-11-29" / "syslog" / "web.log").open("w") as f:
        for i in range(5):
            f.write(f"2026-11-29T02:00:0{i}.000000+00:00 203.0.113.80 web app: line {i}\n")
    with CaptureStore(tmp_path / "h1", "h1") as s:
        s.ingest()
        yield s


@pytest.mark.parametrize("answer", [b"oops", b'{"rejected": []}', b'{"rejected": [{"index": 9}]}',
                                    b'{"rejected": [{"index": -1}]}', b'{"rejected": "all"}'])
def test_a_422_that_names_no_record_sent_is_a_bad_answer(answer: bytes):
    with pytest.raises(CollectorBadAnswer):
        shipper._rejected("https://c", answer, 3)


def test_unencodable_and_oversized_records_are_quarantined_before_sending(store: CaptureStore, monkeypatch):
    monkeypatch.setattr(shipper, "MAX_BATCH_BYTES", 1000)
    with store.db:
        store.db.execute("UPDATE events SET data = ? WHERE seq = 2", (json.dumps({"x": "y" * wire.MAX_EVENT_BYTES}),))
    events = store.pending("https://c", 10)
    events[3]["data"] = {"n": float("nan")}  # as a future bug might hand it over
    sending, encoded, last = shipper._prepare(store, "https://c", events)
    assert [e["seq"] for e in sending] == [1, 3, 5] and len(encoded) == 3 and last == 5
    assert [(q["seq"], q["reason"][:20]) for q in quarantine.quarantined(store)] == [
        (2, "larger than 524288 b"), (4, "cannot be encoded as")]
    assert json.loads(wire.batch_body(encoded))["events"][0]["seq"] == 1


def test_a_batch_is_cut_at_the_byte_budget(store: CaptureStore, monkeypatch):
    monkeypatch.setattr(shipper, "MAX_BATCH_BYTES", 700)
    sending, _, last = shipper._prepare(store, "https://c", store.pending("https://c", 10))
    assert 1 <= len(sending) < 5 and last == sending[-1]["seq"]


# --- secrets --------------------------------------------------------------------------


def collect() -> Collect:
    return Collect(url="https://c.example:8443", token="t0ken-" + "s" * 20,
                   hpfeeds=Hpfeeds(host="broker", ident="vhn", secret="hpfeeds-secret"))


def test_secrets_never_appear_in_repr_or_dumps():
    c = collect()
    for text in (repr(c), str(c), c.model_dump_json(), json.dumps(c.model_dump(mode="json"))):
        assert "s" * 20 not in text and "hpfeeds-secret" not in text
    assert c.token.get_secret_value() == "t0ken-" + "s" * 20


def test_the_saved_topology_holds_the_secrets_for_the_shipper(tmp_path: Path):
    topo = Topology(id="sec1", host={"storage": tmp_path}, collect=collect())
    run = RunDir.of(topo)
    run.save(topo)
    assert "hpfeeds-secret" in run.topology_file.read_text()
    back = run.topology()
    assert back == topo and back.collect.hpfeeds.secret.get_secret_value() == "hpfeeds-secret"
    assert Collect.model_validate_json(collect().model_dump_json(context=REVEAL_SECRETS)) == collect()


# --- the DSN's password ------------------------------------------------------------------


@pytest.mark.parametrize("dsn", [
    "postgresql://vhn:pw-S3cret@db.example:5432/vhn",
    "postgres://vhn:pw-S3cret@db.example/vhn?sslmode=require",
    "postgresql://db.example/vhn?user=vhn&password=pw-S3cret",
    "host=db.example user=vhn password=pw-S3cret dbname=vhn",
    "host=db.example password = 'pw-S3cret' dbname=vhn",
])
def test_the_dsn_password_is_masked_in_database_errors(dsn: str):
    error = CollectorDatabaseError(dsn, f'invalid connection option near "{dsn}"; also pw-S3cret alone')
    assert "pw-S3cret" not in str(error)
    assert "db.example" in str(error)
    assert "pw-S3cret" not in redact(dsn)


def test_collector_token_error_shows_no_password():
    dsn = "postgresql://vhn:pw-S3cret@127.0.0.1:1/vhn"
    result = subprocess.run([sys.executable, "-m", "vhoneynet", "collector", "token", "web", "--dsn", dsn],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == FAILED
    assert "collector database" in result.stderr
    assert "pw-S3cret" not in result.stderr + result.stdout


def test_the_pools_own_log_lines_are_masked_too(caplog):
    from vhoneynet.collect.database import _Redacting

    dsn = "postgresql://vhn:pw-S3cret@db.example/vhn"
    logger = logging.getLogger("psycopg.pool.test")
    logger.addFilter(_Redacting(dsn))
    with caplog.at_level("WARNING", logger="psycopg.pool.test"):
        logger.warning("error connecting in %r: %s", "vhn-collector", f'invalid dsn "{dsn}"')
    assert "pw-S3cret" not in caplog.text and "db.example" in caplog.text


def test_an_ipv6_zone_is_refused():
    assert wire.check_event({**GOOD, "src": "fe80::1%eth0"})[0] == "src"


def test_a_400_halves_the_batch_down_to_the_record_at_fault(store: CaptureStore, monkeypatch):
    sizes = []

    def collector(collect, hid, body, context, timeout):
        seqs = [e["seq"] for e in json.loads(body)["events"]]
        sizes.append(len(seqs))
        return (400, b'{"error": "no"}') if 4 in seqs else (200, b"{}")

    monkeypatch.setattr(shipper, "_post", collector)
    collect = Collect(url="https://c.example", token="t" * 16)
    assert shipper.ship(store, collect) == 4
    assert [q["seq"] for q in quarantine.quarantined(store)] == [4]
    assert sizes == [5, 2, 3, 1, 2, 1, 1] and store.shipped(collect.url) == 5


def test_a_400_that_is_not_the_collectors_is_not_about_records(store: CaptureStore, monkeypatch):
    def proxy(request, timeout, context):
        raise shipper.urllib.error.HTTPError(request.full_url, 400, "Bad Request", {}, io.BytesIO(b"<html>no</html>"))

    monkeypatch.setattr(shipper.urllib.request, "urlopen", proxy)
    with pytest.raises(CollectorRefused, match="400"):
        shipper.ship(store, Collect(url="https://c.example", token="t" * 16))
    assert quarantine.count(store) == 0 and store.shipped("https://c.example") == 0
