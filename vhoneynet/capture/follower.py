"""The host-side capture follower: started by `up`, stopped by `down`, it ingests what the
gateway writes into the local store every second (and ships it when the topology names a
collector), so the store is current without anyone running `vhoneynet events`.

It is `vhoneynet events ID --follow --quiet` in its own session, its pid in the run folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from vhoneynet.topology.model import Topology

PID_FILE = "capture-follower.pid"
LOG_FILE = "capture-follower.log"


def start_follower(topo: Topology) -> int:
    """Start the detached follower of this honeynet; returns its pid."""
    with (topo.run_dir / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vhoneynet", "events", topo.id, "--follow", "--quiet",
             "--storage", str(topo.host.storage), "--capture-dir", str(topo.capture_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    (topo.run_dir / PID_FILE).write_text(str(proc.pid))
    return proc.pid


def stop_follower(run_dir: Path) -> None:
    """Stop the follower of the honeynet whose run folder this is, if one runs."""
    try:
        pid = int((run_dir / PID_FILE).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"vhoneynet" in cmdline and b"events" in cmdline and b"--follow" in cmdline:  # ours, not a recycled pid
        os.kill(pid, signal.SIGTERM)
