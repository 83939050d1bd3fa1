"""A honeynet's capture quota on the host: how full the gateway's share is, and what the host
does when the gateway does not keep to the quota (its split between the gateway's writers is
gateway/config/capture.py's `budget`).

The gateway keeps to the quota itself (capture.sh's watcher: at the quota, new outbound flows
are dropped and a `capture-full` alert written, inbound is still served). The host checks too,
from its periodic capture pass, because a gateway may be an intruder's: once the share holds
more than the quota plus a margin, the gateway did not stop in time, and the host takes the
gateway's internet-side NIC down itself (everything stops, inbound too: control wins).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from vhoneynet.errors import VhoneynetError
from vhoneynet.gateway.live import alerts
from vhoneynet.plan import plan
from vhoneynet.rundir import CaptureFolder
from vhoneynet.topology.model import Topology

# Past the quota by this much (a tenth of it, at least 64 MiB: what keeps being written while the
# gateway's watcher gets round to it), the host no longer waits for the gateway.
HOST_MARGIN = 0.1
HOST_MARGIN_MIN = 64 << 20


class State(StrEnum):
    within = "within"  # below the quota
    full = "full"  # at the quota: the gateway stops new outbound flows (its own watcher)
    breached = "breached"  # past quota and margin: the gateway did not stop, the host does


def state(used: int, quota: int) -> State:
    """Where `used` bytes of the share stand against `quota`."""
    if used >= quota + max(quota * HOST_MARGIN, HOST_MARGIN_MIN):
        return State.breached
    if used >= quota:
        return State.full
    return State.within


def usage(share: Path) -> int:
    """Bytes the share takes on the host's disk (allocated blocks, so sparse files count what
    they hold). Walks without following a symlink; a file gone meanwhile counts nothing."""
    total = 0
    stack = [share]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return total


class Links(Protocol):
    """The host's NICs, as far as the quota needs them (backend.netlink.HostNet)."""

    def link_is_up(self, name: str) -> bool: ...

    def set_link_up(self, name: str, up: bool) -> None: ...


def check(share: Path, topo: Topology, links: Callable[[], Links]) -> dict:
    """Measure the share against the topology's quota; when breached, take the gateway's
    internet-side NIC down (once: a NIC already down is left alone, so an operator's
    `unlock` after freeing space is not undone before the share is below the margin again).
    Raises LinkError when the NIC cannot be taken down."""
    quota = topo.gateway.capture.quota_bytes
    used = usage(share)
    result: dict = {"used": used, "quota": quota, "state": str(state(used, quota))}
    if state(used, quota) is State.breached:
        ext = next(n.tap for n in plan(topo).gateway.nics if n.role == "ext")
        net = links()
        if net.link_is_up(ext):
            net.set_link_up(ext, False)
            result["locked_down"] = ext
            result["alert"] = host_alert(topo, used, quota)
            result["alert_problems"] = alerts.deliver(result["alert"], topo.gateway.data_control.alerts)
    return result


def host_alert(topo: Topology, used: int, quota: int) -> dict:
    """The host's capture-full alert (to the topology's hook: the host never writes into the share)."""
    now = datetime.now(timezone.utc)
    return {"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "honeynet": topo.id, "kind": "capture-full",
            "honeypot": "", "source": "host", "destination": "", "protocol": "", "port": "",
            "limit": topo.gateway.capture.quota,
            "reason": f"capture share past its quota and margin ({used >> 10} KiB of {quota >> 10} KiB): "
                      "the host took the gateway's internet side down"}


def enforce(capture_root: Path, topology: Topology | dict | None, links: Callable[[], Links]) -> dict | None:
    """`check` of a capture folder from the host's periodic capture pass; None without a
    topology (captures read after the fact). A failure to act is reported, not raised."""
    if topology is None:
        return None
    topo = topology if isinstance(topology, Topology) else Topology.model_validate(topology)
    try:
        return check(CaptureFolder(capture_root).share, topo, links)
    except VhoneynetError as e:
        return {"error": str(e)}
