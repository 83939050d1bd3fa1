"""Labs for trainers and CI: reset honeypots to pristine, named checkpoints, and back.

A honeypot saved as its warm state by `up` is reset by a restore (warm.py): power it off,
archive its console log, a fresh overlay over its frozen layer, its memory and devices
restored, back at "ready" in seconds. Otherwise (or with `--cold`) a reset is: power the guest
off, archive its console log, replace the overlay with a fresh one of the read-only base (in
the honeynet's libvirt pool), boot, wait ready. The gateway and every other guest stay up; the capture
folder is never touched, so what was captured before the reset is kept.

A checkpoint is a copy of the overlay taken while the guest is frozen (guest-fsfreeze
through the agent when it has one, then paused: qemu flushes its caches when it stops),
plus the guest's NVRAM when it boots with UEFI. `reset --to NAME` boots a new overlay
whose backing file is the checkpoint, so restoring costs the same ~10 ms as a plain
reset, whatever the size of the checkpoint. Disk-level copies instead of libvirt's
internal snapshots: those do not work with pflash/NVRAM (UEFI guests).
"""

from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vhoneynet import warm
from vhoneynet.backend.disks import backing_file, write_qcow2_overlay
from vhoneynet.backends import Backends
from vhoneynet.capture import sessions
from vhoneynet.errors import (
    AgentUnavailable,
    CheckpointExists,
    CheckpointNotFound,
    GuestNotFound,
    VhoneynetError,
)
from vhoneynet.hostcheck import accel_for
from vhoneynet.lifecycle import (
    Progress,
    _quiet,
    guest_image,
    guest_probes,
    probing,
    settle_clocks,
    take_out_seeds,
    wait_ready,
    watch_role,
)
from vhoneynet.pacing import BootQueue, boot_slots
from vhoneynet.permissions import TRAVERSE, make_folder
from vhoneynet.plan import Guest, plan
from vhoneynet.readiness import ConsoleWatch, Restored
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import DEFAULT_STORAGE, Topology
from vhoneynet.warm import WarmState

CHECKPOINT_FILE = "checkpoint.json"


def reset(hid: str, b: Backends, guests: list[str] | None = None, to: str | None = None,
          storage: Path = DEFAULT_STORAGE, progress: Progress = _quiet, timeout: float = 900,
          probe: bool = True, warm_start: bool = True) -> dict:
    """Put honeypots (default: all) back to pristine, or to checkpoint `to`, and wait until ready
    (with `probe`: until their services answer from the internet side, as after `up`).

    Back to pristine, a honeypot with a warm state (see warm.py) is restored from it, unless
    `warm_start` is off: no boot, it is at "ready" again at once. Otherwise its disk is reverted
    and it boots.

    Raises InvalidName, HoneynetNotFound, GuestNotFound, CheckpointNotFound, GuestNotReady.
    Returns per guest: how it was reset ("restore" or "boot"), the disk revert time and the time
    until ready (seconds).
    """
    run = RunDir(storage, hid)
    if to is not None:
        run.checkpoint(to)  # an unusable name is refused before any guest stops
    topo = run.saved()
    p = plan(topo)
    targets = _honeypots(topo, p, guests)
    sources = {g.name: _checkpoint_disk(run, to, g.name) for g in targets} if to else {}
    states = {g.name: state for g in targets
              if warm_start and (state := WarmState.at(run.checkpoint(to), g.name) if to else WarmState.of(run, g.name)).exists()}
    restored = set(states)
    capture = run.captures(topology=topo)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    timings: dict[str, dict] = {}
    watches: dict[str, ConsoleWatch | Restored] = {}
    built = {g.image: b.images.get(g.image) for g in targets}
    images = {g.name: guest_image(topo, g, built) for g in targets if built[g.image] is not None}

    def stop(g: Guest) -> None:
        started = time.monotonic()
        if g.agent and b.hv.domain_state(g.domain) == "running":
            sessions.hang_up(b.hv, g.domain)  # an open session's typed keystrokes leave first
        b.hv.stop_domain(g.domain)
        _archive_console(capture.console(g.name), stamp, to)
        timings[g.name] = {"how": "restore" if g.name in restored else "boot",
                           "stop": round(time.monotonic() - started, 3)}

    def start(g: Guest) -> None:
        started = time.monotonic()
        if g.name in restored:
            try:
                if to is not None:
                    _restore_nvram(b, g, run, to)
                warm.restore(run, b, g, states[g.name])
            except VhoneynetError as e:  # e.g. a host whose CPU no longer matches the saved one
                progress(f"guest {g.name}: cannot restore {to or 'its warm state'}, booting instead: {e}")
                restored.discard(g.name)
                timings[g.name]["how"] = "boot"
            else:
                watches[g.name] = Restored()
                reverted = time.monotonic()
                progress(f"guest {g.name}: restored to {to or 'its warm state'} in {reverted - started:.3f} s")
                settle_clocks([g], b, progress)
        if g.name not in restored:
            overlay = run.disk(g.name)
            write_qcow2_overlay(overlay, sources.get(g.name) or _base_of(overlay))  # replaces the old one in one step
            _restore_nvram(b, g, run, to)
            reverted = time.monotonic()
            role = watch_role(g, images[g.name]) if g.name in images else g.role
            watches[g.name] = ConsoleWatch.from_now(capture.console(g.name), role)
            boots[g.name] = lambda: b.hv.boot_domain(g.domain)  # when a boot slot is free
            progress(f"guest {g.name}: disk reverted to {to or 'pristine'} in {reverted - started:.3f} s")
        timings[g.name] |= {"disk_revert": round(reverted - started, 3), "start": round(time.monotonic() - reverted, 3)}

    started = time.monotonic()
    boots: dict[str, Callable[[], None]] = {}
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        list(pool.map(stop, targets))
        list(pool.map(start, targets))
    queue = BootQueue(boot_slots(accel_for(topo.host.accel)), {g.name: boots[g.name] for g in targets if g.name in boots})
    probes = guest_probes(p, images) if probe else {}
    waiting = time.monotonic() - started
    with probing(topo, p, b) as source:
        ready = wait_ready(hid, watches, b, progress, timeout, {n: probes.get(n, []) for n in watches}, source, queue)
    take_out_seeds([g for g in targets if g.name not in restored], b, progress)
    for name, seconds in ready.items():
        timings[name]["until_ready"] = round(waiting + seconds, 2)
    return {"id": hid, "to": to or "pristine", "guests": timings,
            "seconds": round(time.monotonic() - started, 2)}


def checkpoint(hid: str, name: str, b: Backends, guests: list[str] | None = None,
               storage: Path = DEFAULT_STORAGE, progress: Progress = _quiet, memory: bool = False) -> dict:
    """Save the disks of honeypots (default: all) as checkpoint `name`; the guests keep running.
    With `memory`, their memory and devices too (warm.save_copy): `reset --to` then restores
    them as they ran, instead of booting their disks.

    Raises InvalidName, HoneynetNotFound, GuestNotFound, CheckpointExists.
    """
    run = RunDir(storage, hid)
    folder = run.checkpoint(name)
    topo = run.saved()
    p = plan(topo)
    targets = _honeypots(topo, p, guests)
    if folder.exists():
        raise CheckpointExists(hid, name)
    work = folder.with_name(f".{name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    make_folder(work, TRAVERSE)  # qemu walks through to a restored checkpoint, its backing file
    saved = {}
    try:
        for g in targets:
            started = time.monotonic()
            if memory:
                warm.save_copy(run, b, g, WarmState.at(work, g.name))
                _copy_nvram(b, g, work)
                settle_clocks([g], b, progress)
            else:
                with _frozen(b, g):
                    shutil.copyfile(run.disk(g.name), work / f"{g.name}.qcow2")
                    _copy_nvram(b, g, work)
            (work / f"{g.name}.qcow2").chmod(0o444)  # a backing file from now on: never written
            saved[g.name] = {"seconds": round(time.monotonic() - started, 3),
                             "bytes": (work / f"{g.name}.qcow2").stat().st_size}
            progress(f"guest {g.name}: checkpoint {name!r} saved in {saved[g.name]['seconds']:.2f} s")
        meta = {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "memory": memory, "guests": saved}
        (work / CHECKPOINT_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"id": hid, **meta}


def checkpoints(hid: str, storage: Path = DEFAULT_STORAGE) -> list[dict]:
    """The checkpoints of a honeynet: name, created, guests."""
    run = RunDir(storage, hid)
    run.saved()  # raises HoneynetNotFound
    root = run.checkpoints
    found = sorted(root.glob(f"*/{CHECKPOINT_FILE}")) if root.is_dir() else []
    return [json.loads(f.read_text()) for f in found]


# --- helpers ---------------------------------------------------------------------


def _honeypots(topo: Topology, p, names: list[str] | None) -> list[Guest]:
    by_name = {g.name: g for g in p.honeypots}
    for name in names or []:
        if name not in by_name:
            raise GuestNotFound(topo.id, name, list(by_name))
    return [by_name[n] for n in dict.fromkeys(names)] if names else list(p.honeypots)


def _checkpoint_disk(run: RunDir, name: str, guest: str) -> Path:
    disk = run.checkpoint(name) / f"{guest}.qcow2"
    if not disk.is_file():
        available = [c["name"] for c in checkpoints(run.hid, run.storage) if guest in c["guests"]]
        raise CheckpointNotFound(run.hid, name, guest, available)
    return disk


def _base_of(overlay: Path) -> Path:
    """The read-only image at the bottom of an overlay's backing chain (what pristine means)."""
    current = overlay
    while (backing := backing_file(current)) is not None:
        current = backing
    if current == overlay:
        raise VhoneynetError(f"{overlay} has no backing image: cannot make a pristine overlay")
    return current


def _archive_console(log: Path, stamp: str, to: str | None) -> None:
    """Keep the console of the guest's previous life next to the new one."""
    if log.exists():
        log.rename(log.with_name(f"{log.stem}.before-reset-{stamp}{'-to-' + to if to else ''}.log"))


def _copy_nvram(b: Backends, g: Guest, folder: Path) -> None:
    nvram = _nvram(b, g.domain)
    if nvram is not None:
        shutil.copyfile(nvram, folder / f"{g.name}.nvram")


def _nvram(b: Backends, domain: str) -> Path | None:
    found = ET.fromstring(b.hv.domain_xml(domain)).find("os/nvram")
    return Path(found.text) if found is not None and found.text else None


def _restore_nvram(b: Backends, g: Guest, run: RunDir, to: str | None) -> None:
    nvram = _nvram(b, g.domain)
    if nvram is None:
        return
    saved = run.checkpoint(to) / f"{g.name}.nvram" if to else None
    if saved is not None and saved.is_file():
        shutil.copyfile(saved, nvram)
    elif to is None:
        nvram.unlink(missing_ok=True)  # libvirt makes a fresh one from the template on the next start


class _frozen:
    """Guest file systems frozen (agent) and vCPUs paused for the time of a disk copy."""

    def __init__(self, b: Backends, g: Guest):
        self.b, self.g, self.thaw = b, g, False

    def __enter__(self) -> None:
        if self.g.agent:
            try:
                self.b.hv.agent(self.g.domain, "guest-fsfreeze-freeze", timeout=30)
                self.thaw = True
            except AgentUnavailable:
                pass  # no agent answering: a paused guest is still crash-consistent
        self.b.hv.pause_domain(self.g.domain)

    def __exit__(self, *_: object) -> None:
        self.b.hv.resume_domain(self.g.domain)
        if self.thaw:
            self.b.hv.agent(self.g.domain, "guest-fsfreeze-thaw", timeout=30)
