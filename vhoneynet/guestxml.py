"""The libvirt domain XML of a gateway or honeypot (pure: paths in, XML out)."""

from __future__ import annotations

from pathlib import Path

from vhoneynet import hardware, naming
from vhoneynet.gateway.config.disk import CAPTURE_TAG
from vhoneynet.images import BuiltImage
from vhoneynet.plan import Guest
from vhoneynet.render import render
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology.model import Topology

# panic=10: a guest whose kernel panics restarts itself (seen under TCG on a saturated host: a
# double fault while udev loaded modules at boot); no5lvl: 4-level paging, one page-table level
# less for TCG to walk than the 5 levels `cpu mode=maximum` offers.
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 panic=10 no5lvl"
VIRTIOFSD_WRAPPER = "virtiofsd"  # in the run folder (host-only): virtiofsd with the share's hardening
TB_CACHE_MIB = 128  # TCG translation cache per guest (qemu defaults to 1 GiB)


def domain_xml(topo: Topology, guest: Guest, image: BuiltImage, accel: str, overlay: Path,
               config_disk: Path, console_log: Path) -> str:
    """Domain XML: root overlay as vda, the config/seed disk read-only as vdb; the gateway
    also gets its capture share over virtiofs (which needs shared memory), served by the
    run folder's virtiofsd wrapper (capture/share.py writes both before the gateway starts)."""
    disks = [
        {"path": overlay, "format": "qcow2", "dev": "vda", "readonly": False},
        {"path": config_disk, "format": "raw", "dev": "vdb", "readonly": True},
    ]
    filesystems = []
    if guest.role == "gateway":
        filesystems.append({"binary": virtiofsd_wrapper(topo), "source": capture_share(topo), "tag": CAPTURE_TAG})
    disguise = _disguise(topo, guest)
    return render(
        "libvirt/domain.xml.j2",
        name=guest.domain, hid=topo.id, guest=guest.name, role=guest.role, image=guest.image,
        address=guest.address, ns=naming.METADATA_NS, memory=guest.memory, vcpus=guest.vcpus,
        accel=accel, shared_memory=bool(filesystems), kernel=image.kernel, initrd=image.initrd,
        cmdline=KERNEL_CMDLINE, disks=disks, nics=guest.nics, filesystems=filesystems,
        console_log=console_log, agent=guest.agent, tb_cache_mib=TB_CACHE_MIB,
        disguise=disguise, cpu_type="host-x86_64-cpu" if accel == "kvm" else "max-x86_64-cpu",
    )


def _disguise(topo: Topology, guest: Guest) -> dict | None:
    """The hardware profile a honeypot wears (see hardware.py), as the template takes it."""
    if guest.role != "honeypot":
        return None
    chosen = hardware.profile(topo.id, guest.name, topo.honeypot(guest.name).hardware)
    if chosen is None:
        return None
    cpu = chosen.cpu
    return {"name": chosen.name, "smbios": chosen.smbios(topo.id, guest.name),
            "bios_table": hardware.bios_table_path(topo.host.storage, chosen),
            "cpu": {"vendor": cpu.vendor, "model-id": cpu.model_id, "family": cpu.family,
                    "model": cpu.model, "stepping": cpu.stepping}}


def capture_share(topo: Topology) -> Path:
    """The one host folder the gateway writes: `<capture_dir>/<id>/gateway`."""
    return CaptureFolder.of(topo).share


def virtiofsd_wrapper(topo: Topology) -> Path:
    """The script libvirt runs as the share's virtiofsd (the domain's `<binary path>`)."""
    return RunDir.of(topo).path / VIRTIOFSD_WRAPPER
