"""The scripting contract of `vhoneynet` (docs/cli.md): one exit code per outcome, JSON errors under
--json, JUnit XML from verify, completion that never fails. No VM, no libvirt: where a command
would reach the host, the function it calls is replaced by one raising the error to show."""

from __future__ import annotations

import inspect
import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer.main
from typer.testing import CliRunner

from vhoneynet import __version__, errors
from vhoneynet.cli import app, base, complete, junit
from vhoneynet.errors import (
    CHECK_FAILED,
    CONFLICT,
    FAILED,
    HOST_NOT_READY,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    TIMED_OUT,
    DataControlFailed,
    GuestNotReady,
    HoneynetExists,
    HypervisorUnavailable,
    VhoneynetError,
)
from vhoneynet.gateway.live.verify import LayerResult
from vhoneynet.rundir import RunDir
from vhoneynet.topology import loads

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "topologies" / "demo.yml"
DOCS = ROOT / "docs" / "cli.md"
HID = "vhncli"


def vhn(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def json_error(result) -> dict:
    error = json.loads(result.stdout)["error"]
    assert set(error) >= {"kind", "message", "field", "line"}, error
    return error


@pytest.fixture
def no_host(monkeypatch):
    """Backends that answer like a host without honeynets; nothing reaches libvirt."""
    hv = SimpleNamespace(guests=lambda hid: [], honeynet_domains=lambda hid: ([], []))
    fake = SimpleNamespace(hv=hv, net=SimpleNamespace(netns=lambda prefix: []))
    monkeypatch.setattr(base, "backends", lambda uri=None: fake)
    return fake


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A storage folder with honeynet HID's run folder (as `up` leaves it) and one checkpoint."""
    topo = loads(f"id: {HID}\nhost: {{storage: {tmp_path}}}\nhoneypots:\n  - {{name: web, image: linux-web, "
                 "address: 203.0.113.80}\noutside:\n  - {name: scanner, address: 203.0.113.66}\n",
                 known_images={"honeywall", "linux-web"})
    run = RunDir.of(topo)
    run.save(topo)
    run.checkpoint("clean").mkdir(parents=True)
    (run.checkpoint("clean") / "checkpoint.json").write_text(json.dumps(
        {"name": "clean", "created": "2026-01-01T00:00:00Z", "guests": ["web"]}))
    return tmp_path


# --- 0 and 2: real input ----------------------------------------------------------------


def test_a_valid_topology_is_0_and_json():
    result = vhn("validate", DEMO, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"valid": True, "id": "demo", "file": str(DEMO), "honeypots": 2, "outside": 1}


def test_an_invalid_topology_is_2_naming_field_and_line(tmp_path: Path):
    path = tmp_path / "bad.yml"
    path.write_text("id: vhnbad\nhoneypots:\n  - name: web\n    image: linux-web\n    address: 203.0.113.80\n"
                    "    memory: -5\n")
    result = vhn("validate", path)
    assert result.exit_code == INVALID
    assert f"{path}:6: honeypots[0].memory" in result.output
    result = vhn("validate", path, "--json")
    assert result.exit_code == INVALID
    error = json_error(result)
    assert (error["kind"], error["field"], error["line"]) == ("TopologyInvalid", "honeypots[0].memory", 6)
    assert error["problems"] == [{"field": "honeypots[0].memory", "line": 6,
                                  "message": "Input should be greater than or equal to 128"}]


def test_a_syntax_error_is_2_with_its_line(tmp_path: Path):
    path = tmp_path / "broken.yml"
    path.write_text("id: demo\nhoneypots: [\n")
    error = json_error(result := vhn("plan", path, "--json"))
    assert result.exit_code == INVALID
    assert error["kind"] == "TopologySyntaxError" and error["field"] is None and isinstance(error["line"], int)


def test_a_refused_name_under_json_is_a_json_usage_error():
    result = vhn("status", "Bad Id", "--json")
    assert result.exit_code == INVALID
    error = json_error(result)
    assert error["kind"] == "BadParameter" and error["field"] == "hid" and "is not valid" in error["message"]


def test_an_unknown_option_is_2():
    assert vhn("status", HID, "--no-such-option").exit_code == INVALID


# --- 4: real input ------------------------------------------------------------------------


def test_a_missing_honeynet_is_4_without_libvirt(tmp_path: Path):
    """Commands that read only the run folder say so with no host at all."""
    for command in (["checkpoint", HID, "--list"], ["alerts", HID], ["graph", HID]):
        result = vhn(*command, "--storage", tmp_path, "--json")
        assert result.exit_code == NOT_FOUND, (command, result.output)
        assert json_error(result)["kind"] == "HoneynetNotFound"


def test_debug_adds_the_traceback_and_keeps_the_code(tmp_path: Path):
    plain = vhn("checkpoint", HID, "--list", "--storage", tmp_path)
    debug = vhn("--debug", "checkpoint", HID, "--list", "--storage", tmp_path)
    assert plain.exit_code == debug.exit_code == NOT_FOUND
    assert "Traceback" not in plain.output and "Traceback" in debug.output
    assert f"error: no honeynet '{HID}' on this host" in plain.output


def test_status_of_a_missing_honeynet_is_4(tmp_path: Path, no_host):
    result = vhn("status", "vhnnone", "--storage", tmp_path, "--json")
    assert result.exit_code == NOT_FOUND
    assert json_error(result) == {"kind": "HoneynetNotFound", "message": "no honeynet 'vhnnone' on this host",
                                  "field": None, "line": None}


def test_an_unknown_checkpoint_is_4(saved: Path, no_host):
    result = vhn("reset", HID, "--to", "nosuch", "--storage", saved, "--json")
    assert result.exit_code == NOT_FOUND, result.output
    assert json_error(result)["kind"] == "CheckpointNotFound"


# --- 1, 3, 5, 6, 7, 70: the error raised where the command would meet it ---------------------


def test_a_failed_verify_layer_is_1_and_a_junit_failure(tmp_path: Path, no_host, monkeypatch):
    from vhoneynet.gateway.live import verify

    monkeypatch.setattr(verify, "verify", lambda hid, b, storage: [
        LayerResult("tcp limit", 30, 20, 20, "pass"),
        LayerResult("spoofing", 5, 1, 0, "fail", "1 spoofed packet left"),
        LayerResult("ids", 0, 0, 0, "skipped", "no sensor")])
    report = tmp_path / "verify.xml"
    result = vhn("verify", HID, "--junit", report, "--json")
    assert result.exit_code == CHECK_FAILED
    assert json.loads(result.stdout)["ok"] is False
    suite = ET.parse(report).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["spoofing"].find("failure").get("message") == "1 spoofed packet left"
    assert cases["ids"].find("skipped") is not None and len(cases["tcp limit"]) == 0


def test_a_passing_verify_is_0(no_host, monkeypatch):
    from vhoneynet.gateway.live import verify

    monkeypatch.setattr(verify, "verify", lambda hid, b, storage: [LayerResult("tcp limit", 30, 20, 20, "pass")])
    assert vhn("verify", HID).exit_code == 0


def test_libvirt_unreachable_is_3(monkeypatch):
    def unreachable(uri=None):
        raise HypervisorUnavailable("qemu:///system", "Failed to connect socket")

    monkeypatch.setattr(base, "backends", unreachable)
    result = vhn("down", HID, "--json")
    assert result.exit_code == HOST_NOT_READY
    assert json_error(result)["kind"] == "HypervisorUnavailable"


def test_a_host_check_with_something_missing_is_3(monkeypatch):
    from vhoneynet import hostcheck

    monkeypatch.setattr(hostcheck, "findings", lambda uri: [hostcheck.Finding("nft", False, "not installed")])
    assert vhn("host", "check", "--json").exit_code == HOST_NOT_READY


def test_a_guest_not_ready_in_time_is_5(saved: Path, no_host, monkeypatch):
    from vhoneynet import labs

    def slow(*_a, **_k):
        raise GuestNotReady("web", 900, "no answer on port 80")

    monkeypatch.setattr(labs, "reset", slow)
    result = vhn("reset", HID, "--storage", saved, "--json")
    assert result.exit_code == TIMED_OUT
    assert json_error(result)["kind"] == "GuestNotReady"


def test_a_honeynet_already_up_is_6(no_host, monkeypatch):
    from vhoneynet import lifecycle

    def exists(topo, *_a, **_k):
        raise HoneynetExists(topo.id)

    monkeypatch.setattr(lifecycle, "up", exists)
    monkeypatch.setattr(lifecycle, "down", lambda *_a, **_k: pytest.fail("up removed another honeynet"))
    result = vhn("up", DEMO, "--json")
    assert result.exit_code == CONFLICT
    assert json_error(result)["kind"] == "HoneynetExists"


def test_a_failed_operation_is_7(no_host, monkeypatch):
    from vhoneynet.gateway.live import control

    def refused(hid, *_a):
        raise DataControlFailed(hid, "lock down", "nft: No such file or directory")

    monkeypatch.setattr(control, "lockdown", refused)
    result = vhn("lockdown", HID)
    assert result.exit_code == FAILED and "cannot lock down" in result.output


def test_a_bug_is_70_with_its_traceback(monkeypatch):
    def broken(uri=None):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(base, "backends", broken)
    result = vhn("list")
    assert result.exit_code == INTERNAL and "ZeroDivisionError" in result.output


# --- the contract itself ----------------------------------------------------------------


def error_classes() -> list[type[VhoneynetError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, VhoneynetError)]


def test_every_error_class_has_a_documented_exit_code():
    codes = {0, CHECK_FAILED, INVALID, HOST_NOT_READY, NOT_FOUND, TIMED_OUT, CONFLICT, FAILED, INTERNAL}
    documented = DOCS.read_text()
    for cls in error_classes():
        assert cls.exit_code in codes, cls
        assert f"`{cls.__name__}`" in documented, f"{cls.__name__} is missing from docs/cli.md"


def commands(group, path=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_command_takes_json():
    without = [name for name, command in commands(typer.main.get_command(app))
               if "as_json" not in {p.name for p in command.params}]
    assert without == []


def test_version():
    result = vhn("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"vhoneynet {__version__}"


# --- completion ---------------------------------------------------------------------------


def ctx(**params):
    return SimpleNamespace(params=params)


def test_completion_of_ids_guests_checkpoints_and_recipes(saved: Path):
    assert complete.honeynets(ctx(storage=saved), "vhn") == [HID]
    assert complete.guests(ctx(storage=saved, hid=HID), "") == ["gateway", "web", "scanner"]
    assert complete.guests(ctx(storage=saved, hid=HID), "w") == ["web"]
    assert complete.honeypots(ctx(storage=saved, hid=HID), "") == ["web"]
    assert complete.checkpoints(ctx(storage=saved, hid=HID), "") == ["clean"]
    assert "linux-web" in complete.recipes(ctx(), "linux")


def test_completion_through_the_shell_protocol(saved: Path, monkeypatch):
    """What bash gets: typer's completion protocol, ending in the functions above."""
    monkeypatch.setenv("_VHONEYNET_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", f"vhoneynet reset --storage {saved} {HID} ")
    monkeypatch.setenv("COMP_CWORD", "5")
    result = CliRunner().invoke(app, [], prog_name="vhoneynet")
    assert result.stdout.split() == ["web"]


@pytest.mark.parametrize("params", [{}, {"storage": "/nonexistent", "hid": HID}, {"hid": "../.."},
                                    {"storage": 5, "hid": None}])
def test_completion_never_fails(params):
    for find in (complete.guests, complete.honeypots, complete.checkpoints):
        assert find(ctx(**params), "") == []
    assert complete.honeynets(ctx(storage=5), "") == []


def test_junit_document_escapes_what_guests_wrote():
    xml = junit.document(HID, [junit.Case("stealth", "web", "fail", "dmi: <QEMU> & \"Standard PC\"")])
    failure = ET.fromstring(xml).find("testsuite/testcase/failure")
    assert failure.text == "dmi: <QEMU> & \"Standard PC\""


def test_a_command_started_with_sigint_ignored_can_still_be_interrupted():
    """A shell without job control starts background commands with SIGINT ignored; an `up` run so
    must still stop (and clean up) on an interrupt."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(SystemExit) as done:
            typer.main.get_command(app).main(["--version"], prog_name="vhoneynet")
        assert done.value.code == 0
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
