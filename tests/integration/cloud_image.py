"""A disk shaped like a cloud image a user downloads: an MBR, a FAT boot partition with syslinux,
a kernel and an initrd, and a root file system with cloud-init as partition 2. Made from a
built recipe, with no mounting and no network, so a test can bring it as `image: file:…`."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vhoneynet.images import BuiltImage

MBR_CODE = Path("/usr/lib/syslinux/mbr/mbr.bin")
SECTOR = 512
BOOT_START = 2048  # sectors: partition 1 at 1 MiB, as partitioning tools place it
BOOT_SECTORS = 64 * 2048  # 64 MiB
SYSLINUX_CFG = """DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=LABEL=rootfs rw console=ttyS0,115200 net.ifnames=0 panic=10 no5lvl
"""


@contextmanager
def disk_folder(prefix: str) -> Iterator[Path]:
    """A folder qemu's user can enter, as a user would keep a disk in; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder)


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _partition(status: int, kind: int, start: int, sectors: int) -> bytes:
    """One MBR partition entry, LBA only (CHS fields saturated, as for large disks)."""
    return struct.pack("<B3sB3sII", status, b"\xfe\xff\xff", kind, b"\xfe\xff\xff", start, sectors)


def make_cloud_disk(image: BuiltImage, out: Path) -> Path:
    """Write `out` (qcow2): boots by itself through SeaBIOS -> MBR -> syslinux -> the image's kernel."""
    with tempfile.TemporaryDirectory(prefix="vhn-cloud-", dir=out.parent) as tmp:
        root, disk, cfg = Path(tmp) / "root.raw", Path(tmp) / "disk.raw", Path(tmp) / "syslinux.cfg"
        _run("qemu-img", "convert", "-O", "raw", str(image.disk), str(root))
        root_start = BOOT_START + BOOT_SECTORS
        root_sectors = root.stat().st_size // SECTOR
        with open(disk, "wb") as f:
            f.truncate((root_start + root_sectors) * SECTOR)
            f.write(MBR_CODE.read_bytes()[:440])
            f.seek(446)
            f.write(_partition(0x80, 0x0E, BOOT_START, BOOT_SECTORS) + _partition(0, 0x83, root_start, root_sectors))
            f.write(b"\0" * 32 + b"\x55\xaa")
        offset = BOOT_START * SECTOR
        _run("mkfs.vfat", "-F", "16", "-n", "BOOT", "--offset", str(BOOT_START), str(disk), str(BOOT_SECTORS // 2))
        cfg.write_text(SYSLINUX_CFG)
        image_at = f"{disk}@@{offset}"  # mtools: the file system starts at this byte
        _run("mcopy", "-i", image_at, str(image.kernel), "::vmlinuz")
        _run("mcopy", "-i", image_at, str(image.initrd), "::initrd.img")
        _run("mcopy", "-i", image_at, str(cfg), "::syslinux.cfg")
        _run("syslinux", "--install", "--offset", str(offset), str(disk))
        _run("dd", f"if={root}", f"of={disk}", f"bs={SECTOR}", f"seek={root_start}", "conv=sparse,notrunc", "status=none")
        _run("qemu-img", "convert", "-O", "qcow2", str(disk), str(out))
    return out
