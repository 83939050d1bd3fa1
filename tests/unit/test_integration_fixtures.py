"""The integration fixtures' honeynet handling, without guests: what the tests read of a test
honeynet, and that it is brought down whatever happens."""

from __future__ import annotations

import json
import subprocess
from typing import ClassVar

import pytest

import vhoneynet
from tests.integration.conftest import Honeynet, running, topology_text
from vhoneynet.errors import AgentUnavailable, GuestNotReady, HoneynetNotFound

HID = "vfix001"


class FakeApi:
    """vhoneynet.Honeynet as the fixtures use it; `log` is what was asked."""

    log: ClassVar[list[tuple]] = []
    fails: ClassVar[BaseException | None] = None

    def __init__(self, hid: str, progress=None):
        self.hid = hid

    @classmethod
    def up(cls, topology, progress=None):
        cls.log.append(("up", json.loads(topology.read_text())["id"]))
        if cls.fails is not None:
            raise cls.fails
        hn = cls(HID)
        hn.up_status = {"id": HID, "timings": {"boot": 1.5}, "up_seconds": 2.0}
        return hn

    def down(self):
        self.log.append(("down", self.hid))
        if self.fails is not None:  # a failed `up` removed what it made
            raise HoneynetNotFound(self.hid)

    def exec(self, guest, argv, timeout=120):
        if guest == "gone":
            raise AgentUnavailable(f"vhn-{HID}-{guest}", "no answer")
        return subprocess.CompletedProcess(list(argv), 0, f"{guest}\n".encode(), b"")


@pytest.fixture
def api(monkeypatch, tmp_path):
    monkeypatch.setattr(vhoneynet, "Honeynet", FakeApi)
    monkeypatch.setattr(FakeApi, "log", [])
    monkeypatch.setattr(FakeApi, "fails", None)
    topology = tmp_path / "topology.yml"
    topology.write_text(topology_text(HID, tmp_path / "captures", admin_octet=20))
    return topology


def test_a_test_honeynet_reads_as_before(api, tmp_path):
    with running(api, tmp_path / "captures") as h:
        assert isinstance(h, Honeynet)
        assert (h.hid, h.topology, h.capture) == (HID, api, tmp_path / "captures")
        assert h.status["timings"] == {"boot": 1.5}
        assert h.netns("attacker") == f"vhn-{HID}-attacker"
        r = h.sh("web", "hostname")
        assert (r.returncode, r.stdout) == (0, b"web\n") and r.args == ["/bin/bash", "-c", "hostname"]
    assert FakeApi.log == [("up", HID), ("down", HID)]


def test_exec_refused_is_exit_code_1_with_the_error_as_the_command_gives_it(api, tmp_path):
    with running(api, tmp_path / "captures") as h:
        r = h.exec("gone", "true", timeout=5)
    assert r.returncode == 1 and b"error: " in r.stderr and r.stdout == b""


def test_down_also_after_a_failing_test(api, tmp_path):
    with pytest.raises(AssertionError), running(api, tmp_path / "captures"):
        raise AssertionError("a failing test")
    assert FakeApi.log[-1] == ("down", HID)


def test_a_failed_up_raises_and_the_down_after_it_finds_nothing_quietly(api, tmp_path):
    FakeApi.fails = GuestNotReady("web", 10, "timed out")
    with pytest.raises(GuestNotReady), running(api, tmp_path / "captures"):
        pass
    assert FakeApi.log == [("up", HID), ("down", HID)]
