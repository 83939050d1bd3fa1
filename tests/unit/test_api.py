"""The Python API without guests: what each method hands the lifecycle, labs and capture
functions, and `up`'s clean-up on failure that the CLI shares."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_capture import DAY, EVE_ALERT, EVE_DNS
from vhoneynet import api, lifecycle
from vhoneynet.backend.libvirt import ExecResult
from vhoneynet.errors import GuestNotReady, HoneynetExists, InvalidName, SubnetCollision
from vhoneynet.rundir import CaptureFolder
from vhoneynet.topology.model import Topology

HID = "vapi1"


def topo(**host) -> Topology:
    return Topology.model_validate({
        "id": HID, "host": host,
        "networks": {"honeynet": {"cidr": "203.0.113.0/24"}, "admin": {"cidr": "10.254.0.0/29"}},
        "honeypots": [{"name": "web", "image": "linux-web", "address": "203.0.113.80"}],
        "outside": [],
    })


class Calls(list):
    """What lifecycle.up and down were asked; `up` raises `fails` when it is set."""

    fails: BaseException | None = None


@pytest.fixture
def lifecycle_calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls = Calls()

    def up(t, b, progress, timeout, probe, warm_state=True, warm_start=True):
        calls.append(("up", t.id, t.host.uri, t.host.storage, timeout, probe, f"{os.umask(0o077):03o}"))
        if calls.fails is not None:
            raise calls.fails
        return {"id": t.id, "timings": {"boot": 1.0}}

    def down(hid, b, storage, progress=None):
        calls.append(("down", hid, storage))
        return {"id": hid}

    monkeypatch.setattr(lifecycle, "up", up)
    monkeypatch.setattr(lifecycle, "down", down)
    monkeypatch.setattr(api.Backends, "for_host", classmethod(lambda cls, uri="qemu:///system": f"backends of {uri}"))
    return calls


@pytest.mark.parametrize("error", [GuestNotReady("web", 10, "timed out"), KeyboardInterrupt()])
def test_failed_up_removes_what_it_made_and_raises(lifecycle_calls, error):
    lifecycle_calls.fails = error
    with pytest.raises(type(error)):
        lifecycle.up_or_undo(topo(), "b")
    assert [c[0] for c in lifecycle_calls] == ["up", "down"]


@pytest.mark.parametrize("error", [HoneynetExists(HID), SubnetCollision("networks.admin.cidr", "10.254.0.0/29", "lab1")])
def test_up_refused_before_anything_was_made_removes_nothing(lifecycle_calls, error):
    lifecycle_calls.fails = error
    with pytest.raises(type(error)):
        lifecycle.up_or_undo(topo(), "b")
    assert [c[0] for c in lifecycle_calls] == ["up"]


def test_failed_up_kept_on_request(lifecycle_calls):
    lifecycle_calls.fails = GuestNotReady("web", 10, "timed out")
    with pytest.raises(GuestNotReady):
        lifecycle.up_or_undo(topo(), "b", keep_on_failure=True)
    assert [c[0] for c in lifecycle_calls] == ["up"]


def test_up_takes_host_overrides_runs_private_and_leaves_the_umask(lifecycle_calls, tmp_path):
    before = os.umask(0o022)
    try:
        hn = api.Honeynet.up(topo(), uri="qemu:///session", storage=tmp_path, timeout=5, probe=False)
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)
    assert lifecycle_calls == [("up", HID, "qemu:///session", tmp_path, 5, False, "077")]
    assert (hn.hid, hn.uri, hn.storage, hn.backends) == (HID, "qemu:///session", tmp_path, "backends of qemu:///session")
    assert hn.up_status["timings"] == {"boot": 1.0} and "up_seconds" in hn.up_status


def test_up_from_a_file_checks_it_before_anything(lifecycle_calls, tmp_path):
    path = tmp_path / "t.yml"
    path.write_text(json.dumps({**json.loads(topo().model_dump_json()), "honeypots": [
        {"name": "web", "image": "no-such-recipe", "address": "203.0.113.80"}]}))
    with pytest.raises(Exception, match="no-such-recipe"):
        api.Honeynet.up(path)
    assert lifecycle_calls == []


def test_context_manager_brings_the_honeynet_down_also_after_an_error(lifecycle_calls, tmp_path):
    with pytest.raises(RuntimeError), api.Honeynet.up(topo(storage=str(tmp_path))) as hn:
        assert hn.hid == HID
        raise RuntimeError("a failing test")
    assert lifecycle_calls[-1] == ("down", HID, tmp_path)


def test_a_handle_refuses_a_bad_id_before_touching_anything():
    with pytest.raises(InvalidName):
        api.Honeynet("../etc")


def test_exec_gives_a_completed_process_whatever_the_exit_code(monkeypatch):
    seen = {}

    def execute(hid, guest, argv, b, stdin=None, timeout=120):
        seen.update(hid=hid, guest=guest, argv=argv, stdin=stdin, timeout=timeout)
        return ExecResult(3, b"web\n", b"oops\n")

    monkeypatch.setattr(api, "execute", execute)
    hn = api.Honeynet(HID)
    hn._backends = "b"
    r = hn.exec("web", ("sh", "-c", "hostname; exit 3"), stdin=b"in", timeout=9)
    assert isinstance(r, subprocess.CompletedProcess)
    assert (r.args, r.returncode, r.stdout, r.stderr) == (["sh", "-c", "hostname; exit 3"], 3, b"web\n", b"oops\n")
    assert seen == {"hid": HID, "guest": "web", "argv": ["sh", "-c", "hostname; exit 3"], "stdin": b"in", "timeout": 9}
    with pytest.raises(TypeError):
        hn.exec("web", "hostname")


def test_events_ingests_the_captured_logs_then_filters(tmp_path):
    ids = CaptureFolder(tmp_path / "captures" / HID).share / DAY / "ids"
    ids.mkdir(parents=True)
    (ids / "eve-outbound.json").write_text(f"{EVE_ALERT}\n")
    (ids / "eve-inbound.json").write_text(f"{EVE_DNS}\n")
    hn = api.Honeynet(HID, storage=tmp_path)
    assert sorted(e["type"] for e in hn.events()) == ["alert", "dns"]
    assert [e["type"] for e in hn.events(types="dns")] == ["dns"]
    assert hn.events(types=["alert"], since="2026-11-30T00:00:00") == []
    assert len(hn.events(limit=1)) == 1
    with pytest.raises(InvalidName):
        hn.events(honeypot="../web")


def test_reset_and_checkpoint_hand_their_arguments_to_the_labs(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(api.labs, "reset", lambda *a, **k: calls.append(("reset", a, k)) or {})
    monkeypatch.setattr(api.labs, "checkpoint", lambda *a, **k: calls.append(("checkpoint", a, k)) or {})
    hn = api.Honeynet(HID, storage=tmp_path)
    hn._backends = "b"
    hn.reset()
    hn.reset(("web",), to="clean", timeout=5, probe=False)
    hn.checkpoint("clean", ["web"])
    assert [(c[0], c[1]) for c in calls] == [
        ("reset", (HID, "b", None, None, tmp_path)),
        ("reset", (HID, "b", ["web"], "clean", tmp_path)),
        ("checkpoint", (HID, "clean", "b", ["web"], tmp_path)),
    ]
    assert calls[1][2]["timeout"] == 5 and calls[1][2]["probe"] is False
    with pytest.raises(InvalidName):
        hn.reset(["../web"])


def test_verify_report_is_the_cli_json(monkeypatch, tmp_path):
    from vhoneynet.gateway.live.verify import LayerResult

    monkeypatch.setattr(api.gateway_verify, "verify", lambda hid, b, storage: [
        LayerResult("limits", 10, 3, 3, "pass"), LayerResult("ips", 2, 1, 0, "fail", "one arrived")])
    hn = api.Honeynet(HID, storage=tmp_path)
    hn._backends = "b"
    report = hn.verify()
    assert report["id"] == HID and report["ok"] is False and "stealth" not in report
    assert [layer["layer"] for layer in report["layers"]] == ["limits", "ips"]


def test_storage_given_as_text_is_a_path():
    assert api.Honeynet(HID, storage="/srv/vhn").storage == Path("/srv/vhn")
