"""The pytest plugin without guests: pytest runs inside pytest (pytester) against a stand-in
Honeynet that records what it was asked to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

import vhoneynet
from tests.conftest import REPO
from vhoneynet.errors import HoneynetNotFound

pytest_plugins = ["pytester"]

# The plugin from this tree (an installed entry point, if any, stands aside), and no pytest-xdist
# inside: the stand-in's record lives in this process.
PLUGIN = ["-p", "no:vhoneynet", "-p", "vhoneynet.pytest_plugin", "-p", "no:xdist", "--strict-markers"]


class FakeHoneynet:
    """Honeynet's surface as the plugin uses it; `calls` is the record, `running` the host."""

    calls: ClassVar[list[tuple]] = []
    running: ClassVar[dict[str, str]] = {}  # id -> state

    def __init__(self, hid: str, uri: str = "qemu:///system", storage: str = "/var/lib/vhoneynet"):
        self.hid, self.uri, self.storage = hid, uri, Path(storage)

    @classmethod
    def up(cls, topology: Path) -> FakeHoneynet:
        hid = json.loads(Path(topology).read_text())["id"]
        cls.calls.append(("up", hid))
        cls.running[hid] = "running"
        return cls(hid)

    @classmethod
    def attach(cls, hid: str, uri: str, storage: str) -> FakeHoneynet:
        cls.calls.append(("attach", hid))
        if hid not in cls.running:
            raise HoneynetNotFound(hid)
        return cls(hid, uri, storage)

    def status(self) -> dict:
        return {"id": self.hid, "state": self.running[self.hid]}

    def down(self) -> dict:
        self.calls.append(("down", self.hid))
        if self.running.pop(self.hid, None) is None:
            raise HoneynetNotFound(self.hid)
        return {"id": self.hid}

    def reset(self, guests=None, to=None) -> dict:
        self.calls.append(("reset", self.hid, guests, to))
        return {"id": self.hid}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeHoneynet]:
    monkeypatch.setattr(vhoneynet, "Honeynet", FakeHoneynet)
    monkeypatch.setattr(FakeHoneynet, "calls", [])
    monkeypatch.setattr(FakeHoneynet, "running", {})
    return FakeHoneynet


@pytest.fixture
def topologies(pytester: pytest.Pytester) -> dict[str, Path]:
    made = {}
    for name, hid in (("a", "vaaaaaaa"), ("b", "vbbbbbbb")):
        made[name] = pytester.path / f"{name}.json"
        made[name].write_text(json.dumps({"id": hid}))
    return made


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, *args)


def test_option_chooses_the_topology_and_one_honeynet_serves_the_session(pytester, fake, topologies):
    pytester.makepyfile("""
        def test_one(honeynet):
            assert honeynet.hid == "vaaaaaaa"

        def test_two(honeynet):
            assert honeynet.hid == "vaaaaaaa"
    """)
    run(pytester, "--vhn-topology", "a.json").assert_outcomes(passed=2)
    assert fake.calls == [("up", "vaaaaaaa"), ("down", "vaaaaaaa")]
    assert fake.running == {}


def test_marker_wins_over_the_option_and_its_path_is_the_test_files(pytester, fake, topologies):
    (pytester.path / "sub").mkdir()
    topologies["b"].rename(pytester.path / "sub" / "b.json")
    (pytester.path / "sub" / "test_marked.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.vhn_topology('b.json')\n"
        "def test_marked(honeynet):\n"
        "    assert honeynet.hid == 'vbbbbbbb'\n\n"
        "def test_plain(honeynet):\n"
        "    assert honeynet.hid == 'vaaaaaaa'\n")
    run(pytester, "--vhn-topology", "a.json").assert_outcomes(passed=2)
    assert sorted(fake.calls) == [("down", "vaaaaaaa"), ("down", "vbbbbbbb"), ("up", "vaaaaaaa"), ("up", "vbbbbbbb")]


def test_a_module_scoped_fixture_may_build_on_the_honeynet(pytester, fake, topologies):
    pytester.makepyfile("""
        import pytest

        @pytest.fixture(scope="module")
        def web(honeynet):
            return honeynet.hid + "-web"

        def test_web(web):
            assert web == "vaaaaaaa-web"
    """)
    run(pytester, "--vhn-topology", "a.json").assert_outcomes(passed=1)


def refused(pytester: pytest.Pytester, fake: type[FakeHoneynet], marker: str, message: str) -> None:
    """A test using `honeynet` (under `marker`) errors with `message`, and nothing is brought up."""
    pytester.makepyfile(f"import pytest\n\n{marker}\ndef test_one(honeynet):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    assert fake.calls == []


def test_without_a_topology_the_fixture_says_what_is_missing(pytester, fake):
    refused(pytester, fake, "", "*the honeynet fixture needs a topology: --vhn-topology FILE*")


def test_a_malformed_marker_is_a_collection_error(pytester, fake, topologies):
    refused(pytester, fake, '@pytest.mark.vhn_topology("a.json", "b.json")', "*vhn_topology takes one topology file*")


def test_reuse_keeps_the_honeynet_and_the_next_run_attaches_to_it(pytester, fake, topologies):
    pytester.makepyfile("""
        def test_one(honeynet):
            assert honeynet.hid == "vaaaaaaa"
    """)
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    assert fake.calls == [("up", "vaaaaaaa")] and fake.running == {"vaaaaaaa": "running"}
    fake.calls.clear()
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    assert fake.calls == [("attach", "vaaaaaaa")]
    fake.calls.clear()
    # a run without --vhn-reuse takes the kept one too, and brings it down at its end
    run(pytester, "--vhn-topology", "a.json").assert_outcomes(passed=1)
    assert fake.calls == [("attach", "vaaaaaaa"), ("down", "vaaaaaaa")]
    fake.calls.clear()
    run(pytester, "--vhn-topology", "a.json").assert_outcomes(passed=1)
    assert fake.calls == [("up", "vaaaaaaa"), ("down", "vaaaaaaa")]


def test_reuse_brings_up_a_new_one_when_the_topology_changed_or_the_kept_one_is_gone(pytester, fake, topologies):
    pytester.makepyfile("""
        def test_one(honeynet):
            pass
    """)
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    fake.running.clear()  # removed by hand between the runs
    fake.calls.clear()
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    assert fake.calls == [("attach", "vaaaaaaa"), ("up", "vaaaaaaa")]
    topologies["a"].write_text(json.dumps({"id": "vaaaaaaa", "changed": True}))
    fake.calls.clear()
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    assert fake.calls == [("up", "vaaaaaaa")], "another content hash: no attach"


def test_a_kept_honeynet_that_is_not_whole_is_removed_and_brought_up_again(pytester, fake, topologies):
    pytester.makepyfile("""
        def test_one(honeynet):
            pass
    """)
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    fake.running["vaaaaaaa"] = "degraded"
    fake.calls.clear()
    run(pytester, "--vhn-topology", "a.json", "--vhn-reuse").assert_outcomes(passed=1)
    assert fake.calls == [("attach", "vaaaaaaa"), ("down", "vaaaaaaa"), ("up", "vaaaaaaa")]


def test_reset_only_on_request_by_marker_or_fixture(pytester, fake, topologies):
    pytester.makepyfile("""
        import pytest

        def test_plain(honeynet):
            pass

        @pytest.mark.vhn_reset
        def test_marked(honeynet):
            pass

        @pytest.mark.vhn_reset(guests=["web"], to="clean")
        def test_marked_with_arguments(honeynet):
            pass

        def test_fresh(fresh_honeynet):
            assert fresh_honeynet.hid == "vaaaaaaa"

        @pytest.mark.vhn_reset
        def test_fresh_and_marked_resets_once(fresh_honeynet):
            pass

        @pytest.mark.vhn_reset
        def test_marked_without_a_honeynet():
            pass
    """)
    run(pytester, "--vhn-topology", "a.json").assert_outcomes(passed=6)
    assert fake.calls == [
        ("up", "vaaaaaaa"),
        ("reset", "vaaaaaaa", None, None),
        ("reset", "vaaaaaaa", ["web"], "clean"),
        ("reset", "vaaaaaaa", None, None),
        ("reset", "vaaaaaaa", None, None),
        ("down", "vaaaaaaa"),
    ]


def test_markers_are_registered_for_strict_markers(pytester, fake):
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.vhn_topology(file):*", "@pytest.mark.vhn_reset(guests=None, to=None):*"])


def test_importing_vhoneynet_and_its_plugin_loads_no_libvirt():
    code = ("import sys, vhoneynet, vhoneynet.pytest_plugin; "
            "assert not [m for m in sys.modules if m.startswith('libvirt')], 'libvirt imported'; "
            "assert vhoneynet.Honeynet.__module__ == 'vhoneynet.api'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"vhoneynet": "vhoneynet.pytest_plugin"}
