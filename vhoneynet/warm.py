"""Warm state: a honeypot saved the moment it first was ready, so a reset restores it instead of
booting it.

A warm state is two files in the honeynet's run folder (`warm/`): the guest's memory and device
state (a libvirt save file) and its disk as it was at that moment (the overlay it had run on,
frozen read-only, a backing file from then on). Saving stops the guest (libvirt's save: qemu
stopped with its caches flushed, so the overlay is quiet), moves its overlay aside as the frozen
layer, gives it a new empty overlay on top, and restores it: the guest runs on from the state
just saved, having lost nothing. A restore is the same second half: a fresh overlay over the
frozen layer, the state file restored — the guest is back exactly at "ready", in about the time
it takes to read its memory back.

Libvirt's save/restore rather than snapshots: libvirt 9.0 cannot revert external snapshots, and
internal ones need every disk in qcow2 and no pflash. The gateway is saved too, but before it has
its capture share: a virtiofs device cannot be migrated, which is what a save is
(lifecycle.Handover, docs/labs.md).

What the guest must not notice, and how (see `settle`): its clock jumps to now (qemu-ga's
guest-set-time) instead of running on from the saved second. Its log forwarders hold no
connection (datagrams to the log sink: gateway/config/capture.py), so they carry on at once.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vhoneynet.backend.disks import write_qcow2_overlay
from vhoneynet.backends import Backends
from vhoneynet.errors import AgentUnavailable, VhoneynetError
from vhoneynet.permissions import TRAVERSE, make_folder
from vhoneynet.plan import Guest
from vhoneynet.rundir import RunDir

READ_ONLY = 0o444
CLOCK_SLACK_NS = 2 * 10**9  # a restored guest's clock, once set, is this close to the host's
SETTLE_SECONDS = 30  # how long a restored guest's agent is asked to set its clock


@dataclass(frozen=True)
class WarmState:
    """One honeypot's saved state: memory and devices, and the disk layer under them."""

    state: Path
    layer: Path

    @classmethod
    def of(cls, run: RunDir, guest: str) -> WarmState:
        """The warm state `up` saves."""
        return cls.at(run.warm, guest)

    @classmethod
    def at(cls, folder: Path, guest: str) -> WarmState:
        """A state kept in `folder` (the warm folder, or a checkpoint's)."""
        return cls(folder / f"{guest}.state", folder / f"{guest}.qcow2")

    def exists(self) -> bool:
        return self.state.is_file() and self.layer.is_file()


def save(run: RunDir, b: Backends, g: Guest) -> dict:
    """Save running guest `g` as its warm state, then let it run on from that state. Returns
    the seconds of the save and of the restore, and the state's size. Raises VhoneynetError (the
    guest is restored, or at worst stopped, on the overlay it had)."""
    warm = WarmState.of(run, g.name)
    make_folder(run.warm, TRAVERSE)  # qemu walks through to the frozen layer, a backing file
    overlay = run.disk(g.name)
    started = time.monotonic()
    b.hv.save_domain(g.domain, warm.state)
    saved = time.monotonic()
    os.replace(overlay, warm.layer)  # the disk the saved memory belongs to, kept as it is
    warm.layer.chmod(READ_ONLY)
    write_qcow2_overlay(overlay, warm.layer)
    b.hv.restore_domain(warm.state)
    return {"save": round(saved - started, 3), "restore": round(time.monotonic() - saved, 3),
            "bytes": warm.state.stat().st_size}


def save_copy(run: RunDir, b: Backends, g: Guest, into: WarmState) -> dict:
    """Save running honeypot `g`'s memory and devices and a copy of its disk `into` (a memory
    checkpoint), then let it run on, on its own disk, from that state. Returns the seconds of the
    save, the copy and the restore. Raises VhoneynetError (the guest is restored, or at worst
    stopped, on the overlay it had)."""
    started = time.monotonic()
    b.hv.save_domain(g.domain, into.state)
    saved = time.monotonic()
    try:
        shutil.copyfile(run.disk(g.name), into.layer)  # qemu is stopped: the overlay is quiet
        into.layer.chmod(READ_ONLY)
        copied = time.monotonic()
    finally:
        b.hv.restore_domain(into.state)
    return {"save": round(saved - started, 3), "copy": round(copied - saved, 3),
            "restore": round(time.monotonic() - copied, 3)}


def restore(run: RunDir, b: Backends, g: Guest, warm: WarmState | None = None, xml: str | None = None) -> None:
    """Start stopped guest `g` from a saved state (default: its warm state), on a fresh overlay
    of the state's disk layer; with `xml`, its domain is defined from it first (an `up` that
    restores). Raises VhoneynetError when there is none, or when libvirt cannot restore it."""
    warm = warm or WarmState.of(run, g.name)
    if not warm.exists():
        raise VhoneynetError(f"guest {g.name} has no warm state to restore")
    write_qcow2_overlay(run.disk(g.name), warm.layer)
    b.hv.restore_domain(warm.state, xml)


def forget(run: RunDir, guest: str) -> None:
    """Drop a honeypot's memory state, so its resets boot. The frozen layer stays: the guest's
    overlay may sit on it (it goes with the run folder at `down`)."""
    WarmState.of(run, guest).state.unlink(missing_ok=True)


def settle(b: Backends, g: Guest) -> None:
    """Set a restored honeypot's clock to now (it runs on from the saved second otherwise), and
    check that it took: right after a restore the guest's agent may not answer yet, so it is
    asked again every 2 s for SETTLE_SECONDS. Raises AgentUnavailable when it never does."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        try:
            _set_clock(b, g)
            guest_ns = b.hv.agent(g.domain, "guest-get-time", timeout=10)
            if abs(guest_ns - time.time_ns()) < CLOCK_SLACK_NS:
                return
            problem: Exception = AgentUnavailable(g.domain, f"its clock is {guest_ns / 1e9:.0f}, not now")
        except AgentUnavailable as e:
            problem = e
        if time.monotonic() > deadline:
            raise problem
        time.sleep(2)


def _set_clock(b: Backends, g: Guest) -> None:
    try:
        b.hv.agent(g.domain, "guest-set-time", {"time": time.time_ns()}, timeout=10)
    except AgentUnavailable as e:
        # qemu-ga sets the clock, then writes it to the RTC with hwclock, which images without it
        # fail: an error the agent answered with may leave the clock set, and the guest-get-time
        # that follows says whether it did (the error's text is the guest's, never read)
        if not e.answered:
            raise
