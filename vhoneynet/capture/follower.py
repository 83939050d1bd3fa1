"""The host-side followers of what the gateway writes into its share, started by `up` and
stopped by `down`, each in its own session with its pid in the run folder.

- The capture follower (`vhoneynet events ID --follow --quiet`) ingests the share into the
  local store every second (and ships it when the topology names a collector), so the store
  is current without anyone running `vhoneynet events`.
- The alert follower (`vhoneynet alerts ID --follow`, gateway.live.alerts.follow) delivers each
  new data-control alert to the topology's hook; it runs only when the topology names one.

Starting and stopping them is kept here, below the backends, apart from what they run.
"""

from __future__ import annotations

from vhoneynet import followers
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import Topology

FOLLOWER = "capture-follower"  # names its pid file and log in the run folder
ALERTS_FOLLOWER = "alerts"  # names its pid file, log and offsets in the run folder


def start_follower(topo: Topology) -> int:
    """Start the detached follower of this honeynet; returns its pid."""
    return followers.start(RunDir.of(topo), FOLLOWER, [
        "events", topo.id, "--follow", "--quiet",
        "--storage", str(topo.host.storage), "--capture-dir", str(topo.capture_dir)])


def stop_follower(run: RunDir) -> None:
    """Stop the follower of the honeynet whose run folder this is, if one runs."""
    followers.stop(run, FOLLOWER, b"events")


def start_alerts_follower(topo: Topology) -> int | None:
    """Start the detached alert hook follower when the topology names a hook; returns its pid."""
    hook = topo.gateway.data_control.alerts
    if not (hook.command or hook.webhook):
        return None
    return followers.start(RunDir.of(topo), ALERTS_FOLLOWER,
                           ["alerts", topo.id, "--follow", "--storage", str(topo.host.storage)])


def stop_alerts_follower(run: RunDir) -> None:
    """Stop the alert hook follower of the honeynet whose run folder this is, if one runs."""
    followers.stop(run, ALERTS_FOLLOWER, b"alerts")
