"""up / down / status / exec of one honeynet, over narrow backends.

`up` runs the plan; `down` finds everything by the honeynet id (libvirt metadata and
names) so it works without the YAML and after an interrupted `up`. Captures are kept.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from vhoneynet import hardware, naming, warm
from vhoneynet.artifacts import INITRD, SEED_CD, Artifacts, GuestArtifacts, render_all
from vhoneynet.backend.disks import (
    make_iso,
    make_vfat,
    write_initrd,
    write_qcow2_overlay,
)
from vhoneynet.backend.protocols import GuestInfo
from vhoneynet.backends import Backends
from vhoneynet.capture import sessions
from vhoneynet.errors import (
    BroughtDiskUnreachable,
    GuestNotReady,
    HoneynetExists,
    HoneynetNotFound,
    HostNotReady,
    ImageMissing,
    ResourceConflict,
    SubnetCollision,
    VhoneynetError,
)
from vhoneynet.gateway.config import disk as gateway_config
from vhoneynet.hostcheck import accel_for, host_identity
from vhoneynet.images import BuiltImage, Service, brought_disk
from vhoneynet.neighbours import check_neighbours, host_lock, summary
from vhoneynet.pacing import BootQueue, boot_slots
from vhoneynet.permissions import group_id
from vhoneynet.plan import (
    Action,
    AddOutsideHost,
    ApplyHostRules,
    BuildImage,
    Guest,
    MakeBridge,
    MakePool,
    Plan,
    StartGuest,
    WaitReady,
    admin_addresses,
    plan,
    service_probe_address,
)
from vhoneynet.probes import Probe, ProbeSource, probe_source, probes_for
from vhoneynet.readiness import UNSEEDED, ConsoleWatch, GatewayStart, Restored
from vhoneynet.rundir import CaptureFolder, RunDir, saved_topologies
from vhoneynet.seed import SEED_FOLDER
from vhoneynet.topology.model import DEFAULT_STORAGE, Topology
from vhoneynet.warmstore import Origin, WarmStore

Progress = Callable[[str], None]
T = TypeVar("T")
Watch = ConsoleWatch | GatewayStart | Restored  # how wait_ready sees a guest's way to "ready"
FLUSH_SECONDS = 10  # the gateway's capture flush on `down`, every agent call included


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class GuestProgress:
    """Where one guest is while wait_ready waits: `state` is starting, booting, probing <services>,
    ready or failed; `console_line` is the guest's own text (hostile: sanitise before showing)."""

    guest: str
    state: str
    elapsed: float
    console_line: str


def _guest_updates(progress: Progress) -> Callable[[GuestProgress], None]:
    """Where wait_ready's structured updates go: the progress callback's `guest` method when it has
    one (a live table), nowhere otherwise, so a plain callback keeps receiving lines only."""
    return getattr(progress, "guest", None) or (lambda _: None)


# --- up --------------------------------------------------------------------


def up(topo: Topology, b: Backends, progress: Progress = _quiet, timeout: float = 600, probe: bool = True,
       warm_state: bool = True, warm_start: bool = True) -> dict:
    """Create and boot the honeynet; return its status once every guest is ready (and, with
    `probe`, once every honeypot's services answer from the internet side). With `warm_state`,
    each honeypot is then saved as it is, ready, so a reset restores it instead of booting it,
    and the state is kept (warmstore.py). With `warm_start`, a honeypot whose kept state was made
    from this same topology, image and host is restored from it instead of booting.

    Raises HoneynetExists, ResourceConflict, ImageBuildFailed, GuestNotReady, ….
    Whatever was created before a failure carries the honeynet id, so `down` removes it.
    """
    started = time.monotonic()
    p = plan(topo)
    run = RunDir.of(topo)
    with host_lock(topo.host.storage):  # check and reserve in one step: concurrent `up`s see each other
        check_neighbours(topo, saved_topologies(topo.host.storage))
        _check_free(topo, p, b)
        run.save(topo)
    actions = p.actions()
    built = {a.name: b.images.ensure(a.name, progress=progress) for a in actions if isinstance(a, BuildImage)}
    images = {g.name: guest_image(topo, g, built) for g in p.guests}  # as each guest boots
    check_firmware(images)
    hardware.write_bios_tables(topo.host.storage)  # the honeypots' firmware tables, read by qemu
    images_done = time.monotonic()
    accel = accel_for(topo.host.accel)
    progress(f"acceleration: {accel}")
    store = WarmStore(topo.host.storage)
    host = host_identity(accel)
    made = render_all(topo, p, images, accel)  # every file below, before anything is created
    origins = {g.name: Origin.of(topo, made.guest(g.name), host) for g in p.guests}
    starts_warm = _lend_warm_states(run, p.guests, store, origins, progress) if warm_start else set()

    capture = CaptureFolder.of(topo).create(topo.gateway.capture.group)
    b.capture.prepare_share(topo)  # the gateway's one writable host folder, mounted nosuid/nodev/noexec

    for action in actions:
        _create(action, topo.id, made, b, progress)
    guests = [a.guest for a in actions if isinstance(a, StartGuest)]
    handing = Handover(run, b, store, made.guest(p.gateway.name), origins[p.gateway.name], warm_state, progress)
    watches: dict[str, Watch] = {
        g.name: ConsoleWatch.from_now(capture.console(g.name), watch_role(g, images[g.name])) for g in guests}
    gateway_start = GatewayStart(ConsoleWatch.from_now(capture.console(p.gateway.name), "gateway"), handing.cold)
    if p.gateway.name in watches:
        watches[p.gateway.name] = gateway_start
    progress(f"starting {len(guests)} guests")
    starts: list[float] = []
    boots: dict[str, Callable[[], None]] = {}

    def timed(start: Callable[[], T]) -> T:  # libvirt starting a qemu process
        started_domain = time.monotonic()
        result = start()
        starts.append(time.monotonic() - started_domain)
        return result

    def create(guest: Guest) -> None:  # each guest's disks, then its domain: no guest waits for another
        xml = _prepare_guest(made.guest(guest.name))
        if guest.name in starts_warm and timed(lambda: _start_warm(run, b, guest, xml, images[guest.name], progress)):
            if guest.role == "gateway":
                gateway_start.handed = True  # it waits for its share: given here, once its clock is right
                handing.restored()
            else:
                watches[guest.name] = Restored()
                settle_clocks([guest], b, progress)  # at once: what it logs from now on carries the right time
        else:
            starts_warm.discard(guest.name)
            boots[guest.name] = lambda: timed(lambda: b.hv.start_domain(xml))  # when a boot slot is free

    with ThreadPoolExecutor(max_workers=len(guests)) as pool:  # an interrupt waits for the running ones
        list(pool.map(create, guests))
    queue = BootQueue(boot_slots(accel), {g.name: boots[g.name] for g in guests if g.name in boots})
    if len(queue.waiting) > queue.slots:
        progress(f"{len(queue.waiting)} guests boot, {queue.slots} at a time ({accel} on this host's cores)")
    booting = time.monotonic()
    if any(isinstance(a, WaitReady) for a in actions):
        with probing(topo, p, b) as source:
            wait_ready(topo.id, watches, b, progress, timeout, guest_probes(p, images) if probe else None, source,
                       queue)
    else:
        queue.start_all()
    ready = time.monotonic()
    booted = [g for g in p.honeypots if g.name not in starts_warm]
    take_out_seeds(booted, b, progress)
    if warm_state:
        save_warm_states(run, booted, b, progress)
        for g in booted:
            if warm.WarmState.of(run, g.name).exists():
                store.keep(run, g.name, origins[g.name])
    b.capture.start_followers(topo)  # the alert hook's and the event store's
    result = status(topo.id, b, topo.host.storage)
    result["timings"] = {  # seconds: image builds, orchestration (everything but images and boot), guest boot
        "images": round(images_done - started, 2),
        "orchestration": round(booting - images_done, 2),
        "boot": round(ready - booting, 2),
        "domain_start": round(max(starts), 2),  # part of orchestration: libvirt starting a qemu process (slowest)
        "warm_state": round(time.monotonic() - ready, 2),
    }
    result["started"] = {g.name: "restored" if g.name in starts_warm else "booted" for g in p.guests}
    return result


def _create(action: Action, hid: str, made: Artifacts, b: Backends, progress: Progress) -> None:
    """Execute one of the plan's host-side actions, from the rendered files `made`. Images,
    guests and the wait are up's own phases (images before rendering, guests side by side)."""
    match action:
        case MakeBridge(bridge=bridge) if bridge.owned:
            progress(f"bridge {bridge.name} ({bridge.role})")
            b.net.ensure_bridge(bridge.name, bridge.address)
        case ApplyHostRules():
            b.fw.apply(hid, made.host_rules)
        case AddOutsideHost(host=host, bridge=bridge):
            progress(f"outside host {host.name} ({host.address})")
            b.net.add_outside_host(host.netns, bridge, host.veth, host.address, mac=host.mac)
        case MakePool(name=name):
            b.hv.ensure_pool(made.pool_xml, name)


def _lend_warm_states(run: RunDir, guests: Iterable[Guest], store: WarmStore, origins: dict[str, Origin],
                      progress: Progress) -> set[str]:
    """The guests that start from their kept warm state (lent to `run`); the others are said
    to boot, with the reason."""
    lent = set()
    for g in guests:
        why_not = store.lend(run, g.name, origins[g.name])
        if why_not is None:
            lent.add(g.name)
        else:
            progress(f"guest {g.name}: boots ({why_not})")
    return lent


def _start_warm(run: RunDir, b: Backends, g: Guest, xml: str, image: BuiltImage, progress: Progress) -> bool:
    """Start guest `g` from its lent warm state. False when libvirt cannot (e.g. a state file
    qemu no longer reads): then its overlay is fresh over its image again, its state forgotten,
    and it is to boot."""
    try:
        warm.restore(run, b, g, xml=xml)
    except VhoneynetError as e:
        progress(f"guest {g.name}: cannot restore its kept warm state, booting instead: {e}")
        warm.forget(run, g.name)
        write_qcow2_overlay(run.disk(g.name), image.disk)
        return False
    progress(f"guest {g.name}: restored from its kept warm state")
    return True


@dataclass
class Handover:
    """Giving the gateway its capture share (see readiness.GatewayStart). A booted gateway waits
    for it with everything else running; with `warm_state` it is saved right then, as its warm
    state (warm.py: no traffic crosses yet, nothing of its capture has started), so the next
    `up` restores it there. A restored gateway gets it at once, after its clock is set: what it
    captures from then on carries the right time."""

    run: RunDir
    b: Backends
    store: WarmStore
    gateway: GuestArtifacts
    origin: Origin
    warm_state: bool
    progress: Progress

    def cold(self) -> None:
        g = self.gateway.guest
        if self.warm_state:
            save_warm_states(self.run, [g], self.b, self.progress)
            if warm.WarmState.of(self.run, g.name).exists():
                self.store.keep(self.run, g.name, self.origin)
        self._attach()

    def restored(self) -> None:
        settle_clocks([self.gateway.guest], self.b, self.progress)
        self._attach()

    def _attach(self) -> None:
        try:
            self.b.hv.attach_device(self.gateway.guest.domain, self.gateway.share_xml or "")
        except VhoneynetError as e:  # without its share it never joins its ports: the honeynet stays cut off
            raise VhoneynetError(f"guest {self.gateway.guest.name}: its capture share could not be attached: {e}") from None
        self.progress(f"guest {self.gateway.guest.name}: capture share attached")


def settle_clocks(guests: Iterable[Guest], b: Backends, progress: Progress) -> None:
    """Set the clocks of restored honeypots to now, in parallel (warm.settle). A clock that cannot
    be set is only reported: the honeypot runs and answers."""
    def settle(g: Guest) -> None:
        try:
            warm.settle(b, g)
        except VhoneynetError as e:
            progress(f"guest {g.name}: clock not set after its restore: {e}")

    guests = list(guests)
    with ThreadPoolExecutor(max_workers=max(1, len(guests))) as pool:
        list(pool.map(settle, guests))


def rendered(topo: Topology, b: Backends) -> Artifacts:
    """The files `up` would write for `topo` (`plan --render`), with the images built so far.
    Raises ImageMissing for one not built yet (`up` would build it), HostNotReady as `up`."""
    p = plan(topo)
    built = {}
    for name in p.images:
        if (image := b.images.get(name)) is None:
            raise ImageMissing(name, f"not built yet: `vhoneynet image build {name}` (or `up`, which builds it)")
        built[name] = image
    images = {g.name: guest_image(topo, g, built) for g in p.guests}
    return render_all(topo, p, images, accel_for(topo.host.accel))


def take_out_seeds(guests: Iterable[Guest], b: Backends, progress: Progress) -> None:
    """Empty the optical drive of each guest that booted: cloud-init has read the seed CD in
    it, and a seed left in the drive is one more thing an intruder would find. Only reported
    when it fails: the honeypot runs on (docs/stealth.md)."""
    for g in guests:
        try:
            b.hv.eject(g.domain)
        except VhoneynetError as e:
            progress(f"guest {g.name}: its seed CD stays in the drive: {e}")


def save_warm_states(run: RunDir, guests: tuple[Guest, ...] | list[Guest], b: Backends, progress: Progress) -> None:
    """Save every guest's warm state, in parallel (each guest stops for the time of its save
    and restore; its clock is set right after). A guest whose state cannot be saved is only
    reported: it runs on (booted again if the save stopped it), and its resets (or next `up`) boot."""
    def save(g: Guest) -> None:
        try:
            took = warm.save(run, b, g)
        except VhoneynetError as e:
            warm.forget(run, g.name)
            progress(f"guest {g.name}: no warm state, its resets will boot: {e}")
            if b.hv.domain_state(g.domain) != "running":
                b.hv.boot_domain(g.domain)
            return
        progress(f"guest {g.name}: warm state saved ({took['bytes'] >> 20} MiB) in {took['save'] + took['restore']:.1f} s")

    with ThreadPoolExecutor(max_workers=max(1, len(guests))) as pool:
        list(pool.map(save, guests))
    settle_clocks([g for g in guests if warm.WarmState.of(run, g.name).exists()], b, progress)


def up_or_undo(topo: Topology, b: Backends, progress: Progress = _quiet, timeout: float = 600, probe: bool = True,
               keep_on_failure: bool = False, warm_state: bool = True, warm_start: bool = True) -> dict:
    """`up`; when it fails or is interrupted, `down` what it created (captures kept) unless
    `keep_on_failure`, and raise the error. A refusal before anything was created (the id or
    a subnet taken) removes nothing: what exists belongs to another honeynet."""
    try:
        return up(topo, b, progress=progress, timeout=timeout, probe=probe, warm_state=warm_state,
                  warm_start=warm_start)
    except (HoneynetExists, SubnetCollision):
        raise
    except (VhoneynetError, KeyboardInterrupt):
        if not keep_on_failure:
            with suppress(OSError):  # its stderr may be gone, with the terminal or the pipe that read it
                progress("up failed: removing what was created (captures kept)")
            try:
                down(topo.id, b, topo.host.storage)
            except VhoneynetError:
                pass
        raise


def _check_free(topo: Topology, p: Plan, b: Backends) -> None:
    if any(b.hv.honeynet_domains(topo.id)):
        raise HoneynetExists(topo.id)
    if topo.gateway.capture.group:
        group_id(topo.gateway.capture.group)  # raises CaptureGroupUnknown before anything is made
    for i, pot in enumerate(topo.honeypots):
        disk = brought_disk(pot.image)
        if disk is not None and not b.hv.can_reach(disk):
            raise BroughtDiskUnreachable(f"honeypots[{i}].image", str(disk))
    for bridge in p.bridges:
        exists = b.net.link_exists(bridge.name)
        if bridge.owned and exists:
            raise ResourceConflict(f"bridge {bridge.name} already exists; run `vhoneynet down {topo.id}`")
        if not bridge.owned and not exists:
            raise ResourceConflict(f"networks.internet.bridge: host bridge {bridge.name} does not exist")
    used = [a for a in b.net.addresses_in_use() if a.network.overlaps(topo.networks.admin.cidr)]
    if used:
        raise ResourceConflict(f"networks.admin.cidr {topo.networks.admin.cidr} overlaps {used[0]} on this host")


def _prepare_guest(made: GuestArtifacts) -> str:
    """Create the guest's overlay and its configuration medium; return its domain XML."""
    write_qcow2_overlay(made.overlay, made.image.disk)
    medium = made.medium
    if medium.kind == INITRD:
        write_initrd(medium.path, made.image.initrd, SEED_FOLDER, medium.files)
    elif medium.kind == SEED_CD:
        make_iso(medium.path, medium.label, medium.files)
    else:  # the gateway's config disk, a Windows honeypot's answer disk
        make_vfat(medium.path, medium.label, medium.files, medium.size_kib)
    # no pool refresh for the medium: libvirt refuses one while another guest's overlay is
    # being created, and removing the pool refreshes it first
    return made.domain_xml


def wait_ready(hid: str, watches: dict[str, Watch], b: Backends, progress: Progress, timeout: float,
               probes: dict[str, list[Probe]] | None = None, source: ProbeSource | None = None,
               queue: BootQueue | None = None) -> dict[str, float]:
    """Wait until every watched guest is ready: its console says so, then each of its `probes`
    answers from `source`. The guests in `queue` are started here, as slots free up (pacing.py);
    each guest's `timeout` counts from its own start. Returns the seconds each guest took, from
    the start of the wait; raises GuestNotReady."""
    wait = _ReadyWait(hid, b, progress, timeout, source, probes or {})
    queue = queue or BootQueue(slots=0)
    for name in watches:
        if name not in queue:
            wait.started(name, watches[name])
        else:
            wait.report(name, watches[name], "queued")
    while wait.pending or queue:
        for name in queue.start(wait.booting()):
            wait.started(name, watches[name])
        for name, watch in list(wait.pending.items()):
            wait.poll(name, watch)
        if wait.pending or queue:
            time.sleep(0.25)
    return wait.ready


class _ReadyWait:
    """wait_ready's view of the guests it started: which booted, which probes still wait, which
    are ready and when."""

    def __init__(self, hid: str, b: Backends, progress: Progress, timeout: float, source: ProbeSource | None,
                 probes: dict[str, list[Probe]]):
        self.hid, self.b, self.progress, self.timeout, self.source = hid, b, progress, timeout, source
        self.probes = {name: list(ps) for name, ps in probes.items()} if source is not None else {}
        self.begun = time.monotonic()
        self.since: dict[str, float] = {}  # when each guest started
        self.pending: dict[str, Watch] = {}
        self.booted: set[str] = set()
        self.ready: dict[str, float] = {}
        self.booted_again: set[str] = set()  # guests reset once because cloud-init missed their seed
        self.update = _guest_updates(progress)

    def report(self, name: str, watch: Watch, state: str) -> None:
        self.update(GuestProgress(name, state, round(time.monotonic() - self.begun, 1), watch.last_line()))

    def started(self, name: str, watch: Watch) -> None:
        self.since[name] = time.monotonic()
        self.pending[name] = watch
        self.report(name, watch, "starting")

    def booting(self) -> int:
        """How many started guests have not booted yet (a restored one is booted at once)."""
        return sum(1 for name, watch in self.pending.items() if name not in self.booted and not isinstance(watch, Restored))

    def poll(self, name: str, watch: Watch) -> None:
        """One look at guest `name`; it leaves `pending` once ready. Raises GuestNotReady."""
        try:
            if self._is_ready(name, watch):
                self.report(name, watch, "ready")
                del self.pending[name]
            else:
                waiting = self.probes.get(name, [])
                self.report(name, watch, f"probing {', '.join(map(str, waiting))}" if name in self.booted else "booting")
        except GuestNotReady:
            self.report(name, watch, "failed")
            raise

    def _is_ready(self, name: str, watch: Watch) -> bool:
        now = time.monotonic()
        waited, elapsed = now - self.since[name], now - self.begun
        waiting = self.probes.get(name, [])
        panics = len(watch.panics)
        verdict = "ready" if name in self.booted else watch.poll()
        if len(watch.panics) > panics and verdict is None:
            self.progress(f"guest {name}: kernel panic ({watch.panics[-1]}); it restarts itself")
        if verdict == "ready":
            if name not in self.booted and waiting:
                self.progress(f"guest {name}: booted after {elapsed:.0f} s; probing {', '.join(map(str, waiting))}")
            self.booted.add(name)
            for probe in list(waiting):
                if self.source.answers(probe):  # type: ignore[union-attr]
                    self.progress(f"guest {name}: {probe.service} answers after {time.monotonic() - self.begun:.0f} s")
                    waiting.remove(probe)
            if not waiting:
                self.ready[name] = round(time.monotonic() - self.begun, 2)
                self.progress(f"guest {name}: ready after {self.ready[name]:.0f} s")
                return True
        elif verdict == UNSEEDED:
            self._boot_again(name, watch, waited)
        elif verdict is not None:
            raise GuestNotReady(name, waited, verdict)
        if self.b.hv.domain_state(naming.domain(self.hid, name)) != "running":
            raise GuestNotReady(name, waited, f"domain stopped; console: {watch.last_line()}")
        if waited > self.timeout:
            left = ", ".join(map(str, waiting)) if name in self.booted else ""
            detail = f"no answer from {left}" if left else f"console: {watch.last_line()}"
            raise GuestNotReady(name, waited, f"timed out; {detail}")
        return False

    def _boot_again(self, name: str, watch: Watch, waited: float) -> None:
        """cloud-init finished without its seed, which happens when the seed CD's driver loads
        after cloud-init looked: its next boot looks again (cloud-init searches anew when its
        last boot had no datasource), and the CD is still in. Once; a second miss is an error."""
        assert isinstance(watch, ConsoleWatch)  # only a honeypot's own console says UNSEEDED
        if name in self.booted_again:
            raise GuestNotReady(name, waited, "cloud-init finished twice without its seed (Datasource "
                                "DataSourceNone): the guest does not see its NoCloud seed, the CD labelled "
                                f"cidata, when cloud-init looks for it (console log {watch.path})")
        self.booted_again.add(name)
        self.progress(f"guest {name}: cloud-init finished without its seed (its CD drive showed up too late); "
                      "resetting it once")
        watch.rearm()
        self.b.hv.reset_domain(naming.domain(self.hid, name))
        self.since[name] = time.monotonic()


def guest_probes(p: Plan, images: dict[str, BuiltImage]) -> dict[str, list[Probe]]:
    """The service probes of every honeypot, from its image's `services` metadata (images by guest name)."""
    return {g.name: probes_for(g.name, str(g.address), images[g.name].services)
            for g in p.honeypots if g.name in images}


def guest_image(topo: Topology, guest: Guest, images: dict[str, BuiltImage]) -> BuiltImage:
    """The image `guest` runs (images by image name), as it will boot and answer: a brought disk
    boots by BIOS and offers no service probes unless its honeypot in the topology says `boot:`
    and `services:`."""
    image = images[guest.image]
    if guest.role != "honeypot":
        return image
    pot = topo.honeypot(guest.name)
    if pot.boot:
        image = replace(image, boot=pot.boot)
    if pot.services:
        image = replace(image, services=tuple(Service(s.name, s.port, s.proto) for s in pot.services))
    return image


def check_firmware(images: dict[str, BuiltImage]) -> None:
    """Raise HostNotReady, naming the guest and the package, when a guest boots by UEFI on a host
    without OVMF, or asks for a TPM on one without swtpm: before anything of it is started."""
    for name, image in images.items():
        if image.boot == "uefi" and not (hardware.OVMF_CODE.is_file() and hardware.OVMF_VARS.is_file()):
            raise HostNotReady(f"guest {name} boots by UEFI: {hardware.OVMF_CODE} or {hardware.OVMF_VARS} is missing (apt-get install ovmf)")
        if image.tpm and not shutil.which("swtpm"):
            raise HostNotReady(f"guest {name} has a TPM: swtpm is missing (apt-get install swtpm swtpm-tools)")


def watch_role(guest: Guest, image: BuiltImage) -> str:
    """What a guest's console watch waits for: the gateway's mark, cloud-init's closing line, or,
    for a guest booting by UEFI (Windows: no cloud-init, nothing of ours on its console), only
    that it runs: its service probes say when it is ready."""
    return "service" if guest.role == "honeypot" and image.boot == "uefi" else guest.role


def probing(topo: Topology, p: Plan, b: Backends):
    """Where service probes run from for this honeynet (context manager; see probes.probe_source)."""
    return probe_source(topo.id, [o.name for o in topo.outside], b.net, p.bridge("ext").name, service_probe_address(topo))


# --- down ------------------------------------------------------------------


def down(hid: str, b: Backends, storage: Path = DEFAULT_STORAGE, progress: Progress = _quiet) -> dict:
    """Remove every resource of honeynet `hid`; keep its captures. Raises HoneynetNotFound, and
    InvalidName before touching anything when `hid` is not a honeynet id (an empty id would
    match the resources of every honeynet)."""
    run = RunDir(storage, hid)
    removed: dict[str, list[str]] = {"domains": [], "pools": [], "links": [], "netns": [], "nft": [], "dirs": []}
    guests, orphans = b.hv.honeynet_domains(hid)

    honeypots = [g for g in guests if g.role != "gateway"]
    with ThreadPoolExecutor(max_workers=max(1, len(guests) + len(orphans))) as pool:
        # first the honeypots' open login sessions are hung up (their typed keystrokes go out to the
        # log host in the gateway); then the honeypots go, in parallel with the gateway's capture flush
        hung_up = [pool.submit(sessions.hang_up, b.hv, g.domain) for g in honeypots if g.state == "running"]
        for job in hung_up:
            job.result()

        def remove_gateway(gateway: GuestInfo) -> None:
            if gateway.state == "running":
                _flush_capture(b, gateway.domain)  # before its qemu goes: captured data is never lost
            b.hv.remove_domain(gateway.domain)

        jobs = [pool.submit(remove_gateway, g) if g.role == "gateway" else pool.submit(b.hv.remove_domain, g.domain)
                for g in guests] + [pool.submit(b.hv.remove_domain, d) for d in orphans]
        for ns in b.net.netns(naming.netns_prefix(hid)):  # outside hosts need no domain gone
            b.net.delete_netns(ns)
            removed["netns"].append(ns)
        for job in jobs:
            job.result()
        removed["domains"] = [g.domain for g in guests] + orphans
        # with the domains gone: their disks, bridges and the host's rules for them, all at once
        pools = [n for n in b.hv.pools(naming.pool(hid)) if n == naming.pool(hid)]
        links = b.net.links(naming.link_prefix(hid))
        tables = [naming.nft_table(hid)] if naming.nft_table(hid) in b.fw.tables() else []
        jobs = [pool.submit(b.hv.remove_pool, n) for n in pools] + [pool.submit(b.net.delete_link, n) for n in links]
        jobs += [pool.submit(b.fw.remove, hid) for _ in tables]
        for job in jobs:
            job.result()
    removed |= {"pools": pools, "links": links, "nft": tables}
    capture = run.captures()
    b.capture.stop_followers(run)
    b.capture.release_share(capture.share)  # its virtiofsd is gone with the gateway
    if run.remove():
        removed["dirs"].append(str(run.path))
    if not any(removed.values()):
        raise HoneynetNotFound(hid)
    for kind, names in removed.items():
        if names:
            progress(f"removed {kind}: {', '.join(names)}")
    return {"id": hid, "removed": removed, "capture_dir": str(capture.root)}


def _flush_capture(b: Backends, domain: str) -> None:
    """Let the gateway's capture write its last packets before the domain is destroyed (best effort)."""
    try:
        if b.hv.agent_ready(domain, timeout=5):  # a gateway that does not answer costs the ping, not the flush
            b.hv.execute(domain, gateway_config.STOP_COMMAND, timeout=FLUSH_SECONDS)
    except Exception:  # a hung, dead or hostile gateway: what it wrote is on the host already
        pass


# --- status ----------------------------------------------------------------


def status(hid: str, b: Backends, storage: Path = DEFAULT_STORAGE) -> dict:
    """What runs of honeynet `hid`: guests with state and address, networks, capture folder."""
    run = RunDir(storage, hid)
    guests = b.hv.guests(hid)
    topo = run.topology()
    if not guests and topo is None:
        raise HoneynetNotFound(hid)
    out: dict = {
        "id": hid,
        "state": _overall(guests),
        "guests": [{"name": g.guest, "role": g.role, "image": g.image, "state": g.state,
                    "address": g.address, "domain": g.domain} for g in guests],
        "capture_dir": str(run.captures(topology=topo).root),
    }
    if topo is not None:
        p = plan(topo)
        nets = topo.networks
        cidrs = {"ext": nets.honeynet.cidr, "int": nets.honeynet.cidr, "adm": nets.admin.cidr}
        out["networks"] = {
            name: {"bridge": p.bridge(role).name, "cidr": str(cidrs[role]),
                   "present": b.net.link_exists(p.bridge(role).name)}
            for name, role in (("internet", "ext"), ("honeynet", "int"), ("admin", "adm"))
        }
        out["networks"]["admin"]["host_address"] = str(admin_addresses(topo)[0])
        out["networks"]["admin"]["gateway_address"] = str(admin_addresses(topo)[1])
        out["outside"] = [{"name": o.name, "address": str(o.address.ip), "netns": o.netns,
                           "present": o.netns in b.net.netns(o.netns)} for o in p.outside]
    return out


def _overall(guests: list) -> str:
    states = {g.state for g in guests}
    if not guests:
        return "partial"
    return "running" if states == {"running"} else "degraded"


def honeynets(b: Backends) -> list[str]:
    """Ids of every honeynet with a guest on this host."""
    return sorted({g.hid for g in b.hv.guests()})


def overview(b: Backends, storage: Path = DEFAULT_STORAGE) -> list[dict]:
    """Every honeynet on this host (with guests, a saved topology, or only kept warm states, as
    state "down"): state, guest count, subnets, kept warm states."""
    guests = b.hv.guests()
    saved = saved_topologies(storage)
    kept = WarmStore(storage).all()
    ids = sorted({g.hid for g in guests} | set(saved) | {k.hid for k in kept})
    rows = []
    for hid in ids:
        row = summary(hid, saved.get(hid), [g for g in guests if g.hid == hid])
        if hid not in saved and row["guests"] == 0:
            row["state"] = "down"
        row["warm_states"] = sorted(k.guest for k in kept if k.hid == hid)
        rows.append(row)
    return rows
