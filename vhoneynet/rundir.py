"""Where a honeynet's state lives on the host, and which part of it a guest may write.

Two folders per honeynet:

- the **run folder** `<storage>/honeynets/<id>/`: the saved topology, guest disks, checkpoints,
  follower pid files, logs and offsets. Host-only; no guest ever sees it.
- the **capture folder** `<capture_dir>/<id>/` (`CaptureFolder`): host-owned, holding the event
  store, the guests' console logs and files derived on the host; inside it, `gateway/` is the
  one folder shared with the gateway VM (virtiofs). Everything under `gateway/` is written by a
  guest that may belong to an intruder: the host reads it only through `capture.guestfile`
  (no symlinks, regular files only, bounded reads) and never writes into it.

Both refuse an id that is not a honeynet id (naming.ID_PATTERN): an empty id or `..` would
otherwise name the folder of every honeynet, or the storage folder itself.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from vhoneynet import naming
from vhoneynet.errors import HoneynetNotFound, InvalidName
from vhoneynet.permissions import (
    GROUP_FILE,
    GROUP_FOLDER,
    PRIVATE_FOLDER,
    TRAVERSE,
    group_id,
    make_file,
    make_folder,
)
from vhoneynet.topology.model import CAPTURES, DEFAULT_STORAGE, REVEAL_SECRETS, Topology

HONEYNETS = "honeynets"
TOPOLOGY_FILE = "topology.json"
LOCK_FILE = ".lock"
DISKS = "disks"
WARM = "warm"
CHECKPOINTS = "checkpoints"
SHARE = "gateway"  # the guest-writable subfolder of a capture folder
STORE_FILE = "events.sqlite"
CONSOLES = "consoles"
DERIVED = "derived"


def honeynets_folder(storage: Path) -> Path:
    """`<storage>/honeynets`: the run folders of every honeynet on this host."""
    return storage / HONEYNETS


@dataclass(frozen=True)
class CaptureFolder:
    """`<capture_dir>/<id>`: host-owned; only `share` is written by the gateway."""

    root: Path

    def __post_init__(self) -> None:
        naming.checked("id", self.root.name)

    @classmethod
    def of(cls, topo: Topology) -> CaptureFolder:
        """The capture folder the topology names (`gateway.capture.directory`, else `<storage>/captures`)."""
        return cls(topo.capture_dir / topo.id)

    @property
    def hid(self) -> str:
        return self.root.name

    @property
    def share(self) -> Path:
        """The gateway's virtiofs share: day folders of pcap, IDS, firewall, syslog, alerts."""
        return self.root / SHARE

    @property
    def store_file(self) -> Path:
        return self.root / STORE_FILE

    @property
    def consoles(self) -> Path:
        return self.root / CONSOLES

    def console(self, guest: str) -> Path:
        """The serial console log of `guest` (written by libvirt's virtlogd)."""
        return self.consoles / f"{naming.checked('guest', guest)}.log"

    def derived(self, day: str) -> Path:
        """Files the host derives from a captured day (e.g. the unique firewall log)."""
        return self.root / DERIVED / naming.checked("day", day)

    def create(self, group: str | None = None) -> CaptureFolder:
        """Make the folder, its consoles and its share: root only (0700), or readable by host
        `group` (2750; the event store 0640). Raises CaptureGroupUnknown."""
        gid = group_id(group) if group else None
        mode = GROUP_FOLDER if gid is not None else PRIVATE_FOLDER
        for folder in (self.root, self.consoles, self.share):
            make_folder(folder, mode, gid)
        if gid is not None:
            # sqlite gives its journal files the mode of the database: made here, readable by the group
            make_file(self.store_file, GROUP_FILE)
        return self


@dataclass(frozen=True)
class RunDir:
    """`<storage>/honeynets/<id>`: the host-only state of one honeynet."""

    storage: Path
    hid: str

    def __post_init__(self) -> None:
        naming.checked("id", self.hid)

    @classmethod
    def of(cls, topo: Topology) -> RunDir:
        return cls(topo.host.storage, topo.id)

    @property
    def path(self) -> Path:
        return honeynets_folder(self.storage) / self.hid

    @property
    def topology_file(self) -> Path:
        return self.path / TOPOLOGY_FILE

    @property
    def disks(self) -> Path:
        """The honeynet's libvirt pool: overlays, config and seed disks."""
        return self.path / DISKS

    def disk(self, guest: str) -> Path:
        """The qcow2 overlay `guest` boots from."""
        return self.disks / f"{naming.checked('guest', guest)}.qcow2"

    def nvram(self, guest: str) -> Path:
        """The UEFI variable store of a guest that boots by UEFI: libvirt copies it from OVMF's
        template at its first start; in the run folder, so `down` removes it with the rest."""
        return self.disks / f"{naming.checked('guest', guest)}-VARS.fd"

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def warm(self) -> Path:
        """The honeypots' warm states (see warm.py): memory and devices, over a frozen disk layer."""
        return self.path / WARM

    def checkpoint(self, name: str) -> Path:
        """The folder of checkpoint `name`. Raises InvalidName."""
        return self.checkpoints / naming.checked("checkpoint", name)

    def pid_file(self, follower: str) -> Path:
        return self.path / f"{follower}.pid"

    def log_file(self, follower: str) -> Path:
        return self.path / f"{follower}.log"

    def offsets_file(self, follower: str) -> Path:
        """Where a follower keeps how far it has read, so a restart never repeats itself."""
        return self.path / f"{follower}-offsets.json"

    def topology(self) -> Topology | None:
        """The topology this honeynet was brought up with, or None (never brought up, or unreadable)."""
        try:
            return Topology.model_validate_json(self.topology_file.read_text())
        except (OSError, ValueError):
            return None

    def saved(self) -> Topology:
        """The topology this honeynet was brought up with (and live changes since). Raises HoneynetNotFound."""
        topo = self.topology()
        if topo is None:
            raise HoneynetNotFound(self.hid)
        return topo

    def create(self) -> RunDir:
        """Make the run folder. qemu's user must walk through it to its disks, so it is 0711
        (traverse, never list); everything in it is 0600."""
        make_folder(self.path, TRAVERSE)
        return self

    def save(self, topo: Topology) -> None:
        """Save the topology (it holds the collector's token: 0600 whatever the umask), in one step."""
        self.create()
        work = self.topology_file.with_name(f".{TOPOLOGY_FILE}.{os.getpid()}")
        work.unlink(missing_ok=True)
        make_file(work, 0o600)
        work.write_text(topo.model_dump_json(indent=2, context=REVEAL_SECRETS))
        work.replace(self.topology_file)

    def remove(self) -> bool:
        """Remove the run folder; False when there was none. A concurrent removal is fine."""
        if not self.path.exists():
            return False
        shutil.rmtree(self.path, onerror=_gone_is_fine)
        return True

    def captures(self, capture_dir: Path | None = None, topology: Topology | None = None) -> CaptureFolder:
        """The capture folder: under `capture_dir` if given, else where `topology` (or the saved
        one) puts it, else under `<storage>/captures`."""
        topo = topology or self.topology()
        base = capture_dir or (topo.capture_dir if topo else self.storage / CAPTURES)
        return CaptureFolder(base / self.hid)


def saved_topologies(storage: Path) -> dict[str, Topology]:
    """Topologies of the honeynets brought up on this host (unreadable ones, and folders that are
    not named like a honeynet, are skipped)."""
    found = {}
    folder = honeynets_folder(storage)
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_dir() and _is_id(path.name):
            topo = RunDir(storage, path.name).topology()
            if topo is not None:
                found[path.name] = topo
    return found


def run_dir(hid: str, storage: Path = DEFAULT_STORAGE) -> RunDir:
    return RunDir(storage, hid)


def _is_id(name: str) -> bool:
    try:
        naming.checked("id", name)
    except InvalidName:
        return False
    return True


def _gone_is_fine(_func, _path, exc_info) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):  # a concurrent down removed it first
        raise exc_info[1]
