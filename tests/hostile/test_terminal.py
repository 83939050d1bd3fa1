"""Attacker bytes must not reach the operator's terminal: escape sequences in every displayed
field, rich markup in data. The CLI runs for real (`python -m vhoneynet`) on a capture folder
filled with hostile EVE, syslog, audit and alert records."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import unique_id
from vhoneynet.cli import honeynet as honeynet_cli
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.terminal import markup, safe
from vhoneynet.topology import loads

DAY = "2026-11-29"
# Title change, screen clear, CSI in its 8-bit form, bell, cursor up, a bidi override, DEL,
# a carriage return and a newline that would forge a line, and rich markup.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\x1b[1A\u202eevil\u202c\x7f\rforged\nline[red]RED[/red][link=x]"
RAW = ["\x1b", "\x9b", "\x07", "\x7f", "\r", "\u202e", "\u202c"]


def _assert_clean(output: str) -> None:
    for c in RAW:
        assert c not in output, f"raw {c!r} in output"


@pytest.mark.parametrize("c", [*RAW, "\x00", "\x85", "\u2028", "\u2066", "\u200f", "\t", "\n", "\x1c"])
def test_safe_escapes_each_control_character_visibly(c: str):
    escaped = safe(f"a{c}b")
    assert c not in escaped and escaped.startswith("a\\") and escaped.endswith("b")


def test_safe_keeps_text_and_newlines_when_asked():
    assert safe("héllo wörld ✓ C:\\path") == "héllo wörld ✓ C:\\path"
    assert safe("one\ntwo\x1b", multiline=True) == "one\ntwo\\x1b"
    assert safe("\r\n\t") == "\\r\\n\\t"


def test_markup_shows_data_literally():
    console = Console(file=io.StringIO(), color_system=None, width=200)
    console.print(markup("[green]ok[/] {}", "[red]x[/red] \x1b[2J"))
    assert console.file.getvalue() == "ok [red]x[/red] \\x1b[2J\n"


def _hostile_capture(root: Path) -> None:
    day = CaptureFolder(root).share / DAY
    for sub in ("ids", "syslog", "audit"):
        (day / sub).mkdir(parents=True)
    base = {"timestamp": "2026-11-29T02:10:12.000000+0000", "src_ip": "203.0.113.66", "dest_ip": "203.0.113.80",
            "src_port": 1, "dest_port": 80, "proto": "TCP"}
    eve = [
        {**base, "event_type": "http", "http": {"hostname": HOSTILE, "url": HOSTILE, "http_method": HOSTILE, "status": 200}},
        {**base, "event_type": "tls", "tls": {"sni": HOSTILE, "version": HOSTILE}},
        {**base, "event_type": "dns", "dns": {"type": "answer", "rrname": HOSTILE, "rrtype": HOSTILE,
                                              "rcode": HOSTILE, "answers": [{"rdata": HOSTILE}]}},
        {**base, "event_type": "alert", "alert": {"action": HOSTILE, "signature": HOSTILE, "signature_id": 1},
         "payload": "G1sySgc="},  # ESC [2J BEL
        {**base, "event_type": "flow", "app_proto": HOSTILE, "flow": {"state": HOSTILE}},
    ]
    (day / "ids" / "eve.json").write_text("".join(json.dumps(r) + "\n" for r in eve) + HOSTILE.replace("\n", " ") + "\n")
    line = HOSTILE.replace("\n", " ")
    typed, argument = b"ls \x1b]0;t\x07 [red]x".hex(), b"\x1b[2J[red]".hex()
    (day / "syslog" / "web.log").write_text(f"2026-11-29T02:11:01Z 203.0.113.80 {line} {line}\n")
    (day / "audit" / "web.log").write_text(
        "2026-11-29T02:11:00Z 203.0.113.80 web vhn-audit: audit: type=1319 audit(1.2:3): tty pid=1 uid=0 "
        f'comm="{line}" data={typed}\n'
        "2026-11-29T02:11:02Z 203.0.113.80 web kernel: audit: type=1309 audit(1.2:4): argc=2 "
        f'a0="{line}" a1={argument}\n')
    alerts = {"time": "2026-11-29T02:12:00Z", **{k: HOSTILE for k in
                                                  ("kind", "honeypot", "destination", "protocol", "port", "limit")}}
    (day.parent / DAY / "alerts.jsonl").write_text(json.dumps(alerts) + "\n")


def _run(*args: str, storage: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "COLUMNS": "2000"}  # no cell wraps
    return subprocess.run([sys.executable, "-m", "vhoneynet", *args, "--storage", str(storage)],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def honeynet(tmp_path: Path) -> tuple[str, Path]:
    """A honeynet that was brought up once (saved topology) and captured hostile records."""
    hid = unique_id()
    topo = loads(f"id: {hid}\nhost: {{storage: {tmp_path}}}\n"
                 "honeypots:\n  - {name: web, image: linux-web, address: 203.0.113.80}\n",
                 known_images={"honeywall", "linux-web"})
    RunDir.of(topo).save(topo)
    _hostile_capture(CaptureFolder.of(topo).root)
    return hid, tmp_path


@pytest.mark.parametrize("form", [[], ["--json"]], ids=["table", "json"])
def test_events_show_hostile_fields_escaped(honeynet, form):
    hid, storage = honeynet
    result = _run("events", hid, *form, storage=storage)
    assert result.returncode == 0, result.stderr
    _assert_clean(result.stdout + result.stderr)
    assert "[red]RED[/red]" in result.stdout  # markup in data shows literally
    if form:
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert HOSTILE in {e["summary"].split(" ", 1)[-1].rsplit(" ", 1)[0] for e in events if e["type"] == "tls"}
    else:
        assert len([line for line in result.stdout.splitlines() if line.startswith("2026-")]) == 10  # one line per event


@pytest.mark.parametrize("form", [[], ["--json"]], ids=["table", "json"])
def test_alerts_show_hostile_fields_escaped(honeynet, form):
    hid, storage = honeynet
    result = _run("alerts", hid, *form, storage=storage)
    assert result.returncode == 0, result.stderr
    _assert_clean(result.stdout + result.stderr)
    assert "[red]RED[/red]" in result.stdout


def test_error_messages_are_escaped_and_not_markup(tmp_path: Path):
    result = _run("events", "[red]x\x1b]0;t\x07", storage=tmp_path)
    assert result.returncode != 0
    _assert_clean(result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


def test_status_fields_from_guests_are_escaped(monkeypatch):
    console = Console(file=io.StringIO(), color_system=None, width=300)
    monkeypatch.setattr(honeynet_cli, "out", console)
    honeynet_cli.show_status({"id": "vhnt", "state": HOSTILE, "capture_dir": HOSTILE,
                      "guests": [{"name": "web", "role": "honeypot", "image": HOSTILE, "address": HOSTILE,
                                  "state": HOSTILE}],
                      "outside": [{"name": "o", "address": HOSTILE, "present": True}],
                      "networks": {"int": {"bridge": HOSTILE, "cidr": HOSTILE}}})
    output = console.file.getvalue()
    _assert_clean(output)
    assert "[red]" in output
