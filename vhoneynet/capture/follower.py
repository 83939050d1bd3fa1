"""The host-side capture follower: started by `up`, stopped by `down`, it ingests what the
gateway writes into the local store every second (and ships it when the topology names a
collector), so the store is current without anyone running `vhoneynet events`.

It is `vhoneynet events ID --follow --quiet` in its own session, its pid in the run folder.
"""

from __future__ import annotations

from vhoneynet import followers
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import Topology

FOLLOWER = "capture-follower"  # names its pid file and log in the run folder


def start_follower(topo: Topology) -> int:
    """Start the detached follower of this honeynet; returns its pid."""
    return followers.start(RunDir.of(topo), FOLLOWER, [
        "events", topo.id, "--follow", "--quiet",
        "--storage", str(topo.host.storage), "--capture-dir", str(topo.capture_dir)])


def stop_follower(run: RunDir) -> None:
    """Stop the follower of the honeynet whose run folder this is, if one runs."""
    followers.stop(run, FOLLOWER, b"events")
