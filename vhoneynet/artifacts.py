"""Every file `up` makes for a honeynet, rendered before anything is created.

`up` renders them all first (after the images it needs are built, whose paths the domains
name), then creates: bridges, host rules, the pool, each guest's overlay, its configuration
medium and its domain, from exactly these texts. `vhoneynet plan FILE --render DIR` writes the
same texts into DIR for review, and one golden test covers a whole honeynet's. Pure: reads the
topology, the plan and the built images, touches nothing.

A guest's configuration medium is how it learns who it is: the gateway's config disk (FAT), a
honeypot booted with our kernel gets its cloud-init seed appended to its initrd, a Windows one
an answer disk (FAT), and a brought disk a seed CD (ISO 9660).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vhoneynet import answerdisk, hostrules
from vhoneynet.gateway.config import disk as gateway_config
from vhoneynet.guestxml import domain_xml, share_xml
from vhoneynet.images import BuiltImage
from vhoneynet.plan import Guest, Plan
from vhoneynet.render import render
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.seed import SEED_LABEL, documents
from vhoneynet.topology.model import Topology

CONFIG_DISK, INITRD, ANSWER_DISK, SEED_CD = "config-disk", "initrd", "answer-disk", "seed-cd"


@dataclass(frozen=True)
class Medium:
    """A guest's configuration medium: its kind, where `up` writes it, its label and its files."""

    kind: str  # CONFIG_DISK | INITRD | ANSWER_DISK | SEED_CD
    path: Path
    label: str
    files: dict[str, str]
    size_kib: int = 0  # FAT media


@dataclass(frozen=True)
class GuestArtifacts:
    guest: Guest
    image: BuiltImage
    overlay: Path
    medium: Medium
    domain_xml: str
    share_xml: str | None = None  # the gateway's capture share, hot-plugged (guestxml.share_xml)


@dataclass(frozen=True)
class Artifacts:
    """The rendered files of one honeynet."""

    pool_xml: str
    host_rules: str
    guests: tuple[GuestArtifacts, ...]

    def guest(self, name: str) -> GuestArtifacts:
        return next(g for g in self.guests if g.guest.name == name)

    def texts(self) -> dict[str, str]:
        """Every text by a relative path: pool.xml, host-rules.nft, <guest>/domain.xml,
        <guest>/<medium kind>/<file> and gateway/share.xml."""
        out = {"pool.xml": self.pool_xml, "host-rules.nft": self.host_rules}
        for g in self.guests:
            out[f"{g.guest.name}/domain.xml"] = g.domain_xml
            if g.share_xml is not None:
                out[f"{g.guest.name}/share.xml"] = g.share_xml
            out |= {f"{g.guest.name}/{g.medium.kind}/{name}": text for name, text in g.medium.files.items()}
        return out

    def write(self, folder: Path) -> list[Path]:
        """Write texts() under `folder` (a file name that would leave it is refused: ValueError)."""
        written = []
        root = folder.resolve()
        for relative, text in sorted(self.texts().items()):
            path = (root / relative).resolve()
            if not path.is_relative_to(root):
                raise ValueError(f"{relative!r} would be written outside {folder}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
        return written


def render_all(topo: Topology, p: Plan, images: dict[str, BuiltImage], accel: str) -> Artifacts:
    """The files of the honeynet of `topo` (plan `p`, images by guest name, acceleration)."""
    run = RunDir.of(topo)
    capture = CaptureFolder.of(topo)
    guests = []
    for g in p.guests:
        image = images[g.name]
        medium = _medium(topo, p, g, image, run)
        overlay = run.disk(g.name)
        xml = domain_xml(topo, g, image, accel, overlay, medium.path, capture.console(g.name))
        share = share_xml(topo) if g.role == "gateway" else None
        guests.append(GuestArtifacts(g, image, overlay, medium, xml, share))
    return Artifacts(render("libvirt/pool.xml.j2", name=p.pool, path=run.disks), hostrules.for_plan(topo, p),
                     tuple(guests))


def _medium(topo: Topology, p: Plan, g: Guest, image: BuiltImage, run: RunDir) -> Medium:
    if g.role == "gateway":
        files = gateway_config.config_files(topo, p)
        return Medium(CONFIG_DISK, run.disks / gateway_config.CONFIG_DISK, gateway_config.CONFIG_LABEL, files,
                      gateway_config.config_disk_kib(files))
    pot = topo.honeypot(g.name)
    if image.boot == "kernel":  # booted by us: the seed travels with its initrd, no device carries it
        return Medium(INITRD, run.disks / f"{g.name}-initrd.img", "", documents(topo, pot))
    if image.boot == "uefi":  # Windows: no cloud-init, its answer disk says who it is
        return Medium(ANSWER_DISK, run.disks / f"{g.name}-answer.img", answerdisk.ANSWER_LABEL,
                      answerdisk.files(topo, pot), answerdisk.ANSWER_DISK_KIB)
    return Medium(SEED_CD, run.disks / f"{g.name}-seed.iso", SEED_LABEL, documents(topo, pot))
