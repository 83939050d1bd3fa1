"""The host's side-effecting backends, bundled, and running a command on any node of a honeynet.

Below the lifecycle and the gateway's live operations (control, verify, alerts), which all
act through these: nothing here knows how a honeynet is brought up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vhoneynet import images, naming
from vhoneynet.backend import hostfw, netlink
from vhoneynet.backend import libvirt as virt
from vhoneynet.backend.process import run_in_netns
from vhoneynet.backend.protocols import (
    CaptureHost,
    ExecResult,
    HostFirewall,
    HostNet,
    Hypervisor,
    ImageStore,
)
from vhoneynet.capture import follower as capture_follower
from vhoneynet.capture import share
from vhoneynet.errors import GuestNotFound, HoneynetNotFound
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import DEFAULT_URI, Topology


class LocalCapture:
    """The capture share and the followers of a honeynet on this host (see protocols.CaptureHost)."""

    def prepare_share(self, topo: Topology) -> Path:
        """Mount the gateway's share nosuid/nodev/noexec; see capture.share.prepare."""
        return share.prepare(topo)

    def release_share(self, path: Path) -> None:
        share.release(path)

    def start_followers(self, topo: Topology) -> None:
        capture_follower.start_alerts_follower(topo)  # delivers data-control alerts to the topology's hook, if any
        capture_follower.start_follower(topo)  # keeps the local event store current (and ships it)

    def stop_followers(self, run: RunDir) -> None:
        capture_follower.stop_alerts_follower(run)
        capture_follower.stop_follower(run)


@dataclass
class Backends:
    """Everything with side effects that the lifecycle uses."""

    hv: Hypervisor
    net: HostNet
    fw: HostFirewall
    images: ImageStore
    capture: CaptureHost = field(default_factory=LocalCapture)

    @classmethod
    def for_host(cls, uri: str = DEFAULT_URI, image_root: Path | None = None) -> Backends:
        store = images.ImageStore(image_root) if image_root else images.ImageStore()
        return cls(virt.Hypervisor(uri), netlink.HostNet(), hostfw.HostFirewall(), store)


def execute(hid: str, guest: str, argv: list[str], b: Backends, stdin: bytes | None = None,
            timeout: float = 120) -> ExecResult:
    """Run a command in a guest (through its agent) or on an outside host (in its namespace).
    Raises InvalidName, HoneynetNotFound, GuestNotFound, AgentUnavailable."""
    naming.checked("id", hid)  # an empty id would match every honeynet's namespaces
    naming.checked("guest", guest)
    guests = {g.guest: g for g in b.hv.guests(hid)}
    if guest in guests:
        return b.hv.execute(guests[guest].domain, argv, stdin=stdin, timeout=timeout)
    ns = naming.netns(hid, guest)
    if ns in b.net.netns(ns):
        proc = run_in_netns(ns, argv, stdin=stdin, timeout=timeout)
        return ExecResult(proc.returncode, proc.stdout, proc.stderr)
    if not guests:
        raise HoneynetNotFound(hid)
    outside = [n.removeprefix(naming.netns_prefix(hid)) for n in b.net.netns(naming.netns_prefix(hid))]
    raise GuestNotFound(hid, guest, [*guests, *outside])
