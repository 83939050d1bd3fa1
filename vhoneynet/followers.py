"""Host-side followers: detached `vhoneynet … --follow` processes started by `up` and
stopped by `down`, each with its pid (and log) in the honeynet's run folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def start(run_dir: Path, pid_file: str, log_file: str, args: list[str]) -> int:
    """Start `python -m vhoneynet ARGS` in its own session; returns its pid."""
    with (run_dir / log_file).open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "vhoneynet", *args],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    (run_dir / pid_file).write_text(str(proc.pid))
    return proc.pid


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
