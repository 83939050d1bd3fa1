"""Host-side followers: detached `vhoneynet … --follow` processes started by `up` and
stopped by `down`, each with its pid file and log in the honeynet's run folder."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from vhoneynet.backend.process import start_detached
from vhoneynet.rundir import RunDir


def start(run: RunDir, follower: str, args: list[str]) -> int:
    """Start `python -m vhoneynet ARGS` in its own session as `follower`; returns its pid."""
    pid = start_detached([sys.executable, "-m", "vhoneynet", *args], run.log_file(follower))
    run.pid_file(follower).write_text(str(pid))
    return pid


def stop(run: RunDir, follower: str, marker: bytes) -> None:
    """Stop `follower` if it runs and its command line has `marker` (so a recycled pid is never
    signalled)."""
    try:
        pid = int(run.pid_file(follower).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"vhoneynet" in cmdline and b"--follow" in cmdline and marker in cmdline:
        os.kill(pid, signal.SIGTERM)
