"""`vhoneynet report` and `export --alert`: built from a capture folder as a honeynet leaves it, with
hostile typing, hostile signatures and terminal escapes that must come out as text only."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.report_capture import (
    ALERT_FRAMES,
    ATTACKER,
    DAY,
    HID,
    HOSTILE,
    SIGNATURE_HOSTILE,
    WEB,
    forwarder_lines,
    log_sink_line,
    make_capture,
    pcap,
    tcp_frame,
)
from vhoneynet import cli
from vhoneynet.capture import archive
from vhoneynet.capture import pcap as slices
from vhoneynet.capture.session import locate
from vhoneynet.errors import DayNotCaptured
from vhoneynet.report import build_report, write_casts
from vhoneynet.report.contents import gather
from vhoneynet.report.page import script_json
from vhoneynet.report.replay import login_sessions
from vhoneynet.topology import load

REPO = Path(__file__).resolve().parents[2]
needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")


@pytest.fixture
def topology():
    return load(REPO / "topologies" / "demo.yml").model_copy(update={"id": HID})


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    make_capture(tmp_path)
    return tmp_path


def _data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.DOTALL)
    return json.loads(found[1])


def test_report_sections_from_the_capture_folder(storage: Path, topology):
    contents = gather(locate(HID, storage, storage / "captures", topology))
    assert contents["days"] == [DAY] and contents["counts"]["keystrokes"] == 2 and contents["counts"]["command"] == 2
    outbound = {(r["honeypot"], r["proto"]): r for r in contents["outbound"]["rows"]}
    assert outbound[("web", "tcp")] == {"honeypot": "web", "proto": "tcp", "allowed": 2, "limited": 1, "peak": 2, "limit": 20}
    assert contents["sources"][0] == {"address": WEB, "events": 7}
    assert {(s["sid"], s["signature"], s["events"]) for s in contents["signatures"]} == {
        (9000001, "VHN TEST exploit", 1), (9000001, SIGNATURE_HOSTILE, 1)}
    assert sorted({a["type"] for a in contents["alerts"]}) == ["alert", "control", "fast"]
    assert contents["topology"]["svg"].startswith("<svg") if shutil.which("dot") else contents["topology"]["why"]
    [session] = contents["sessions"]
    assert (session.honeypot, session.ses, session.tty, session.commands, session.typed) == ("web", "2", "pts0", 2, 2)
    assert [t for t, _ in session.frames] == [0.0, 4.0, 7.0, 12.0]
    assert session.frames[1][1] == "$ cat <img src=x onerror=alert(3)>\n"


def test_timeline_counts_every_event_once(storage: Path, topology):
    contents = gather(locate(HID, storage, storage / "captures", topology))
    timeline = contents["timeline"]
    assert timeline["unit"] == "minute" and all(len(v) == len(timeline["x"]) for v in timeline["series"].values())
    assert {k: sum(v) for k, v in timeline["series"].items()} == contents["counts"]
    assert timeline["x"][1] - timeline["x"][0] == 60


def test_hostile_text_is_escaped_in_the_page_and_exact_in_its_data(storage: Path, topology):
    page = build_report(HID, storage, capture_dir=storage / "captures", topology=topology)
    assert HOSTILE not in page and "<script>alert(1)" not in page and "<img src=x" not in page
    assert page.count("<script") == 4  # the data and three scripts of the page's own, none from a capture
    assert "<b>bold</b>" not in page and html.escape(SIGNATURE_HOSTILE, quote=False) in page
    assert "\x1b" not in page and "\x9b" not in page and "\x07" not in page  # no terminal escape survives anywhere
    frames = [text for _, text in _data(page)["sessions"][0]["frames"]]
    assert f"[typed into cat] hello {HOSTILE}\n" in frames
    assert any("\\x1b]0;owned\\x07" in text for text in frames)  # an escape sequence shown, as text


def test_script_json_cannot_close_its_element():
    text = script_json({"a": "</script><!-- & </SCRIPT >"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & </SCRIPT >"}


def test_asciicast_export_plays_the_frames(storage: Path, topology, tmp_path: Path):
    [session] = gather(locate(HID, storage, storage / "captures", topology))["sessions"]
    [path] = write_casts([session], tmp_path / "casts")
    header, *events = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert Path(path).name == "web-ses2.cast"
    assert header["version"] == 2 and header["width"] > 0 and header["timestamp"] > 0
    assert [e[0] for e in events] == [0.0, 4.0, 7.0, 12.0] and {e[1] for e in events} == {"o"}
    assert all("\x1b" not in e[2] for e in events) and events[0][2] == "$ uname -a\r\n"


def test_manifest_is_the_export_tarballs(storage: Path, tmp_path: Path):
    root = storage / "captures" / HID
    page_manifest = archive.manifest(root, DAY)
    archive.export(root, HID, DAY, tmp_path / "day.tar.gz")
    with tarfile.open(tmp_path / "day.tar.gz") as tar:
        sums = tar.extractfile(f"{HID}-{DAY}/SHA256SUMS").read().decode().splitlines()
    assert [f"{f['sha256']}  {f['name']}" for f in page_manifest["files"]] == sums
    with pytest.raises(DayNotCaptured):
        archive.manifest(root, "2026-01-01")


def test_a_honeynet_taken_down_is_still_reported(storage: Path):
    page = build_report(HID, storage, day=DAY)  # no run folder, no topology: from the capture folder alone
    assert "the honeynet&#39;s topology is not known" in page
    assert _data(page)["outbound"]["known"] is False and _data(page)["outbound"]["rows"][0]["limit"] is None
    with pytest.raises(DayNotCaptured):
        build_report(HID, storage, day="2026-01-02")


def test_report_command_writes_page_and_casts(storage: Path, tmp_path: Path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli.app, ["report", HID, "--storage", str(storage), "--topology",
                                          str(REPO / "topologies" / "demo.yml"), "--capture-dir", str(storage / "captures"),
                                          "-o", str(out), "--cast-dir", str(tmp_path / "casts"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sessions"] == 1 and (tmp_path / "casts" / "web-ses2.cast").is_file()
    assert out.read_text().startswith("<!DOCTYPE html>")
    bad = CliRunner().invoke(cli.app, ["report", HID, "--storage", str(storage), "--day", "2026-01-02", "-o", str(out)])
    assert bad.exit_code != 0 and "no capture for 2026-01-02" in bad.output


def _packets(path: Path) -> list[str]:
    return subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()


def _alert_seq(storage: Path, kind: str) -> int:
    with locate(HID, storage).store() as store:
        store.ingest()
        return store.query(types=[kind])[0]["seq"]


@needs_tcpdump
@pytest.mark.parametrize("kind", ["alert", "control"])
def test_export_alert_cuts_its_flow_around_its_time(storage: Path, tmp_path: Path, kind: str):
    seq = _alert_seq(storage, kind)
    out = tmp_path / "slice.pcap"
    result = CliRunner().invoke(cli.app, ["export", HID, "--alert", str(seq), "--storage", str(storage), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    said = json.loads(result.stdout)
    assert said["alert"] == seq and "host 203.0.113.80 and host 203.0.113.66 and tcp" in said["filter"]
    packets = _packets(out)
    assert len(packets) == 2, packets  # the flow's two packets in the window; not those before, after, or of port 22
    assert all(f"{WEB}.40000" in p and f"{ATTACKER}.80" in p for p in packets)


@needs_tcpdump
def test_export_alert_refuses_an_event_that_is_no_alert(storage: Path, tmp_path: Path):
    seq = _alert_seq(storage, "command")
    result = CliRunner().invoke(cli.app, ["export", HID, "--alert", str(seq), "--storage", str(storage),
                                          "-o", str(tmp_path / "x.pcap")])
    assert result.exit_code != 0 and "not an alert" in result.output
    missing = CliRunner().invoke(cli.app, ["export", HID, "--alert", "99999", "--storage", str(storage)])
    assert missing.exit_code != 0 and "no event 99999" in missing.output


def test_slice_reads_only_pcap_records_it_can_trust(tmp_path: Path):
    share = tmp_path / "captures" / HID / "gateway" / DAY / "pcap"
    share.mkdir(parents=True)
    good = pcap(ALERT_FRAMES[1:3])
    (share / f"{HID}-20261129T020000.pcap").write_bytes(good)  # ended before the window: not read
    (share / f"{HID}-20261129T020500.pcap").write_bytes(good[:-5])  # ends inside its last record
    (share / f"{HID}-20261129T021000.pcap").write_bytes(b"not a pcap at all" * 4)
    (share / f"{HID}-20261129T021030.pcap").symlink_to("/etc/passwd")
    flow = slices.Flow(slices.datetime.fromisoformat(f"{DAY}T02:10:11+00:00"), WEB, ATTACKER, "tcp", 40000, 80)
    gateway = tmp_path / "captures" / HID / "gateway"
    files = slices._files_for(gateway, flow.time - slices.timedelta(seconds=60), flow.time + slices.timedelta(seconds=60))
    assert [name[-20:-5] for _, name in files] == ["20261129T020500", "20261129T021000"]  # never the link
    skipped: list[str] = []
    kept = [record for day, name in files for record in slices._records(gateway, day, name, 0, 2e9, skipped)]
    assert len(kept) == 1  # the whole record before the damaged one
    assert [s.split(": ", 1)[1].split(" at ")[0] for s in skipped] == ["a damaged record", "not a pcap file"]


def test_flow_filter_holds_only_validated_fields():
    event = {"seq": 1, "type": "control", "time": f"{DAY}T02:10:11Z", "src": None, "dst": None, "proto": None,
             "sport": None, "dport": None,
             "data": {"source": "1.2.3.4 or host 9.9.9.9", "destination": ATTACKER, "protocol": "tcp; rm", "port": "80 or 1"}}
    assert slices.flow_of(event).bpf() == f"host {ATTACKER}"
    assert tcp_frame(WEB, ATTACKER, 1, 2)[12:14] == b"\x08\x00"


@needs_tcpdump
def test_report_links_each_alert_to_its_slice(storage: Path, tmp_path: Path):
    out = tmp_path / "page" / "r.html"
    out.parent.mkdir()
    result = CliRunner().invoke(cli.app, ["report", HID, "--storage", str(storage), "-o", str(out),
                                          "--pcap-dir", str(tmp_path / "page" / "slices"), "--json"])
    assert result.exit_code == 0, result.output
    said = json.loads(result.stdout)
    seq = _alert_seq(storage, "alert")
    assert said["slices"] == said["alerts"] and said["slice_problems"] == []
    assert f'<a href="slices/alert-{seq}.pcap" download>' in out.read_text()
    assert len(_packets(tmp_path / "page" / "slices" / f"alert-{seq}.pcap")) == 2


def test_outbound_peak_is_the_busiest_window_and_roach_motel_allows_none(storage: Path, topology):
    log = storage / "captures" / HID / "gateway" / DAY / "firewall" / "firewall.log"
    lines = log.read_text().splitlines()
    later = [line.replace("T02:10:11", "T03:20:00") for line in lines if " outbound tcp " in line]
    log.write_text("\n".join(lines + later * 2) + "\n")  # 2 at 02h, 4 at 03h
    row = gather(locate(HID, storage, storage / "captures", topology))["outbound"]["rows"][0]
    assert (row["allowed"], row["peak"], row["limit"]) == (6, 4, 20)
    closed = topology.model_copy(update={"gateway": topology.gateway.model_copy(update={
        "data_control": topology.gateway.data_control.model_copy(update={"mode": "roach-motel"})})})
    assert gather(locate(HID, storage, storage / "captures", closed))["outbound"]["rows"][0]["limit"] == 0


def test_control_alerts_have_their_flow_in_the_events_columns(storage: Path):
    with locate(HID, storage).store() as store:
        store.ingest()
        [compromise, _] = store.query(types=["control"])
    assert (compromise["src"], compromise["dst"], compromise["dport"], compromise["proto"]) == (WEB, ATTACKER, 80, "tcp")
    assert compromise["honeypot"] == "web" and compromise["summary"] == "compromise"


def test_sessions_without_their_syscall_record_and_long_typing_in_pieces(tmp_path: Path):
    folder = make_capture(tmp_path)
    typed = b"x" * 1500 + b"\r"  # over the forwarder's piece: two records, part 1/2 and 2/2
    records = [(1309, 'audit(1795918300.000:90): argc=1 a0="id"'),  # its SYSCALL record lost
               (1319, f'audit(1795918301.000:91): tty pid=900 uid=0 auid=0 ses=7 major=136 minor=1 comm="bash" data={typed.hex()}'),
               (1319, 'audit(1795918302.000:92): tty pid=1 uid=0 auid=4294967295 ses=4294967295 major=4 minor=1 comm="agetty" data=6869')]
    with (folder.share / DAY / "audit" / "web.log").open("a") as f:
        f.write("".join(log_sink_line("02:12:00", line) + "\n" for kind, text in records for line in forwarder_lines(kind, text)))
    with (folder.share / DAY / "syslog" / "web.log").open("a") as f:  # a user's `logger` forging a SYSCALL record
        f.write(f"{DAY}T02:12:00.000000+00:00 {WEB} web user: audit: type=1300 audit(1795918300.000:90): tty=pts9 ses=99\n")
    with locate(HID, tmp_path).store() as store:
        store.ingest()
        sessions = {s.ses: s for s in login_sessions(store)}
    assert sorted(sessions) == ["2", "7", "?"]  # outside a login (agetty): no session
    assert sessions["?"].frames == [(0.0, "$ id\n")] and sessions["?"].name == "web-sesunknown"
    long = sessions["7"]
    assert long.typed == 1 and len(long.frames) == 2 and long.frames[0][1].startswith("[typed into bash] xxx")
    assert long.frames[1][1].startswith(" " * len("[typed into bash] ") + "xxx")


def test_a_honeynet_with_nothing_captured_yet(tmp_path: Path):
    (tmp_path / "captures" / HID / "gateway").mkdir(parents=True)
    page = build_report(HID, tmp_path)
    assert "No event captured." in page and "No login session was recorded." in page and "No alert." in page
    assert _data(page)["timeline"] == {"unit": "minute", "x": [], "series": {}}
