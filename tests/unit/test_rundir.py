"""RunDir and CaptureFolder: where a honeynet's state lives, and that what vhoneynet writes is private."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vhoneynet.errors import CaptureGroupUnknown, HoneynetNotFound
from vhoneynet.permissions import make_folder
from vhoneynet.rundir import CaptureFolder, RunDir, saved_topologies
from vhoneynet.topology import loads

HID = "vhnrd1"


def topo(storage: Path, extra: str = ""):
    return loads(f"id: {HID}\nhost: {{storage: {storage}}}\n{extra}", known_images={"honeywall"})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """What a shell usually has: the code must not rely on the caller's umask for its secrets."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_saved_topology_is_a_topology_and_private_whatever_the_umask(tmp_path: Path, loose_umask):
    t = topo(tmp_path / "storage", "collect: {url: 'https://c.example:8443', token: secret-token-0123456789}\n")
    run = RunDir.of(t)
    run.save(t)
    assert run.saved() == t
    assert mode(run.topology_file) == 0o600  # it holds the collector's token
    assert mode(run.path) == 0o711  # qemu's user walks through to the disks; nobody lists
    assert mode(run.path.parent) == 0o711 and mode(run.path.parent.parent) == 0o711
    assert [p.name for p in run.path.iterdir()] == ["topology.json"]  # no work file left behind


def test_missing_or_unreadable_topology_is_not_found(tmp_path: Path):
    run = RunDir(tmp_path, HID)
    assert run.topology() is None
    with pytest.raises(HoneynetNotFound):
        run.saved()
    run.create()
    run.topology_file.write_text("{")
    with pytest.raises(HoneynetNotFound):
        run.saved()


def test_saved_topologies_skip_folders_not_named_like_a_honeynet(tmp_path: Path):
    t = topo(tmp_path)
    RunDir.of(t).save(t)
    (tmp_path / "honeynets" / "Not_An_Id").mkdir()
    (tmp_path / "honeynets" / "Not_An_Id" / "topology.json").write_text(t.model_dump_json())
    assert list(saved_topologies(tmp_path)) == [HID]


def test_capture_folder_comes_from_the_option_the_topology_or_the_default(tmp_path: Path):
    run = RunDir(tmp_path, HID)
    assert run.captures().root == tmp_path / "captures" / HID  # nothing saved
    t = topo(tmp_path, f"gateway: {{capture: {{directory: {tmp_path / 'elsewhere'}}}}}\n")
    run.save(t)
    assert run.captures().root == tmp_path / "elsewhere" / HID == CaptureFolder.of(t).root
    assert run.captures(topology=topo(tmp_path)).root == tmp_path / "captures" / HID
    assert run.captures(tmp_path / "given").root == tmp_path / "given" / HID


def test_paths_inside_the_folders(tmp_path: Path):
    run = RunDir(tmp_path, HID)
    capture = CaptureFolder(tmp_path / "captures" / HID)
    assert run.disk("web") == run.path / "disks" / "web.qcow2"
    assert run.checkpoint("before-lesson.1") == run.path / "checkpoints" / "before-lesson.1"
    assert run.pid_file("alerts") == run.path / "alerts.pid"
    assert run.offsets_file("alerts") == run.path / "alerts-offsets.json"
    assert capture.console("web") == capture.root / "consoles" / "web.log"
    assert capture.share == capture.root / "gateway"
    assert capture.derived("2026-01-31") == capture.root / "derived" / "2026-01-31"


def test_capture_folder_is_root_only_by_default(tmp_path: Path, loose_umask):
    capture = CaptureFolder(tmp_path / "captures" / HID).create()
    for folder in (capture.root, capture.consoles, capture.share):
        assert mode(folder) == 0o700, folder
    assert mode(capture.root.parent) == 0o711  # made on the way: passable, not listable
    assert not capture.store_file.exists()


def test_capture_folder_readable_by_its_group_at_most(tmp_path: Path, loose_umask):
    group = grp.getgrgid(os.getgid()).gr_name  # a group that exists wherever the tests run
    capture = CaptureFolder(tmp_path / HID).create(group)
    for folder in (capture.root, capture.consoles, capture.share):
        assert mode(folder) == 0o2750 and folder.stat().st_gid == os.getgid(), folder
    assert mode(capture.store_file) == 0o640
    written = capture.consoles / "later.log"
    written.write_text("x")
    assert written.stat().st_gid == os.getgid()  # the setgid folder passes its group on


def test_unknown_capture_group_is_refused_naming_the_field(tmp_path: Path):
    with pytest.raises(CaptureGroupUnknown, match="gateway.capture.group"):
        CaptureFolder(tmp_path / HID).create("vhn-no-such-group")
    assert not (tmp_path / HID).exists()


def test_make_folder_leaves_existing_parents_alone(tmp_path: Path, loose_umask):
    tmp_path.chmod(0o755)
    make_folder(tmp_path / "a" / "b", 0o700)
    assert mode(tmp_path) == 0o755 and mode(tmp_path / "a") == 0o711 and mode(tmp_path / "a" / "b") == 0o700


def test_the_cli_writes_private_files(tmp_path: Path, loose_umask):
    """umask 077 is set at process start: the event store a command creates and a file it
    writes for the user are 0600, though this test runs it with umask 022."""
    capture = tmp_path / "captures"
    (capture / HID).mkdir(parents=True)
    vhn = [sys.executable, "-m", "vhoneynet"]
    subprocess.run([*vhn, "events", HID, "--capture-dir", str(capture), "--storage", str(tmp_path), "--counts"],
                   check=True, capture_output=True)
    subprocess.run([*vhn, "schema", "-o", str(tmp_path / "schema.json")], check=True, capture_output=True)
    assert mode(capture / HID / "events.sqlite") == 0o600
    assert mode(tmp_path / "schema.json") == 0o600


def test_up_refuses_an_unknown_capture_group_before_making_anything(tmp_path: Path):
    from types import SimpleNamespace

    from vhoneynet import lifecycle

    t = topo(tmp_path, "gateway: {capture: {group: vhn-no-such-group}}\n")
    hv = SimpleNamespace(honeynet_domains=lambda hid: ([], []))  # nothing of this id runs yet
    with pytest.raises(CaptureGroupUnknown, match="gateway.capture.group"):
        lifecycle.up(t, SimpleNamespace(hv=hv))  # type: ignore[arg-type]
    assert not RunDir.of(t).path.exists() and not CaptureFolder.of(t).root.exists()
