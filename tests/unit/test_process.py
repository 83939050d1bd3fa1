"""The one host command runner: failures, timeouts and missing tools read the same way."""

from __future__ import annotations

import os
import time

import pytest

from vhoneynet.backend import hostfw
from vhoneynet.backend.process import exit_code, run, run_bytes, start_detached
from vhoneynet.errors import CommandFailed, CommandTimedOut, HostNotReady, ToolMissing


def test_output_and_stdin():
    assert run(["cat"], stdin="text in") == "text in"
    assert run_bytes(["cat"], stdin=b"\x00\xff") == b"\x00\xff"


def test_a_failure_names_the_command_its_exit_code_and_the_tail_of_stderr():
    with pytest.raises(CommandFailed) as e:
        run(["sh", "-c", "printf 'x%.0s' $(seq 5000) >&2; echo last words >&2; exit 3"])
    text = str(e.value)
    assert text.startswith("sh -c ") and "exited 3" in text and text.endswith("last words")
    assert len(text) < 2000 and e.value.code == 3


def test_a_tool_that_reports_on_stdout_is_heard():
    with pytest.raises(CommandFailed, match="said on stdout"):
        run(["sh", "-c", "echo said on stdout; exit 1"])


def test_a_timeout_is_its_own_error_naming_the_command():
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match=r"^sleep 30 gave no answer within 0.5 s"):
        run(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - started < 5


def test_a_missing_tool_is_a_host_problem_not_a_traceback():
    with pytest.raises(ToolMissing, match="vhn-no-such-tool"):
        run(["vhn-no-such-tool"])
    assert issubclass(ToolMissing, HostNotReady)


def test_a_long_command_line_is_shortened_in_the_message():
    with pytest.raises(CommandFailed) as e:
        run(["sh", "-c", "exit 1", "x" * 5000])
    assert len(str(e.value)) < 400


def test_exit_code_as_another_user():
    assert exit_code(["true"]) == 0
    if os.geteuid() == 0:
        assert exit_code(["sh", "-c", 'test "$(id -u)" != 0'], user="nobody") == 0


def test_start_detached_outlives_its_caller(tmp_path):
    pid = start_detached(["sh", "-c", "echo started"], tmp_path / "log")
    for _ in range(50):
        if (tmp_path / "log").read_text():
            break
        time.sleep(0.1)
    assert pid > 0 and (tmp_path / "log").read_text() == "started\n"


def test_nft_missing_says_which_package(monkeypatch):
    monkeypatch.setattr(hostfw, "NFT", "vhn-no-such-nft")
    with pytest.raises(HostNotReady, match="nftables"):
        hostfw.HostFirewall().tables()
