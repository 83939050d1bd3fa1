"""In-memory backends (see vhoneynet/backend/protocols.py) for the lifecycle's unit tests.

`fake_backends()` gives a `Backends` whose hypervisor, host network, firewall, image store and
capture side keep domains, pools, links, namespaces, nft tables, mounts and followers in dicts
and sets, so a test can bring a honeynet up and down without a host and then look at what is
left. Knobs on `FakeHypervisor` make guests misbehave: one that never becomes ready, one that
dies while booting, an agent that times out, a remove that fails once, a console that prints
given lines. Disks are real files (the overlays and seed disks `up` writes into the run folder),
made under the test's own storage folder.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from vhoneynet import naming
from vhoneynet.backend.protocols import ExecResult, GuestInfo
from vhoneynet.backends import Backends
from vhoneynet.errors import (
    AgentUnavailable,
    LinkError,
    ResourceConflict,
    UnknownRecipe,
    VhoneynetError,
)
from vhoneynet.gateway.config.disk import PARKED_MARK, READY_MARK
from vhoneynet.images import BuiltImage, Service
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import Topology

HID = "vfake"  # the honeynet id of the tests over these fakes


def topology(storage: Path, hid: str = HID, honeypots: tuple[str, ...] = ("dns", "web"),
             gateway: dict | None = None) -> Topology:
    """A gateway (`gateway`: its section), `honeypots` and one outside host, whose state lives
    under `storage`."""
    return Topology.model_validate({
        "id": hid,
        "host": {"storage": str(storage), "accel": "tcg"},
        "gateway": gateway or {},
        "honeypots": [{"name": n, "image": f"linux-{n}", "address": f"203.0.113.{10 + i}"}
                      for i, n in enumerate(honeypots)],
        "outside": [{"name": "attacker", "address": "203.0.113.66"}],
    })


CLOUD_INIT_DONE = "Cloud-init v. 24.1.3 finished at Sun, 06 Dec 2026 16:00:00 +0000. Up 30.00 seconds"


def ready_line(role: str) -> str:
    """What a guest of `role` prints on its console once it is ready (see readiness.py), the
    gateway once it waits for its capture share."""
    return PARKED_MARK if role == "gateway" else CLOUD_INIT_DONE


@dataclass
class FakeDomain:
    """A defined domain: its XML, what its metadata says, and whether it runs."""

    name: str
    xml: str
    info: GuestInfo | None  # None: no readable vhoneynet metadata (an orphan)
    console: Path | None
    state: str = "shut-off"

    def as_info(self) -> GuestInfo | None:
        if self.info is None:
            return None
        return GuestInfo(self.info.domain, self.info.hid, self.info.guest, self.info.role, self.info.image,
                         self.info.address, self.state)


class FakeHypervisor:
    """Domains and pools in memory, guests that 'boot' by printing to their console log.

    Knobs (guest names, not domain names, unless said otherwise):
    - `console`: the lines a guest prints at each start (default: its ready line);
    - `after_reset`: the lines a guest prints when it is reset (default: its ready line);
    - `on_share`: the lines the gateway prints once its share is attached (default: ready);
    - `never_ready`: guests that print nothing at all;
    - `dies`: guests whose domain shuts off right after it prints its lines;
    - `agent_times_out`: guests whose agent never answers (AgentUnavailable);
    - `remove_fails_once`: domain names whose first removal raises;
    - `start_fails`: guests whose start raises (as libvirt refusing a domain);
    - `save_fails`: guests whose state cannot be saved (the domain keeps running);
    - `restore_fails`: guests whose saved state libvirt refuses to restore;
    - `unreachable`: disks qemu's user cannot get to.
    """

    def __init__(self) -> None:
        self.domains: dict[str, FakeDomain] = {}
        self.pool_xml: dict[str, str] = {}  # name -> xml
        self.console: dict[str, list[str]] = {}
        self.after_reset: dict[str, list[str]] = {}
        self.on_share: list[str] = [READY_MARK]
        self.attached: list[tuple[str, str]] = []  # (domain, device xml) of every hot-plug
        self.never_ready: set[str] = set()
        self.dies: set[str] = set()
        self.agent_times_out: set[str] = set()
        self.remove_fails_once: set[str] = set()
        self.start_fails: set[str] = set()
        self.save_fails: set[str] = set()
        self.restore_fails: set[str] = set()
        self.unreachable: set[Path] = set()
        self.on_start: Callable[[str], None] | None = None  # called with each guest's name as it starts
        self.executed: list[tuple[str, list[str]]] = []  # (domain, argv) of every guest-exec
        self.events: list[tuple[str, str]] = []  # (what, domain): starts, stops, removals, pauses
        self.lock = threading.Lock()  # up and down act from thread pools

    # --- domains -----------------------------------------------------------

    def start_domain(self, xml: str) -> None:
        self.boot_domain(self._define(xml))

    def _define(self, xml: str) -> str:
        root = ET.fromstring(xml)
        name = root.findtext("name") or ""
        meta = root.find(f"metadata/{{{naming.METADATA_NS}}}honeynet")
        info = None if meta is None else GuestInfo(
            name, meta.get("id", ""), meta.get("guest", ""), meta.get("role", ""), meta.get("image", ""),
            meta.get("address"), "shut-off")
        log = root.find("devices/serial/log")
        with self.lock:
            self.domains[name] = FakeDomain(name, xml, info, Path(log.get("file", "")) if log is not None else None)
        return name

    def define_orphan(self, name: str) -> None:
        """A domain named like a honeynet's guest without vhoneynet metadata (a half-made one)."""
        with self.lock:
            self.domains[name] = FakeDomain(name, f"<domain><name>{name}</name></domain>", None, None, "running")

    def boot_domain(self, name: str) -> None:
        dom = self._domain(name)
        guest = dom.info.guest if dom.info else name
        if self.on_start is not None:
            self.on_start(guest)
        if guest in self.start_fails:
            raise VhoneynetError(f"starting {name} failed: the fake refuses it")
        with self.lock:
            dom.state = "running"
            self.events.append(("start", name))
        self._print(dom, self.console)
        if guest in self.dies:
            dom.state = "shut-off"

    def reset_domain(self, name: str) -> None:
        dom = self._domain(name)
        if dom.state != "running":
            raise VhoneynetError(f"resetting {name} failed: domain is not running")
        self.events.append(("reset", name))
        self._print(dom, self.after_reset)

    def _print(self, dom: FakeDomain, lines_of: dict[str, list[str]]) -> None:
        """A (re)starting guest's console lines: its own from `lines_of`, or its ready line."""
        guest = dom.info.guest if dom.info else dom.name
        if dom.console is not None and guest not in self.never_ready:
            lines = lines_of.get(guest, [ready_line(dom.info.role if dom.info else "honeypot")])
            with open(dom.console, "a") as f:
                f.writelines(f"{line}\n" for line in lines)

    def guests(self, hid: str | None = None) -> list[GuestInfo]:
        found = [i for d in list(self.domains.values()) if (i := d.as_info()) and (hid is None or i.hid == hid)]
        return sorted(found, key=lambda g: (g.hid, g.role != "gateway", g.guest))

    def honeynet_domains(self, hid: str) -> tuple[list[GuestInfo], list[str]]:
        orphans = [d.name for d in list(self.domains.values())
                   if d.info is None and d.name.startswith(naming.domain_prefix(hid))]
        return self.guests(hid), orphans

    def remove_domain(self, name: str) -> None:
        with self.lock:
            if name in self.remove_fails_once:
                self.remove_fails_once.discard(name)
                raise VhoneynetError(f"removing {name} failed: the fake refuses it once")
            if self.domains.pop(name, None) is not None:
                self.events.append(("remove", name))

    def stop_domain(self, name: str) -> None:
        self._domain(name).state = "shut-off"
        self.events.append(("stop", name))

    def save_domain(self, name: str, state: Path) -> None:
        """A state file naming its domain; the domain stops, as libvirt's save leaves it."""
        dom = self._domain(name)
        if dom.info is not None and dom.info.guest in self.save_fails:
            raise VhoneynetError(f"saving the state of {name} failed: the fake refuses it")
        state.write_text(name)
        dom.state = "shut-off"
        self.events.append(("save", name))

    def eject(self, name: str) -> None:
        self._domain(name)
        self.events.append(("eject", name))

    def attach_device(self, name: str, xml: str) -> None:
        """A hot-plugged device; a gateway given its share goes on to print `on_share`."""
        dom = self._domain(name)
        if dom.state != "running":
            raise VhoneynetError(f"attaching a device to {name} failed: domain is not running")
        with self.lock:
            self.attached.append((name, xml))
            self.events.append(("attach", name))
        if dom.console is not None and dom.info is not None and dom.info.role == "gateway":
            with open(dom.console, "a") as f:
                f.writelines(f"{line}\n" for line in self.on_share)

    def restore_domain(self, state: Path, xml: str | None = None) -> None:
        """The domain a state file names runs again, printing nothing: it was saved ready. With
        `xml`, defined from it first."""
        name = state.read_text()
        if xml is not None:
            self._define(xml)
        dom = self._domain(name)
        if dom.info is not None and dom.info.guest in self.restore_fails:
            raise VhoneynetError(f"restoring {state.name} failed: the fake refuses it")
        dom.state = "running"
        self.events.append(("restore", name))

    def pause_domain(self, name: str) -> None:
        self._domain(name).state = "paused"
        self.events.append(("pause", name))

    def resume_domain(self, name: str) -> None:
        self._domain(name).state = "running"
        self.events.append(("resume", name))

    def domain_state(self, name: str) -> str:
        dom = self.domains.get(name)
        return dom.state if dom is not None else "absent"

    def domain_xml(self, name: str) -> str:
        return self._domain(name).xml

    def can_reach(self, path: Path) -> bool:
        return path not in self.unreachable

    def _domain(self, name: str) -> FakeDomain:
        if name not in self.domains:
            raise VhoneynetError(f"no domain {name}")
        return self.domains[name]

    # --- storage -----------------------------------------------------------

    def ensure_pool(self, xml: str, name: str) -> None:
        with self.lock:
            self.pool_xml.setdefault(name, xml)
        path = ET.fromstring(xml).findtext("target/path")
        Path(path or "").mkdir(parents=True, exist_ok=True)

    def remove_pool(self, name: str) -> None:
        with self.lock:
            self.pool_xml.pop(name, None)

    def pools(self, prefix: str) -> list[str]:
        return sorted(n for n in self.pool_xml if n.startswith(prefix))

    # --- guest agent -------------------------------------------------------

    def agent(self, domain: str, command: str, arguments: dict | None = None, timeout: float = 10) -> object:
        dom = self.domains.get(domain)
        if dom is None or dom.state != "running" or (dom.info and dom.info.guest in self.agent_times_out):
            raise AgentUnavailable(domain, f"{command}: timed out")
        self.events.append((command, domain))
        if command == "guest-get-time":
            return time.time_ns()
        return 0 if command.startswith("guest-fsfreeze") else {}

    def agent_ready(self, domain: str, timeout: float = 2) -> bool:
        try:
            self.agent(domain, "guest-ping", timeout=timeout)
        except AgentUnavailable:
            return False
        return True

    def execute(self, domain: str, argv: list[str], stdin: bytes | None = None, timeout: float = 120) -> ExecResult:
        self.agent(domain, "guest-exec", timeout=timeout)
        with self.lock:
            self.executed.append((domain, list(argv)))
        return ExecResult(0, b"", b"")


class FakeNet:
    """Links (bridges and veths, with their state) and network namespaces, by name."""

    def __init__(self) -> None:
        self.link_state: dict[str, dict] = {}  # name -> {"kind", "up", "address", "master"}
        self.namespaces: dict[str, dict] = {}  # name -> {"veth", "address", "mac"}
        self.host_addresses: list[IPv4Interface] = []  # the host's other addresses (not on our links)
        self.made: list[str] = []  # every namespace ever made, in order
        self.lock = threading.Lock()

    def ensure_bridge(self, name: str, address: IPv4Interface | None = None) -> None:
        with self.lock:
            found = self.link_state.setdefault(name, {"kind": "bridge", "up": True, "address": address})
            if found["kind"] != "bridge":
                raise ResourceConflict(f"{name} exists on this host and is not a bridge")

    def delete_link(self, name: str) -> None:
        with self.lock:
            self.link_state.pop(name, None)

    def set_link_up(self, name: str, up: bool) -> None:
        if name not in self.link_state:
            raise LinkError("set state of", name, "no such link")
        self.link_state[name]["up"] = up

    def link_is_up(self, name: str) -> bool:
        return name in self.link_state and self.link_state[name]["up"]

    def links(self, prefix: str) -> list[str]:
        return sorted(n for n in list(self.link_state) if n.startswith(prefix))

    def link_exists(self, name: str) -> bool:
        return name in self.link_state

    def addresses_in_use(self) -> list[IPv4Interface]:
        return [*self.host_addresses, *(link["address"] for link in self.link_state.values() if link.get("address"))]

    def add_outside_host(self, netns: str, bridge: str, veth: str, address: IPv4Interface,
                         gateway: IPv4Address | None = None, mac: str | None = None) -> None:
        with self.lock:
            if netns in self.namespaces:
                raise ResourceConflict(f"network namespace {netns} already exists on this host")
            if veth in self.link_state:
                raise ResourceConflict(f"link {veth} already exists on this host")
            if bridge not in self.link_state:
                raise LinkError("add outside host", veth, f"bridge {bridge} does not exist")
            self.namespaces[netns] = {"veth": veth, "address": address, "mac": mac}
            self.made.append(netns)
            self.link_state[veth] = {"kind": "veth", "up": True, "master": bridge}

    def delete_netns(self, name: str) -> None:
        with self.lock:
            gone = self.namespaces.pop(name, None)
            if gone is not None:  # the veth's peer goes with the namespace, and the host end with it
                self.link_state.pop(gone["veth"], None)

    def netns(self, prefix: str) -> list[str]:
        return sorted(n for n in list(self.namespaces) if n.startswith(prefix))


class FakeFirewall:
    """nft tables by name, with the ruleset each was loaded from."""

    def __init__(self) -> None:
        self.rulesets: dict[str, str] = {}  # table name -> ruleset
        self.drops: dict[tuple[str, str], int] = {}  # (hid, honeypot) -> frames dropped

    def apply(self, hid: str, ruleset: str) -> None:
        self.rulesets[naming.nft_table(hid)] = ruleset

    def remove(self, hid: str) -> None:
        self.rulesets.pop(naming.nft_table(hid), None)

    def tables(self, prefix: str = "vhn_") -> list[str]:
        return sorted(n for n in self.rulesets if n.startswith(prefix))

    def honeypot_drops(self, hid: str, honeypot: str) -> int:
        return self.drops.get((hid, honeypot), 0)


class FakeImages:
    """Built images: a tiny raw disk per recipe under `root`, made on first `ensure`."""

    def __init__(self, root: Path, services: dict[str, tuple[Service, ...]] | None = None):
        self.root = root
        self.services = services or {}
        self.built: dict[str, BuiltImage] = {}
        self.ensured: list[str] = []

    def get(self, name: str) -> BuiltImage | None:
        return self.built.get(name)

    def ensure(self, name: str, progress: Callable[[str], None] = lambda _: None) -> BuiltImage:
        self.ensured.append(name)
        if name not in self.built:
            if name.startswith("unknown"):
                raise UnknownRecipe(name, sorted(self.built))
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            disk = folder / "disk.raw"  # a standalone disk, as a build's: the bottom of every overlay chain
            disk.write_bytes(bytes(1 << 16))
            for part in ("vmlinuz", "initrd.img"):
                (folder / part).write_bytes(b"")
            kind = "gateway" if name == "honeywall" else "honeypot"
            self.built[name] = BuiltImage(name, "0" * 64, kind, disk, folder / "vmlinuz",
                                          folder / "initrd.img", services=self.services.get(name, ()))
        return self.built[name]


@dataclass
class FakeCapture:
    """The capture share 'mounted' and the followers 'running', per honeynet id."""

    mounted: set[Path] = field(default_factory=set)
    following: set[str] = field(default_factory=set)

    def prepare_share(self, topo: Topology) -> Path:
        share = topo.capture_dir / topo.id / "gateway"
        share.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.mounted.add(share)
        return share

    def release_share(self, path: Path) -> None:
        self.mounted.discard(path)

    def start_followers(self, topo: Topology) -> None:
        self.following.add(topo.id)

    def stop_followers(self, run: RunDir) -> None:
        self.following.discard(run.hid)


def fake_backends(images: Path) -> Backends:
    """Backends that touch nothing but files under `images` (and the run folders of the test's storage)."""
    return Backends(FakeHypervisor(), FakeNet(), FakeFirewall(), FakeImages(images), FakeCapture())
