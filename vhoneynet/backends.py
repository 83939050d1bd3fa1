"""The host's side-effecting backends, bundled, and running a command on any node of a honeynet.

Below the lifecycle and the gateway's live operations (control, verify, alerts), which all
act through these: nothing here knows how a honeynet is brought up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vhoneynet import naming
from vhoneynet.backend.hostfw import HostFirewall
from vhoneynet.backend.libvirt import ExecResult, Hypervisor
from vhoneynet.backend.netlink import HostNet
from vhoneynet.backend.process import run_in_netns
from vhoneynet.errors import GuestNotFound, HoneynetNotFound
from vhoneynet.images import ImageStore
from vhoneynet.topology.model import DEFAULT_URI


@dataclass
class Backends:
    """Everything with side effects that the lifecycle uses."""

    hv: Hypervisor
    net: HostNet
    fw: HostFirewall
    images: ImageStore

    @classmethod
    def for_host(cls, uri: str = DEFAULT_URI, image_root: Path | None = None) -> Backends:
        store = ImageStore(image_root) if image_root else ImageStore()
        return cls(Hypervisor(uri), HostNet(), HostFirewall(), store)


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
