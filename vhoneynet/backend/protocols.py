"""What the lifecycle, the labs and the gateway's live operations ask of the host, as Protocols.

One Protocol per backend, holding exactly the calls made through `Backends` (lifecycle, labs,
backends.execute, gateway control/verify, stealth looks, session hang-up). The real classes
(backend.libvirt.Hypervisor, backend.netlink.HostNet, backend.hostfw.HostFirewall,
images.ImageStore, backends.LocalCapture) satisfy them structurally; tests/fakes.py keeps
the same state in memory, so the lifecycle's branches are tested without a host.

The data the backends answer with (GuestInfo, ExecResult) lives here too, so that nothing
above the backends needs libvirt to name it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vhoneynet.images import BuiltImage
    from vhoneynet.rundir import RunDir
    from vhoneynet.topology.model import Topology


@dataclass(frozen=True)
class GuestInfo:
    """A honeynet guest as libvirt knows it."""

    domain: str
    hid: str
    guest: str
    role: str
    image: str
    address: str | None
    state: str


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class Hypervisor(Protocol):
    """Domains, storage pools and guest agents of the honeynets on one host."""

    def guests(self, hid: str | None = None) -> list[GuestInfo]: ...

    def honeynet_domains(self, hid: str) -> tuple[list[GuestInfo], list[str]]: ...

    def start_domain(self, xml: str) -> None: ...

    def boot_domain(self, name: str) -> None: ...

    def stop_domain(self, name: str) -> None: ...

    def reset_domain(self, name: str) -> None: ...

    def remove_domain(self, name: str) -> None: ...

    def save_domain(self, name: str, state: Path) -> None: ...

    def eject(self, name: str) -> None: ...

    def attach_device(self, name: str, xml: str) -> None: ...

    def restore_domain(self, state: Path, xml: str | None = None) -> None: ...

    def pause_domain(self, name: str) -> None: ...

    def resume_domain(self, name: str) -> None: ...

    def domain_state(self, name: str) -> str: ...

    def domain_xml(self, name: str) -> str: ...

    def can_reach(self, path: Path) -> bool: ...

    def ensure_pool(self, xml: str, name: str) -> None: ...

    def remove_pool(self, name: str) -> None: ...

    def pools(self, prefix: str) -> list[str]: ...

    def agent(self, domain: str, command: str, arguments: dict | None = None, timeout: float = 10) -> object: ...

    def agent_ready(self, domain: str, timeout: float = 2) -> bool: ...

    def execute(self, domain: str, argv: list[str], stdin: bytes | None = None,
                timeout: float = 120) -> ExecResult: ...


class HostNet(Protocol):
    """Bridges, veth pairs and network namespaces of the host, found by name."""

    def ensure_bridge(self, name: str, address: IPv4Interface | None = None) -> None: ...

    def delete_link(self, name: str) -> None: ...

    def set_link_up(self, name: str, up: bool) -> None: ...

    def link_is_up(self, name: str) -> bool: ...

    def links(self, prefix: str) -> list[str]: ...

    def link_exists(self, name: str) -> bool: ...

    def addresses_in_use(self) -> list[IPv4Interface]: ...

    def add_outside_host(self, netns: str, bridge: str, veth: str, address: IPv4Interface,
                         gateway: IPv4Address | None = None, mac: str | None = None) -> None: ...

    def delete_netns(self, name: str) -> None: ...

    def netns(self, prefix: str) -> list[str]: ...


class HostFirewall(Protocol):
    """The host's nftables tables of each honeynet."""

    def apply(self, hid: str, ruleset: str) -> None: ...

    def remove(self, hid: str) -> None: ...

    def tables(self, prefix: str = "vhn_") -> list[str]: ...

    def honeypot_drops(self, hid: str, honeypot: str) -> int: ...


class ImageStore(Protocol):
    """Built guest images, as far as `up` and `reset` use them (building is the image store's own
    business: `vhoneynet image build`)."""

    def get(self, name: str) -> BuiltImage | None: ...

    def ensure(self, name: str, progress: Callable[[str], None] = ...) -> BuiltImage: ...


class CaptureHost(Protocol):
    """The host's end of Data Capture that `up` starts and `down` stops: the gateway's share
    (mounted nosuid/nodev/noexec) and the detached followers reading what the gateway writes."""

    def prepare_share(self, topo: Topology) -> Path: ...

    def release_share(self, path: Path) -> None: ...

    def start_followers(self, topo: Topology) -> None: ...

    def stop_followers(self, run: RunDir) -> None: ...
