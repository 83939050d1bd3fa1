"""Where a honeynet's state lives on the host, and which part of it a guest may write.

Two folders per honeynet:

- the **run folder** `<storage>/honeynets/<id>/`: the saved topology, guest disks, checkpoints,
  follower pid files and offsets. Host-only; no guest ever sees it.
- the **capture folder** `<capture_dir>/<id>/` (`CaptureFolder`): host-owned, holding the event
  store, the guests' console logs and files derived on the host; inside it, `gateway/` is the
  one folder shared with the gateway VM (virtiofs). Everything under `gateway/` is written by a
  guest that may belong to an intruder: the host reads it only through `capture.guestfile`
  (no symlinks, regular files only, bounded reads) and never writes into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vhoneynet.topology.model import DEFAULT_STORAGE, Topology

TOPOLOGY_FILE = "topology.json"
SHARE = "gateway"  # the guest-writable subfolder of a capture folder
STORE_FILE = "events.sqlite"
CONSOLES = "consoles"
DERIVED = "derived"


@dataclass(frozen=True)
class CaptureFolder:
    """`<capture_dir>/<id>`: host-owned; only `share` is written by the gateway."""

    root: Path

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
        return self.consoles / f"{guest}.log"

    def derived(self, day: str) -> Path:
        """Files the host derives from a captured day (e.g. the unique firewall log)."""
        return self.root / DERIVED / day


@dataclass(frozen=True)
class RunDir:
    """`<storage>/honeynets/<id>`: the host-only state of one honeynet."""

    storage: Path
    hid: str

    @classmethod
    def of(cls, topo: Topology) -> RunDir:
        return cls(topo.host.storage, topo.id)

    @property
    def path(self) -> Path:
        return self.storage / "honeynets" / self.hid

    @property
    def topology_file(self) -> Path:
        return self.path / TOPOLOGY_FILE

    @property
    def disks(self) -> Path:
        return self.path / "disks"

    def pid_file(self, name: str) -> Path:
        return self.path / name

    def topology(self) -> Topology | None:
        """The topology this honeynet was brought up with, or None (never brought up, or unreadable)."""
        try:
            return Topology.model_validate_json(self.topology_file.read_text())
        except (OSError, ValueError):
            return None

    def save(self, topo: Topology) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.topology_file.write_text(topo.model_dump_json(indent=2))

    def captures(self, capture_dir: Path | None = None) -> CaptureFolder:
        """The capture folder: `capture_dir` if given, else the saved topology's, else `<storage>/captures`."""
        if capture_dir is None:
            topo = self.topology()
            capture_dir = topo.capture_dir if topo else self.storage / "captures"
        return CaptureFolder(capture_dir / self.hid)


def run_dir(hid: str, storage: Path = DEFAULT_STORAGE) -> RunDir:
    return RunDir(storage, hid)
