"""Host-side followers: detached `vhoneynet … --follow` processes started by `up` and
stopped by `down`, each with its pid (and log) in the honeynet's run folder."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from vhoneynet.backend.process import start_detached


def start(run_dir: Path, pid_file: str, log_file: str, args: list[str]) -> int:
    """Start `python -m vhoneynet ARGS` in its own session; returns its pid."""
    pid = start_detached([sys.executable, "-m", "vhoneynet", *args], run_dir / log_file)
    (run_dir / pid_file).write_text(str(pid))
    return pid


def stop(run_dir: Path, pid_file: str, marker: bytes) -> None:
    """Stop the follower whose pid is in `pid_file`, if it runs and its command line has `marker`
    (so a recycled pid is never signalled)."""
    try:
        pid = int((run_dir / pid_file).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"vhoneynet" in cmdline and b"--follow" in cmdline and marker in cmdline:
        os.kill(pid, signal.SIGTERM)
