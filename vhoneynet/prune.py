"""`vhoneynet prune`: remove what the host keeps between honeynets and can do without.

Warm states kept for the next `up` (warmstore.py), of some honeynets or all; with `images`,
also the builds of earlier versions of a recipe (a recipe's current build is always kept, and so
is any build a disk of this host still sits on: a running honeynet's overlays, its warm layers
and checkpoints). Nothing a running honeynet uses goes: its run folder holds its own links to
its warm states, so its resets still restore.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from vhoneynet.backend.disks import backing_file
from vhoneynet.images import ImageStore
from vhoneynet.rundir import honeynets_folder
from vhoneynet.warmstore import WarmStore

BUILD_NAME = re.compile(r"[a-z0-9][a-z0-9-]*-[0-9a-f]{12}")


def prune(storage: Path, hids: list[str] | None = None, images: bool = False,
          store: ImageStore | None = None) -> dict:
    """Remove kept warm states (of `hids`, default all) and, with `images`, unused earlier builds.
    Returns what was removed and the bytes freed."""
    removed = WarmStore(storage).prune(hids)
    freed = sum(k["bytes"] for k in removed)
    builds: list[dict] = []
    if images:
        for folder in unused_builds(storage, store or ImageStore(storage / "images")):
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder)
            builds.append({"path": str(folder), "bytes": size})
            freed += size
    return {"warm_states": removed, "images": builds, "bytes": freed}


def unused_builds(storage: Path, store: ImageStore) -> list[Path]:
    """Image builds that are not a recipe's current one and that no disk under `storage` sits on."""
    current = {Path(r["path"]).resolve() for r in store.list() if r["path"]}
    used = {disk.parent for disk in _bottoms(storage)}
    found = [f.resolve() for f in sorted(store.root.iterdir()) if f.is_dir() and BUILD_NAME.fullmatch(f.name)] \
        if store.root.is_dir() else []
    return [f for f in found if f not in current and f not in used]


def _bottoms(storage: Path) -> set[Path]:
    """The files at the bottom of the backing chain of every qcow2 disk of a honeynet or a kept state."""
    bottoms = set()
    for root in (honeynets_folder(storage), WarmStore(storage).root):
        for disk in root.rglob("*.qcow2") if root.is_dir() else []:
            current, seen = disk, set()
            while (below := _below(current)) is not None and below not in seen:
                seen.add(below)
                current = below
            bottoms.add(current.resolve())
    return bottoms


def _below(disk: Path) -> Path | None:
    try:
        return backing_file(disk)
    except OSError:  # a backing file gone, or a disk being written: the chain ends here
        return None
