"""Host-side followers: detached `vhoneynet … --follow` processes started by `up` and
stopped by `down`, each with its pid file and log in the honeynet's run folder."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from vhoneynet.backend.process import start_detached
from vhoneynet.rundir import RunDir


def start(run: RunDir, follower: str, args: list[str]) -> int:
    """Start `python -m vhoneynet ARGS` in its own session as `follower`; returns its pid."""
    pid = start_detached([sys.executable, "-m", "vhoneynet", *args], run.log_file(follower))
    run.pid_file(follower).write_text(str(pid))
    return pid


def stop(run: RunDir, follower: str, marker: bytes, patience: float = 10) -> None:
    """Stop `follower` if it runs and its command line has `marker` (so a recycled pid is never
    signalled), and wait until it is gone: it reads files in the capture share, which `down`
    unmounts next. One that ignores SIGTERM for `patience` seconds is killed."""
    try:
        pid = int(run.pid_file(follower).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if not (b"vhoneynet" in cmdline and b"--follow" in cmdline and marker in cmdline):
        return
    for sig, seconds in ((signal.SIGTERM, patience), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.05)


def _gone(pid: int) -> bool:
    """Whether `pid` has exited: no such process, or a zombie (its files are closed; whoever
    adopted it reaps it, or not, when no init reaps here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")
