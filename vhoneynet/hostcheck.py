"""What this host has and lacks, and which acceleration guests get.

`/dev/kvm` alone proves nothing: on some machines it exists while the CPU offers no
vmx/svm and every guest hangs under it. `auto` picks KVM only when both are there.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vhoneynet.errors import HostNotReady
from vhoneynet.topology.model import DEFAULT_URI

TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "virtiofsd": "qemu-system-common",
    "debootstrap": "debootstrap",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "genisoimage": "genisoimage",
    "nft": "nftables",
    "ip": "iproute2",
    "swtpm": "swtpm",  # the TPM 2.0 of a honeypot whose recipe asks for one (`tpm = true`)
    "swtpm_setup": "swtpm-tools",
}
_TOOL_PATHS = {"virtiofsd": "/usr/lib/qemu/virtiofsd"}


@dataclass(frozen=True)
class Finding:
    item: str
    ok: bool
    detail: str


def cpu_has_virtualization(cpuinfo: str) -> bool:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return "vmx" in flags or "svm" in flags
    return False


def kvm_usable(dev: Path = Path("/dev/kvm"), cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[bool, str]:
    """(usable, why) for hardware acceleration on this host."""
    if not dev.exists():
        return False, "/dev/kvm is missing"
    if not os.access(dev, os.R_OK | os.W_OK):
        return False, "/dev/kvm is not accessible"
    if not cpu_has_virtualization(cpuinfo.read_text()):
        return False, "/dev/kvm exists but the CPU shows no vmx/svm flag (nested virtualization off)"
    return True, "/dev/kvm and vmx/svm present"


def accel_for(wanted: str) -> str:
    """'kvm' or 'tcg' for a topology's `host.accel`. Raises HostNotReady for kvm without KVM."""
    usable, why = kvm_usable()
    if wanted == "kvm" and not usable:
        raise HostNotReady(f"host.accel is kvm but {why}; use accel: auto or tcg")
    if wanted == "tcg":
        return "tcg"
    return "kvm" if usable else "tcg"


def host_identity(accel: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """What a saved guest state depends on in this host: qemu's version, the acceleration and,
    under KVM (whose guests see the host's CPU), the CPU model. TCG emulates its own CPU."""
    try:
        qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
    except OSError:
        qemu = ""
    parts = [qemu.splitlines()[0] if qemu else "qemu unknown", accel]
    if accel == "kvm":
        parts += [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")][:1]
    return "; ".join(parts)


def findings(uri: str = DEFAULT_URI) -> list[Finding]:
    """Everything `vhoneynet host check` reports."""
    out = []
    for tool, package in TOOLS.items():
        path = _TOOL_PATHS.get(tool) or shutil.which(tool)
        ok = bool(path) and Path(path).exists()
        out.append(Finding(tool, ok, path if ok else f"missing (Debian package {package})"))
    usable, why = kvm_usable()
    out.append(Finding("acceleration", True, f"{'kvm' if usable else 'tcg'} ({why})"))
    out.append(_kvm_device_group())
    out.append(_memory_merging())
    out.append(_libvirt(uri))
    out.append(Finding("root", os.geteuid() == 0, "running as root" if os.geteuid() == 0 else "vhoneynet needs root"))
    return out


def _memory_merging(run: Path = Path("/sys/kernel/mm/ksm/run")) -> Finding:
    """Kernel same-page merging: many idle honeypots of one image share most of their memory
    with it on. Reported, never required: it costs the host a scanning thread's CPU."""
    try:
        on = run.read_text().strip() == "1"
    except OSError:
        return Finding("memory merging", True, "KSM absent from this kernel")
    return Finding("memory merging", True, "KSM on" if on else f"KSM off (echo 1 > {run} to share idle honeypots' pages)")


def _kvm_device_group(dev: Path = Path("/dev/kvm")) -> Finding:
    """libvirt re-probes qemu on every call when /dev/kvm exists but its qemu user cannot open it."""
    if not dev.exists():
        return Finding("/dev/kvm access", True, "no /dev/kvm")
    st = dev.stat()
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    ok = group == "kvm" and st.st_mode & 0o060 == 0o060
    detail = f"group {group}, mode {st.st_mode & 0o777:o}"
    return Finding("/dev/kvm access", ok, detail if ok else f"{detail}: run ./setup.sh (chgrp kvm, chmod 660)")


def _libvirt(uri: str) -> Finding:
    # Imported here: the libvirt binding is loaded only for this check.
    from vhoneynet.backend.libvirt import Hypervisor

    hv = Hypervisor(uri)
    try:
        version = hv.conn.getLibVersion()
    except HostNotReady as e:
        return Finding("libvirt", False, str(e))
    finally:
        hv.close()
    return Finding("libvirt", True, f"{uri}, libvirt {version // 1_000_000}.{version // 1000 % 1000}")
