"""The live progress of `up` and `reset` (cli/live.py): a table of the guests on a terminal, the
plain lines as before anywhere else. A console line is the guest's text: it shows literally."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from vhoneynet.cli import base
from vhoneynet.cli.live import CONSOLE_WIDTH, LiveProgress, guest_table
from vhoneynet.errors import ImageBuildFailed
from vhoneynet.images import BuildStep, _Steps
from vhoneynet.lifecycle import GuestProgress

HOSTILE = "[red]owned[/] \x1b]0;pwned\x07\x1b[2J\r\x9bforged"


def terminal() -> Console:
    return Console(record=True, force_terminal=True, width=200, color_system="truecolor")


def test_the_table_shows_each_guests_state_seconds_and_last_console_line():
    console = terminal()
    console.print(guest_table({"dns": GuestProgress("dns", "ready", 12.4, "Cloud-init finished"),
                               "web": GuestProgress("web", "probing http 203.0.113.11:80", 3, "Starting Apache")}))
    shown = console.export_text()
    assert re.search(r"dns\s+ready\s+12\s+Cloud-init finished", shown)
    assert re.search(r"web\s+probing http 203.0.113.11:80\s+3\s+Starting Apache", shown)


def test_a_hostile_console_line_is_shown_literally_and_escaped():
    console = terminal()
    console.print(guest_table({"web": GuestProgress("web", "booting", 1, HOSTILE)}))
    shown = console.export_text(styles=True)
    assert "[red]owned[/]" in shown  # markup-like text is text
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\r\\x9bforged" in shown
    assert "\x07" not in shown and "\r" not in shown and "\x9b" not in shown and "\x1b]0;" not in shown


def test_a_long_console_line_is_cut():
    console = terminal()
    console.print(guest_table({"web": GuestProgress("web", "booting", 1, "x" * 500)}))
    assert "x" * (CONSOLE_WIDTH - 1) + "…" in console.export_text() and "x" * CONSOLE_WIDTH not in console.export_text()


def test_on_a_terminal_updates_become_the_table_and_lines_still_print():
    console = terminal()
    with base.progress_for(console=console) as shown:
        assert isinstance(shown, LiveProgress)
        shown("starting 1 guests")
        shown.guest(GuestProgress("web", "booting", 0, HOSTILE))  # type: ignore[attr-defined]
        shown.guest(GuestProgress("web", "ready", 7, "Cloud-init finished"))  # type: ignore[attr-defined]
    out = console.export_text()
    assert "starting 1 guests" in out and re.search(r"web\s+ready\s+7\s+Cloud-init finished", out)


def test_off_a_terminal_or_under_json_the_plain_lines_are_printed_as_before():
    for as_json, console in ((False, Console(file=io.StringIO(), width=200)),
                             (True, Console(file=io.StringIO(), force_terminal=True, width=200))):
        with base.progress_for(as_json, console=console) as shown:
            assert not hasattr(shown, "guest")  # wait_ready then sends it lines only
            shown("guest web: ready after 7 s")
        printed = re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue())  # type: ignore[attr-defined]
        assert re.fullmatch(r"\d\d:\d\d:\d\d guest web: ready after 7 s\n", printed)  # the dim time is today's too


def test_the_commands_default_is_the_plain_progress_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(base, "err", Console(stderr=True, file=io.StringIO()))
    with base.progress_for() as shown:
        assert shown is base.progress


def test_build_steps_show_their_state_and_seconds():
    console = terminal()
    live = LiveProgress(console)
    live.step(BuildStep("linux", "debootstrap trixie (linux)", "running", 0))
    live.step(BuildStep("linux", "debootstrap trixie (linux)", "done", 41.2))
    live.step(BuildStep("linux", "setup.sh", "failed", 3))
    live.close()
    out = console.export_text()
    assert re.search(r"linux\s+debootstrap trixie \(linux\)\s+done\s+41", out)
    assert re.search(r"linux\s+setup\.sh\s+failed\s+3", out)


def test_a_build_step_is_announced_as_a_line_and_to_a_live_display():
    class Display(list):
        def __call__(self, line: str) -> None:
            self.append(line)

        def step(self, step: BuildStep) -> None:
            self.append((step.name, step.state))

    shown = Display()
    steps = _Steps("linux", shown)
    with steps("clean"):
        pass
    with pytest.raises(ImageBuildFailed), steps("setup.sh"):
        raise OSError("no space left")
    assert shown == ["clean…", ("clean", "running"), ("clean", "done"),
                     "setup.sh…", ("setup.sh", "running"), ("setup.sh", "failed")]
