"""What `down` releases on the host without a guest: the capture share's mount and the followers.

Both must be gone before `down` returns although something may still be closing files in the
share: a follower on its way out, or a virtiofsd libvirt is stopping."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vhoneynet import followers
from vhoneynet.capture import share
from vhoneynet.rundir import RunDir

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


def holder(path: Path, seconds: float) -> subprocess.Popen:
    """A process keeping a file in `path` open for `seconds` (what makes an umount busy)."""
    return subprocess.Popen([sys.executable, "-c", f"import time; f = open({str(path / 'held')!r}, 'w'); time.sleep({seconds})"])


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 10
    while not (path / "held").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def mount(tmp_path: Path):
    """A folder bind-mounted onto itself, as `up` mounts the capture share; unmounted afterwards."""
    folder = tmp_path / "gateway"
    folder.mkdir()
    subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], capture_output=True)


@needs_root
def test_release_waits_for_the_last_file_to_close(mount: Path):
    proc = holder(mount, 1.0)
    try:
        wait_for(mount)
        share.release(mount, patience=15)
        assert not share.is_mounted(mount)
        assert proc.poll() is not None, "released before the holder closed its file: the umount was lazy"
    finally:
        proc.kill()


@needs_root
def test_release_detaches_a_mount_still_busy_after_its_patience(mount: Path):
    proc = holder(mount, 60)
    try:
        wait_for(mount)
        share.release(mount, patience=0.5)
        assert not share.is_mounted(mount)
        assert (mount / "held").exists(), "the captured files stay"
    finally:
        proc.kill()


def test_release_of_a_share_that_is_not_mounted_does_nothing(tmp_path: Path):
    share.release(tmp_path, patience=0)


def test_stop_waits_until_the_follower_is_gone_and_kills_one_that_ignores_sigterm(tmp_path: Path):
    run = RunDir(tmp_path, "vhnfollo")
    run.path.mkdir(parents=True)
    # named like a follower (the marker check), deaf to SIGTERM
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, "vhoneynet", "--follow", "events"])
    try:
        time.sleep(0.3)
        run.pid_file("events").write_text(str(proc.pid))
        started = time.monotonic()
        followers.stop(run, "events", b"events", patience=0.5)
        assert proc.wait(timeout=1) == -9
        assert time.monotonic() - started < 5
    finally:
        proc.kill()


def test_stop_never_signals_a_recycled_pid(tmp_path: Path):
    run = RunDir(tmp_path, "vhnfollo")
    run.path.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run.pid_file("events").write_text(str(proc.pid))
        followers.stop(run, "events", b"events", patience=0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
