"""The gateway plants things in its share; the host must neither follow nor block on them.

Every test builds a capture folder in a temp dir, plays the gateway's root by planting links,
fifos, sockets and hard links in the share, then runs the host's real readers (ingestion,
alerts, export, retention) and checks that nothing outside the share was read or written.
"""

from __future__ import annotations

import os
import signal
import socket
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vhoneynet.capture import archive, guestfile
from vhoneynet.capture.store import CaptureStore
from vhoneynet.gateway.live import alerts
from vhoneynet.rundir import CaptureFolder

HID = "vhnhost"
DAY = "2026-11-29"
SECRET = "SECRET-MARKER-4f1d"
EVE = ('{"timestamp":"2026-11-29T02:10:12.000000+0000","event_type":"dns","src_ip":"203.0.113.66",'
       '"dest_ip":"203.0.113.53","proto":"UDP","dns":{"type":"query","rrname":"ok.example","rrtype":"A"}}\n')
SYSLOG = "2026-11-29T02:11:01.500000+00:00 203.0.113.80 web vhn-test: hello\n"
FIREWALL = ("2026-11-29T02:10:11,123456+00:00 vhn vhnhost outbound IN=int OUT=ext SRC=203.0.113.80 "
            "DST=203.0.113.66 LEN=60 PROTO=TCP SPT=40000 DPT=80\n")


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host folder with a secret the gateway must never get at."""
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "shadow").write_text(f"root:{SECRET}:1::::::\n")
    return tmp_path / "host"


@pytest.fixture
def folder(tmp_path: Path) -> CaptureFolder:
    folder = CaptureFolder(tmp_path / HID)
    for sub in ("ids", "firewall", "syslog", "audit", "pcap"):
        (folder.share / DAY / sub).mkdir(parents=True)
    return folder


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a reader blocked on a fifo)."""
    def expired(*_):
        raise AssertionError(f"blocked for {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _stored(folder: CaptureFolder) -> str:
    """Everything the event store holds, as text."""
    with CaptureStore(folder.root, HID) as store:
        store.ingest()
        return repr(store.query())


def test_symlinked_eve_log_is_not_read(folder: CaptureFolder, host: Path):
    (folder.share / DAY / "ids" / "eve.json").symlink_to(host / "shadow")
    (folder.share / DAY / "ids" / "eve-real.json").write_text(EVE)
    stored = _stored(folder)
    assert SECRET not in stored and "ok.example" in stored


def test_symlinked_day_and_kind_folders_are_not_read(folder: CaptureFolder, host: Path, tmp_path: Path):
    fake_day = tmp_path / "elsewhere"
    (fake_day / "syslog").mkdir(parents=True)
    (fake_day / "syslog" / "web.log").write_text(SYSLOG.replace("hello", SECRET))
    (folder.share / "2026-11-30").symlink_to(fake_day)
    (folder.share / DAY / "ids").rmdir()
    (folder.share / DAY / "ids").symlink_to(fake_day / "syslog")  # eve*.json would be looked up in there
    (fake_day / "syslog" / "eve.json").write_text(EVE.replace("ok.example", SECRET))
    (folder.share / DAY / "syslog" / "web.log").write_text(SYSLOG)
    stored = _stored(folder)
    assert SECRET not in stored and "hello" in stored


def test_symlink_below_a_real_folder_is_refused_at_every_component(folder: CaptureFolder, host: Path):
    (folder.share / "2026-11-30").symlink_to(host)
    with pytest.raises(guestfile.GuestPathRefused):
        with guestfile.open_file(folder.share, "2026-11-30", "shadow"):
            pass
    for bad in ("..", ".", "a/b", "a\0b", ""):
        with pytest.raises(guestfile.GuestPathRefused):
            with guestfile.open_file(folder.share, DAY, bad):
                pass


def test_fifo_and_socket_logs_neither_block_nor_count(folder: CaptureFolder, monkeypatch):
    os.mkfifo(folder.share / DAY / "ids" / "eve.json")  # no writer: a blocking open would wait forever
    os.mkfifo(folder.share / DAY / "alerts.jsonl")
    server = socket.socket(socket.AF_UNIX)
    monkeypatch.chdir(folder.share / DAY / "syslog")  # a socket path is short: bind it relative
    server.bind("web.log")
    (folder.share / DAY / "syslog" / "dns.log").write_text(SYSLOG)
    try:
        with deadline(10):
            stored = _stored(folder)
            assert alerts.read_all(folder.root) == []
            with pytest.raises(guestfile.GuestPathRefused):
                with guestfile.open_file(folder.share, DAY, "ids", "eve.json"):
                    pass
    finally:
        server.close()
    assert "hello" in stored and "'syslog'" in stored


def test_hard_link_to_a_host_file_is_refused(folder: CaptureFolder, host: Path):
    # possible only on one file system (here: both in the temp dir); refused by its link count
    os.link(host / "shadow", folder.share / DAY / "ids" / "eve.json")
    assert SECRET not in _stored(folder)
    with pytest.raises(guestfile.GuestPathRefused, match="hard link"):
        with guestfile.open_file(folder.share, DAY, "ids", "eve.json"):
            pass


def test_planted_unique_log_link_gets_nothing_written(folder: CaptureFolder, host: Path):
    target = host / "profile.sh"
    (folder.share / DAY / "firewall" / "unique.log").symlink_to(target)
    (folder.share / DAY / "firewall-unique.log").symlink_to(target)
    (folder.share / DAY / "firewall" / "firewall.log").write_text(FIREWALL)
    _stored(folder)
    assert not target.exists()
    assert "203.0.113.80" in (folder.derived(DAY) / "firewall-unique.log").read_text()


def test_symlinked_alerts_file_is_not_read(folder: CaptureFolder, host: Path):
    (host / "alerts.jsonl").write_text(f'{{"kind": "{SECRET}"}}\n')
    (folder.share / DAY / "alerts.jsonl").symlink_to(host / "alerts.jsonl")
    (folder.share / "2026-11-30").mkdir()
    (folder.share / "2026-11-30" / "alerts.jsonl").write_text('{"kind": "limit"}\n')
    assert alerts.read_all(folder.root) == [{"kind": "limit"}]


def test_export_takes_regular_files_only(folder: CaptureFolder, host: Path, tmp_path: Path):
    (folder.share / DAY / "ids" / "eve.json").write_text(EVE)
    (folder.share / DAY / "ids" / "eve-2.json").symlink_to(host / "shadow")
    (folder.share / DAY / "pcap" / "link").symlink_to(host)
    os.mkfifo(folder.share / DAY / "pcap" / "fifo.pcap")
    (folder.share / DAY / "syslog" / "we\nird.log").write_text(SYSLOG)  # a name that would forge a manifest line
    with deadline(10):
        result = archive.export(folder.root, HID, DAY, tmp_path / "out.tar.gz")
    with tarfile.open(result["output"]) as tar:
        names = tar.getnames()
        content = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert SECRET.encode() not in content
    assert f"{HID}-{DAY}/{DAY}/ids/eve.json" in names and len(names) == 2  # eve.json and the manifest
    assert any("ird.log" in s for s in result["skipped"])


def test_retention_removes_links_not_what_they_point_to(folder: CaptureFolder, host: Path, tmp_path: Path):
    (folder.share / DAY / "ids" / "host").symlink_to(host)
    (folder.share / "2026-01-01").symlink_to(host)  # a day that is a link: not a day
    removed = archive.apply_retention(folder.root, 7, today=date(2026, 12, 31))
    assert removed == [DAY]
    assert (host / "shadow").read_text().startswith("root:") and not (folder.share / DAY).exists()


def test_listing_shows_real_entries_only(folder: CaptureFolder, host: Path):
    share = folder.share / DAY
    (share / "ids" / "eve.json").write_text(EVE)
    (share / "ids" / "eve-link.json").symlink_to(host / "shadow")
    os.mkfifo(share / "ids" / "eve-fifo.json")
    (share / "ids" / "sub").mkdir()
    (share / "ids" / "dirlink").symlink_to(host)
    assert guestfile.list_files(folder.share, DAY, "ids") == ["eve.json"]
    assert guestfile.list_dirs(folder.share, DAY, "ids") == ["sub"]
    assert guestfile.list_files(folder.share, DAY, "ids", "dirlink") == []


def _lines(path: Path, offset: int = 0, max_line: int = 16, budget: int | None = None):
    with guestfile.open_file(path.parent, path.name) as f:
        reader = f.lines(offset, max_line, budget)
        return [(line.start, line.data, line.truncated) for line in reader], reader.position


def test_lines_split_on_newline_only_and_keep_a_partial_line(tmp_path: Path):
    path = tmp_path / "log"
    path.write_bytes(b"a\rb\x0bc\x1c\xe2\x80\xa8d\nsecond\nparti")
    lines, position = _lines(path, max_line=64)
    assert lines == [(0, b"a\rb\x0bc\x1c\xe2\x80\xa8d\n", False), (11, b"second\n", False)]
    assert position == 18  # before the partial line


def test_an_over_long_line_is_one_truncated_record_over_several_passes(tmp_path: Path):
    path = tmp_path / "log"
    path.write_bytes(b"x" * 300_000 + b"\nok\n")
    budget = guestfile.CHUNK + 16  # the smallest budget: a pass reads about two chunks
    seen, position, passes = [], 0, 0
    while True:
        lines, new = _lines(path, position, budget=budget)
        seen += lines
        passes += 1
        if new == position:
            break
        position = new
    assert seen == [(0, b"x" * 16, True), (300_001, b"ok\n", False)]
    assert position == path.stat().st_size and passes > 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30), st.binary(max_size=50),
       st.integers(4, 64))
def test_fuzz_lines_every_line_once_and_the_position_past_what_was_given(lines, tail, max_line):
    body, tail = b"".join(line + b"\n" for line in lines), tail.replace(b"\n", b"")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log"
        path.write_bytes(body + tail)
        seen, position = [], 0
        for _ in range(len(body) + 2):  # each pass moves on, or the file is done
            got, new = _lines(path, position, max_line, budget=1)
            seen += got
            if new == position:
                break
            position = new
    expected, start = [], 0
    for line in lines:
        whole = line + b"\n"
        expected.append((start, whole, False) if len(whole) <= max_line else (start, whole[:max_line], True))
        start += len(whole)
    if len(tail) >= max_line:  # an unfinished line already too long: its head now, the rest skipped
        expected.append((start, tail[:max_line], True))
        assert position == len(body) + len(tail)
    else:  # an unfinished line waits for its end
        assert position == len(body)
    assert seen == expected
