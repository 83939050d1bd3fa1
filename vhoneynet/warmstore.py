"""Warm states kept with the images, so the next `up` of the same honeynet restores its honeypots
instead of booting them.

`up` saves each honeypot's warm state in the honeynet's run folder (warm.py); the store keeps a
second name of those two files (a hard link: no copy) in `<storage>/warm/<id>/<guest>/`, with
what the state was made from. `down` removes the run folder and leaves the store alone, so a
state outlives its honeynet until `vhoneynet prune`.

A kept state is lent to a new `up` only when everything it was made from is the same: the whole
topology (a honeypot's memory holds its address, its neighbours, its log sink's MAC) and what
was rendered from it for the guest (its configuration medium: the gateway's ruleset and IDS
rules, a file the topology names included), its machine (the domain XML: a state holds the
devices it was saved with, which a newer vhoneynet may render otherwise), the image under its
disk layer, and the host (qemu's version, the acceleration and, under KVM, the CPU model: a
state saved on another CPU may not run). Anything else and the honeypot boots, with the reason
said.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vhoneynet import naming
from vhoneynet.artifacts import GuestArtifacts
from vhoneynet.images import BuiltImage
from vhoneynet.permissions import TRAVERSE, make_folder
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import Topology
from vhoneynet.warm import WarmState

STORE = "warm"
META = "kept.json"
WHAT = {"topology": "the topology or a file it names changed", "machine": "its virtual machine's definition changed",
        "image": "its image changed", "host": "the host changed"}


@dataclass(frozen=True)
class Origin:
    """What a warm state was made from: a digest of the topology and of the guest's configuration
    medium's files, one of its domain XML, the image's identity, the host's."""

    topology: str
    image: str
    host: str
    machine: str = ""  # states kept before it was recorded are stale

    @classmethod
    def of(cls, topo: Topology, guest: GuestArtifacts, host: str) -> Origin:
        machine = hashlib.sha256(f"{guest.domain_xml}\0{guest.share_xml or ''}".encode()).hexdigest()[:16]
        return cls(topology_digest(topo, guest.medium.files), image_identity(guest.image), host, machine)

    def mismatch(self, kept: Origin) -> str | None:
        """Why a state made from `kept` cannot stand in for one made from this; None when it can."""
        changed = [field for field in WHAT if getattr(self, field) != getattr(kept, field)]
        if "topology" in changed and "machine" in changed:  # the machine follows from the topology
            changed.remove("machine")
        return ", ".join(WHAT[field] for field in changed) or None


def topology_digest(topo: Topology, medium: dict[str, str]) -> str:
    """The topology and what was rendered from it for one guest (its medium's files by name)."""
    rendered = json.dumps(medium, sort_keys=True)
    return hashlib.sha256(topo.model_dump_json().encode() + b"\0" + rendered.encode()).hexdigest()[:16]


def image_identity(image: BuiltImage) -> str:
    """A built image by its content hash; a brought disk by its path, size and change time (it
    is the user's file: a changed one would not match the layer saved over it)."""
    if image.digest:
        return f"{image.recipe}-{image.digest}"
    st = image.disk.stat()
    return f"{image.disk}:{st.st_size}:{st.st_mtime_ns}"


@dataclass(frozen=True)
class Kept:
    """One kept warm state."""

    hid: str
    guest: str
    folder: Path
    origin: Origin
    created: str
    bytes: int

    @property
    def state(self) -> WarmState:
        return WarmState.at(self.folder, self.guest)

    def as_dict(self) -> dict:
        return {"id": self.hid, "guest": self.guest, "created": self.created, "bytes": self.bytes,
                "image": self.origin.image, "folder": str(self.folder)}


class WarmStore:
    """The warm states kept under one storage folder."""

    def __init__(self, storage: Path):
        self.root = storage / STORE

    def folder(self, hid: str, guest: str) -> Path:
        """Raises InvalidName for anything but a honeynet id and a guest name (no path escapes)."""
        return self.root / naming.checked("id", hid) / naming.checked("guest", guest)

    def keep(self, run: RunDir, guest: str, origin: Origin) -> None:
        """Keep the warm state `up` just saved in `run` (replacing an older one of the guest)."""
        saved = WarmState.of(run, guest)
        folder = self.folder(run.hid, guest)
        work = folder.with_name(f".{guest}.partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, mode=0o700)
        kept = WarmState.at(work, guest)
        for source, target in ((saved.state, kept.state), (saved.layer, kept.layer)):
            _link(source, target)
        meta = {"origin": asdict(origin), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "bytes": saved.state.stat().st_size + saved.layer.stat().st_size}
        (work / META).write_text(json.dumps(meta, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)

    def lend(self, run: RunDir, guest: str, origin: Origin) -> str | None:
        """Give `run` the kept warm state of `guest` as its own warm state, when it was made from
        `origin`. Returns None when it did, else why not (said to the user, who sees it boot)."""
        kept = self.get(run.hid, guest)
        if kept is None:
            return "no kept warm state"
        reason = origin.mismatch(kept.origin)
        if reason:
            return f"its kept warm state is stale: {reason}"
        make_folder(run.warm, TRAVERSE)  # qemu walks through to the layer, a backing file
        lent = WarmState.of(run, guest)
        for source, target in ((kept.state.state, lent.state), (kept.state.layer, lent.layer)):
            target.unlink(missing_ok=True)
            _link(source, target)
        return None

    def get(self, hid: str, guest: str) -> Kept | None:
        return self._read(self.folder(hid, guest))

    def all(self) -> list[Kept]:
        """Every kept state, by honeynet id and guest (unreadable ones left out: prune removes them)."""
        found = [self._read(f.parent) for f in sorted(self.root.glob(f"*/*/{META}"))] if self.root.is_dir() else []
        return [k for k in found if k is not None]

    def prune(self, hids: list[str] | None = None) -> list[dict]:
        """Remove the kept states (of the honeynets `hids`, default all, half-written ones included);
        a running honeynet keeps its own links to them until its `down`. Returns what was removed."""
        folders = [self.root / naming.checked("id", hid) for hid in hids] if hids is not None else [self.root]
        removed = [k.as_dict() for k in self.all() if hids is None or k.hid in hids]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    def _read(self, folder: Path) -> Kept | None:
        meta_file = folder / META
        try:
            meta = json.loads(meta_file.read_text())
            origin = Origin(**meta["origin"])
            kept = Kept(folder.parent.name, folder.name, folder, origin, str(meta["created"]), int(meta["bytes"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return kept if kept.state.exists() else None


def _link(source: Path, target: Path) -> None:
    """A second name for `source` (a copy where the two are on different file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
