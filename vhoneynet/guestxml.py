"""The libvirt domain XML of a gateway or honeypot (pure: paths in, XML out)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vhoneynet import hardware, naming
from vhoneynet.gateway.config.disk import CAPTURE_TAG
from vhoneynet.hardware import OVMF_CODE, OVMF_VARS
from vhoneynet.images import BuiltImage
from vhoneynet.plan import Guest
from vhoneynet.render import render
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology.model import Topology

# panic=10: a guest whose kernel panics restarts itself (seen under TCG on a saturated host: a
# double fault while udev loaded modules at boot); no5lvl: 4-level paging, one page-table level
# less for TCG to walk than the 5 levels `cpu mode=maximum` offers.
KERNEL_CMDLINE = "root=/dev/{root} rw console=ttyS0,115200 net.ifnames=0 panic=10 no5lvl"
VIRTIOFSD_WRAPPER = "virtiofsd"  # in the run folder (host-only): virtiofsd with the share's hardening
TB_CACHE_MIB = 128  # TCG translation cache per guest (qemu defaults to 1 GiB)
ROOT_ALIAS, SEED_ALIAS = "ua-root", "ua-seed"  # libvirt's user aliases: qemu's device ids


@dataclass(frozen=True)
class Hardware:
    """The machine a guest is given: qemu's plain virtual one (i440FX, virtio), or, for a
    honeypot wearing a hardware profile, what a PC has (q35 with its ICH9 SATA, an Intel
    e1000e NIC, no virtio device at all)."""

    machine: str
    disk_bus: str
    root: str  # the root disk's device name in the guest
    nic_model: str


VIRTUAL = Hardware("pc", "virtio", "vda", "virtio")
PC = Hardware("q35", "sata", "sda", "e1000e")


def domain_xml(topo: Topology, guest: Guest, image: BuiltImage, accel: str, overlay: Path,
               config_disk: Path, console_log: Path) -> str:
    """Domain XML: the root overlay as the first disk, and `config_disk`: the gateway's config
    disk, read-only as vdb; a honeypot's initrd with its seed inside (image.boot `kernel`: we
    boot its kernel), its seed as a CD in its optical drive (`bios`: its own boot loader; taken
    out once it has booted: see `seed_drive`), or its answer disk (`uefi`: OVMF boots its own
    boot loader; vhoneynet/answerdisk.py). The gateway gets shared memory, which its capture
    share needs (`share_xml`: hot-plugged once it waits for it, so it can be saved before).

    A honeypot that boots by UEFI always gets PC hardware (q35, SATA, e1000e), hardware profile
    or not: it is Windows, which has no virtio drivers out of the box."""
    honeypot = guest.role == "honeypot"
    disguise = _disguise(topo, guest, optical=honeypot and image.boot == "bios")
    hw = PC if disguise or (honeypot and image.boot == "uefi") else VIRTUAL
    disks = [{"path": overlay, "format": "qcow2", "device": "disk", "dev": hw.root, "bus": hw.disk_bus,
              "readonly": False, "alias": ROOT_ALIAS}]
    if guest.role == "gateway":
        disks.append({"path": config_disk, "format": "raw", "device": "disk", "dev": "vdb", "bus": "virtio",
                      "readonly": True, "alias": None})
    elif image.boot == "bios":
        dev, bus = seed_drive(hw)
        disks.append({"path": config_disk, "format": "raw", "device": "cdrom", "dev": dev, "bus": bus,
                      "readonly": True, "alias": SEED_ALIAS})
    elif image.boot == "uefi":
        # writable for qemu: its SATA (ide-hd) disks cannot be read-only; a fresh copy every `up`
        disks.append({"path": config_disk, "format": "raw", "device": "disk", "dev": "sdb", "bus": "sata",
                      "readonly": False, "alias": None})
    uefi = None
    if honeypot and image.boot == "uefi":
        uefi = {"code": OVMF_CODE, "vars": OVMF_VARS, "nvram": RunDir.of(topo).nvram(guest.name), "tpm": image.tpm}
    return render(
        "libvirt/domain.xml.j2",
        name=guest.domain, hid=topo.id, guest=guest.name, role=guest.role, image=guest.image,
        address=guest.address, ns=naming.METADATA_NS, memory=guest.memory, vcpus=guest.vcpus,
        accel=accel, shared_memory=guest.role == "gateway", kernel=image.kernel if image.boot == "kernel" else None, uefi=uefi,
        initrd=config_disk if guest.role == "honeypot" else image.initrd,
        cmdline=KERNEL_CMDLINE.format(root=hw.root), disks=disks, nics=guest.nics,
        console_log=console_log, agent=guest.agent, agent_socket=naming.agent_socket(guest.domain),
        tb_cache_mib=TB_CACHE_MIB, machine=hw.machine, nic_model=hw.nic_model,
        disguise=disguise, cpu_type="host-x86_64-cpu" if accel == "kvm" else "max-x86_64-cpu",
    )


def share_xml(topo: Topology) -> str:
    """The gateway's capture share, a virtiofs device served by the run folder's virtiofsd wrapper
    (capture/share.py writes both before the gateway starts). Not in the domain XML: it is
    hot-plugged when the gateway waits for it, because qemu cannot save a guest with one
    (a save is a migration, and vhost-user-fs cannot migrate)."""
    return render("libvirt/share.xml.j2", binary=virtiofsd_wrapper(topo), source=capture_share(topo), tag=CAPTURE_TAG)


def seed_drive(hw: Hardware) -> tuple[str, str]:
    """A honeypot's optical drive (device name, bus): its seed CD is in it at every boot and
    taken out once cloud-init has read it (`Hypervisor.eject`), leaving an empty drive."""
    return ("sdb", "sata") if hw.disk_bus == "sata" else ("hdc", "ide")


def _disguise(topo: Topology, guest: Guest, optical: bool) -> dict | None:
    """The hardware profile a honeypot wears (see hardware.py), as the template takes it."""
    if guest.role != "honeypot":
        return None
    chosen = hardware.profile(topo.id, guest.name, topo.honeypot(guest.name).hardware)
    if chosen is None:
        return None
    cpu = chosen.cpu
    drives = chosen.drives(topo.id, guest.name)
    return {"name": chosen.name, "smbios": chosen.smbios(topo.id, guest.name),
            "tables": hardware.table_paths(topo.host.storage, chosen),
            "cpu": {"vendor": cpu.vendor, "model-id": cpu.model_id, "family": cpu.family,
                    "model": cpu.model, "stepping": cpu.stepping},
            "acpi": {"oem_id": chosen.acpi_oem[0], "oem_table_id": chosen.acpi_oem[1]},
            "drives": [{"alias": alias, "model": model, "firmware": firmware, "serial": serial}
                       for alias, (model, firmware, serial) in ((ROOT_ALIAS, drives["disk"]),
                                                                (SEED_ALIAS, drives["optical"]))[:1 + optical]]}


def capture_share(topo: Topology) -> Path:
    """The one host folder the gateway writes: `<capture_dir>/<id>/gateway`."""
    return CaptureFolder.of(topo).share


def virtiofsd_wrapper(topo: Topology) -> Path:
    """The script libvirt runs as the share's virtiofsd (the domain's `<binary path>`)."""
    return RunDir.of(topo).path / VIRTIOFSD_WRAPPER
