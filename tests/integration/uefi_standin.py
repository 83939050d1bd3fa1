"""A stand-in for a Windows disk: Linux that OVMF boots with no kernel of ours, and that reads the
honeypot's answer disk as the Windows image does (by volume label, config.json), so the UEFI
domain and the answer disk are tested to their boundary without a Windows ISO.

How it boots: an MBR with an EFI System Partition (FAT, type 0xEF) holding the image's kernel
(Debian's kernels are EFI stubs) and initrd, and startup.nsh. With no boot entry in its fresh
NVRAM and no \\EFI\\BOOT\\BOOTX64.EFI, OVMF falls through to its built-in shell, which runs
startup.nsh: the kernel, started by the shell, with its command line. A \\EFI\\BOOT\\BOOTX64.EFI
would need the command line built into the image (a unified kernel image: systemd's EFI stub,
not installed on the hosts we run on); the shell needs nothing more than OVMF.

How it reads its answer disk: the image's own root file system (partition 2, LABEL=rootfs) with
one script added, /usr/local/sbin/answer-disk, run as `init=`: it finds the FAT volume by its
label, applies the hostname, address, router and resolvers of config.json (a systemd-networkd
file, as the Windows task sets its adapter), makes the ssh host keys cloud-init would have made,
and hands over to systemd. cloud-init is off (`cloud-init=disabled`): no seed reaches this guest,
as none reaches a Windows honeypot.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.integration.cloud_image import (
    BOOT_SECTORS,
    BOOT_START,
    SECTOR,
    _partition,
    _run,
)
from vhoneynet.answerdisk import ANSWER_FILE, ANSWER_LABEL
from vhoneynet.images import ROOT_LABEL, BuiltImage

INIT = "/usr/local/sbin/answer-disk"
CMDLINE = f"initrd=\\initrd.img root=LABEL={ROOT_LABEL} rw console=ttyS0,115200 net.ifnames=0 panic=10 no5lvl " \
          f"cloud-init=disabled init={INIT}"
# fs0 is the first disk's ESP in OVMF's shell; the answer disk (a FAT volume too) comes after it
STARTUP_NSH = "".join(f"fs{n}:\r\nif exist \\vmlinuz.efi then\r\n  \\vmlinuz.efi {CMDLINE}\r\nendif\r\n" for n in (0, 1))
ANSWER_SCRIPT = f"""#!/bin/sh
# The stand-in's answer-disk reader: what the Windows image's boot task does, in Linux.
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev 2>/dev/null
modprobe vfat
dev=$(blkid -L {ANSWER_LABEL})
if [ -n "$dev" ] && mount -t vfat -o ro "$dev" /mnt; then
    python3 - /mnt/{ANSWER_FILE} <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
open("/etc/hostname", "w").write(c["hostname"] + "\\n")
with open("/etc/hosts", "a") as f:
    f.write(f"{{c['address']}}\\t{{c['hostname']}}.{{c['domain']}} {{c['hostname']}}\\n")
with open("/etc/systemd/network/05-answer.network", "w") as f:
    f.write(f"[Match]\\nMACAddress={{c['mac']}}\\n\\n[Network]\\nAddress={{c['address']}}/{{c['prefixlen']}}\\n"
            f"Gateway={{c['router']}}\\n" + "".join(f"DNS={{r}}\\n" for r in c["resolvers"]) +
            f"\\n[Neighbor]\\nAddress={{c['syslog']['host']}}\\nLinkLayerAddress={{c['syslog']['mac']}}\\n")
print(f"answer disk: hostname {{c['hostname']}}, address {{c['address']}}/{{c['prefixlen']}}, "
      f"syslog {{c['syslog']['host']}}:{{c['syslog']['port']}}/{{c['syslog']['proto']}}")
PY
    umount /mnt
else
    echo "answer disk: no FAT volume labelled {ANSWER_LABEL}"
fi
ssh-keygen -A >/dev/null 2>&1
ln -sf /lib/systemd/system/systemd-networkd.service /etc/systemd/system/multi-user.target.wants/systemd-networkd.service
exec /sbin/init "$@"
"""


def make_uefi_standin(image: BuiltImage, out: Path) -> Path:
    """Write `out` (qcow2): boots by itself through OVMF -> its shell -> startup.nsh -> the
    image's kernel (EFI stub), root on partition 2, init the answer-disk reader. `image` is a
    built recipe with a kernel (linux-ssh in the tests)."""
    with tempfile.TemporaryDirectory(prefix="vhn-uefi-", dir=out.parent) as tmp:
        work = Path(tmp)
        root, disk = work / "root.raw", work / "disk.raw"
        _run("qemu-img", "convert", "-O", "raw", str(image.disk), str(root))
        _add_answer_reader(root, work)
        root_start = BOOT_START + BOOT_SECTORS
        root_sectors = root.stat().st_size // SECTOR
        with open(disk, "wb") as f:
            f.truncate((root_start + root_sectors) * SECTOR)
            f.seek(446)
            f.write(_partition(0, 0xEF, BOOT_START, BOOT_SECTORS) + _partition(0, 0x83, root_start, root_sectors))
            f.write(b"\0" * 32 + b"\x55\xaa")
        _run("mkfs.vfat", "-F", "16", "-n", "ESP", "--offset", str(BOOT_START), str(disk), str(BOOT_SECTORS // 2))
        (work / "startup.nsh").write_text(STARTUP_NSH)
        esp = f"{disk}@@{BOOT_START * SECTOR}"  # mtools: the file system starts at this byte
        for source, name in ((image.kernel, "vmlinuz.efi"), (image.initrd, "initrd.img"), (work / "startup.nsh", "startup.nsh")):
            _run("mcopy", "-i", esp, str(source), f"::{name}")
        _run("dd", f"if={root}", f"of={disk}", f"bs={SECTOR}", f"seek={root_start}", "conv=sparse,notrunc", "status=none")
        _run("qemu-img", "convert", "-O", "qcow2", str(disk), str(out))
    return out


def _add_answer_reader(root: Path, work: Path) -> None:
    """Put the answer-disk reader into the ext4 root file system, without mounting it."""
    script = work / "answer-disk"
    script.write_text(ANSWER_SCRIPT)
    commands = work / "debugfs.cmd"
    commands.write_text(f"cd /usr/local/sbin\nwrite {script} answer-disk\n"
                        "sif answer-disk mode 0100755\nsif answer-disk uid 0\nsif answer-disk gid 0\n")
    done = subprocess.run(["debugfs", "-w", "-f", str(commands), str(root)], capture_output=True, text=True, check=True)
    if "rror" in done.stderr:
        raise RuntimeError(f"debugfs: {done.stderr}")
