"""Hostile records: each one becomes at most an `unparsed` event, the cursor moves past it, and
the good records after it arrive. Plus hypothesis fuzzing of every parser and of ingestion."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vhoneynet.capture import records
from vhoneynet.capture.records import RecordError
from vhoneynet.capture.store import CaptureStore
from vhoneynet.rundir import CaptureFolder

HID = "vhnrec"
DAY = "2026-11-29"
GOOD_EVE = ('{"timestamp":"2026-11-29T02:10:12.000000+0000","event_type":"dns","src_ip":"203.0.113.66",'
            '"dest_ip":"203.0.113.53","proto":"UDP","dns":{"type":"query","rrname":"good.example","rrtype":"A"}}')
SYSLOG = "2026-11-29T02:11:01.500000+00:00 203.0.113.80 web vhn-test: hello"
TTY = ('2026-11-29T02:11:00.000000+00:00 203.0.113.80 web vhn-audit: audit: type=1319 audit(1764382260.123:57): '
       'tty pid=812 uid=0 auid=0 ses=2 major=136 minor=0 comm="bash" data="id"')
EXECVE = ('2026-11-29T02:11:02.000000+00:00 203.0.113.80 web kernel: audit: type=1309 audit(1795918971.459:65): '
          'argc=2 a0="cat" a1="/etc/shadow"')


def _eve(**fields) -> str:
    rec = json.loads(GOOD_EVE)
    rec.update(fields)
    return json.dumps(rec)


HOSTILE_EVE = [
    "[" * 100_000,  # deeply nested
    "[" * 20 + "]" * 20,  # a JSON line that is not an object
    '"just a string"', "42", "null",
    _eve(timestamp={"a": 1}),  # a dict where a string is expected
    _eve(event_type="alert", alert="not an object"),
    _eve(event_type="http", http=["a", "list"]),
    _eve(event_type="dns", dns={"queries": "nope"}),
    _eve(src_port=10 ** 30),  # out of range for SQLite INTEGER
    _eve(dest_port=-1), _eve(src_port="80"), _eve(src_port=True),
    _eve(src_ip={"x": 1}), _eve(src_ip="not-an-address"),
    _eve(payload="***not base64***"),
    '{"timestamp": NaN, "event_type": "dns"}',
    _eve(timestamp="0001-01-01T00:00:00+01:00"),
    _eve(timestamp="9" * 5000),
    _eve(dns={"type": "query", "rrname": "a" * 10, "nested": json.loads("[" * 40 + "]" * 40)}),
    _eve(dns={"type": "query", "rrname": "x\ud800\u0000y"}),  # lone surrogate and NUL: stored escaped
    '{"timestamp": "2026-11-29T02:10:12Z", "event_type": "dns"\r, "dns": {}}',
    "\x00\xff garbage",
]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """The capture folder of honeynet HID (a CaptureFolder must be named by a honeynet id)."""
    return tmp_path / HID


def _share(root: Path) -> Path:
    day = CaptureFolder(root).share / DAY
    for sub in ("ids", "syslog", "audit", "firewall"):
        (day / sub).mkdir(parents=True, exist_ok=True)
    return day


def _cursor(store: CaptureStore, rel: str) -> int:
    row = store.db.execute("SELECT offset FROM cursors WHERE path = ?", (rel,)).fetchone()
    return row[0] if row else 0


@pytest.mark.parametrize("bad", HOSTILE_EVE, ids=range(len(HOSTILE_EVE)))
def test_a_hostile_eve_line_is_passed_and_later_records_arrive(capture: Path, bad: str):
    day = _share(capture)
    path = day / "ids" / "eve.json"
    path.write_text(f"{GOOD_EVE}\n{bad}\n")
    with CaptureStore(capture, HID) as store:
        store.ingest()
        with path.open("a") as f:
            f.write(GOOD_EVE.replace("good.example", "later.example") + "\n")
        store.ingest()
        summaries = [e["summary"] for e in store.query(types=["dns"])]
        assert summaries == ["dns query A good.example", "dns query A later.example"] or (
            len(summaries) == 3 and summaries[-1] == "dns query A later.example")  # a bad one may still be a record
        assert _cursor(store, f"gateway/{DAY}/ids/eve.json") == path.stat().st_size
        assert set(store.counts()) <= {"dns", "unparsed"}
        json.dumps(store.query())  # every stored event is JSON the shipper can send


def test_carriage_return_inside_a_line_stays_in_its_record(capture: Path):
    day = _share(capture)
    (day / "syslog" / "web.log").write_text(f"{SYSLOG}\rforged: line\x0bmore\u2028still\n{SYSLOG}\n")
    with CaptureStore(capture, HID) as store:
        store.ingest()
        events = store.query()
    assert [e["type"] for e in events] == ["syslog", "syslog"]
    assert events[0]["summary"] == "vhn-test: hello\rforged: line\x0bmore\u2028still"


def test_huge_line_without_newline_then_good_records(capture: Path):
    day = _share(capture)
    path = day / "ids" / "eve.json"
    with path.open("wb") as f:
        f.write(b"{" + b"x" * (65 << 20))  # 65 MiB and no end of line
    with CaptureStore(capture, HID, file_budget=16 << 20) as store:
        for _ in range(5):  # the gateway is still writing it: a pass reads a bounded part, then stops
            store.ingest()
        with path.open("ab") as f:
            f.write(b"\n" + GOOD_EVE.encode() + b"\n")
        passes = 0
        while not store.counts().get("dns"):
            store.ingest()
            passes += 1
            assert passes < 10
        assert store.counts() == {"dns": 1, "unparsed": 1}
        unparsed = store.query(types=["unparsed"])[0]
        assert len(unparsed["summary"]) <= 500 and "longer than" in unparsed["data"]["error"]


def test_many_lines_are_ingested_over_bounded_passes(capture: Path):
    day = _share(capture)
    (day / "syslog" / "web.log").write_text("".join(SYSLOG.replace("hello", f"n{i}") + "\n" for i in range(5000)))
    with CaptureStore(capture, HID, max_line=4096, file_budget=64 << 10) as store:
        first = store.ingest()
        assert 0 < first < 5000  # one pass is bounded
        while store.ingest():
            pass
        assert store.counts() == {"syslog": 5000}


def test_keystrokes_and_commands_only_from_the_audit_file(capture: Path):
    day = _share(capture)
    (day / "syslog" / "web.log").write_text(f"{TTY}\n{EXECVE}\n")  # what `logger` lets any user write
    (day / "audit" / "web.log").write_text(f"{TTY}\n{EXECVE}\n")
    with CaptureStore(capture, HID) as store:
        store.ingest()
        by_file = {(e["key"].split(":")[0], e["type"]) for e in store.query()}
    assert by_file == {(f"gateway/{DAY}/syslog/web.log", "syslog"), (f"gateway/{DAY}/audit/web.log", "keystrokes"),
                       (f"gateway/{DAY}/audit/web.log", "command")}


def test_file_names_that_are_not_honeypot_names_are_not_read(capture: Path):
    day = _share(capture)
    (day / "syslog" / "\x1b]0;x\x07.log").write_text(f"{SYSLOG}\n")
    (day / "syslog" / "dns.log").write_text(f"{SYSLOG}\n")
    with CaptureStore(capture, HID) as store:
        store.ingest()
        assert [e["honeypot"] for e in store.query()] == ["dns"]


def test_hostile_alert_lines_are_skipped(capture: Path):
    from vhoneynet.gateway.live import alerts

    day = _share(capture)
    (day / "alerts.jsonl").write_text("[" * 100_000 + "\n[1]\n\"x\"\n" + '{"kind": "limit"}\n')
    assert alerts.read_all(capture) == [{"kind": "limit"}]


# --- hypothesis -----------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=10)
EVE_KEYS = ("src_ip", "src_port", "dest_ip", "dest_port", "proto", "payload", "alert",
            "dns", "http", "tls", "flow", "app_proto")
EVE_RECORDS = st.fixed_dictionaries(
    {"event_type": st.sampled_from(records.EVE_TYPES) | JSON, "timestamp": st.just("2026-11-29T02:10:12Z") | JSON},
    optional={k: JSON for k in EVE_KEYS} | {
        "dns": st.dictionaries(st.sampled_from(["type", "rrname", "rrtype", "rcode", "queries", "answers"]), JSON),
        "alert": st.dictionaries(st.sampled_from(["action", "signature", "signature_id"]), JSON)})
LINES = st.text(max_size=300) | st.from_regex(r"\A20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[^\n]{0,200}\Z")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_refuses(parse, *args) -> None:
    try:
        event = parse(*args)
    except RecordError:
        return
    if event is not None:
        try:
            event = records.checked(event)
        except RecordError:
            return
        json.dumps(event.as_dict(), allow_nan=False)


@FUZZ
@given(st.one_of(EVE_RECORDS.map(json.dumps), LINES))
def test_fuzz_eve(line: str):
    _parses_or_refuses(records.eve, line, "k")


@FUZZ
@given(st.one_of(EVE_RECORDS.map(json.dumps), LINES))
def test_fuzz_control(line: str):
    _parses_or_refuses(records.control, line, "k")


@FUZZ
@given(LINES | st.builds(lambda a, b: f"{a} vhn {HID} {b}", st.text(max_size=40), st.text(max_size=200)))
def test_fuzz_firewall(line: str):
    _parses_or_refuses(records.firewall, line, "k", HID)


@FUZZ
@given(LINES | st.text(alphabet="0123456789/-:.[]*{}> ABCDTCPU", max_size=200))
def test_fuzz_fast(line: str):
    _parses_or_refuses(records.fast, line, "k")


AUDIT_LINES = st.builds(
    lambda kind, body: f"2026-11-29T02:11:00Z 203.0.113.80 web vhn-audit: audit: type={kind} audit(1.2:3): {body}",
    st.sampled_from(["1319", "1124", "1309", "99999"]),
    st.text(alphabet='a0123456789[]="ABCDEFxyz _=', max_size=120))


@FUZZ
@given(LINES | AUDIT_LINES)
def test_fuzz_syslog_and_audit(line: str):
    _parses_or_refuses(records.syslog, line, "k", "web")
    _parses_or_refuses(records.audit, line, "k", "web")


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_typed(raw: bytes):
    assert isinstance(records._typed(raw), str)


@FUZZ
@given(st.text(alphabet='a0123456789[]="ABCDEFxyz _=', max_size=200))
def test_fuzz_argv(body: str):
    assert all(isinstance(a, str) for a in records._argv(body))


FILES = st.sampled_from([("ids", "eve.json"), ("ids", "fast.log"), ("firewall", "firewall.log"),
                         ("syslog", "web.log"), ("audit", "web.log"), ("", "alerts.jsonl")])
RAW_LINES = st.lists(st.binary(max_size=120) | (EVE_RECORDS.map(json.dumps) | AUDIT_LINES).map(str.encode),
                     max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILES, RAW_LINES, st.binary(max_size=30))
def test_fuzz_ingestion_never_raises_and_the_cursor_passes_every_line(file, lines, tail):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / HID
        day = _share(root)
        path = day / file[0] / file[1] if file[0] else day / file[1]
        body = b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines)
        path.write_bytes(body + tail.replace(b"\n", b""))
        with CaptureStore(root, HID, {"203.0.113.80": "web"}) as store:
            store.ingest()
            assert _cursor(store, "/".join(("gateway", DAY, *[p for p in file if p]))) == len(body)
            assert store.ingest() == 0
            json.dumps(store.query())
