"""Small disk files built on the host without mounting anything: config and seed disks."""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

from vhoneynet.backend.process import run


def make_vfat(path: Path, label: str, files: dict[str, str], size_kib: int = 2048) -> None:
    """A FAT disk holding `files` (name -> text): a NoCloud seed (label CIDATA) or a config disk."""
    path.unlink(missing_ok=True)
    run(["mkfs.vfat", "-n", label, "-C", str(path), str(size_kib)])
    with tempfile.TemporaryDirectory(prefix="vhn-disk-") as tmp:
        sources = []
        for name, text in files.items():
            src = Path(tmp) / name
            src.write_text(text)
            sources.append(str(src))
        run(["mcopy", "-o", "-i", str(path), *sources, "::"])
    path.chmod(0o644)


def rewrite_vfat(path: Path, label: str, files: dict[str, str]) -> None:
    """Replace the files of an existing FAT disk in place (same file, same size).

    A guest that has the disk attached keeps its file handle and reads the new files at its
    next boot; the gateway copies its config disk to a tmpfs at boot and never reads it again.
    """
    with tempfile.TemporaryDirectory(prefix="vhn-disk-") as tmp:
        fresh = Path(tmp) / "disk.img"
        make_vfat(fresh, label, files, path.stat().st_size // 1024)
        with open(path, "r+b") as disk:
            disk.write(fresh.read_bytes())
            disk.flush()
            os.fsync(disk.fileno())


def qcow2_virtual_size(path: Path) -> int:
    """The virtual size in bytes, from the qcow2 header (offset 24, big-endian u64)."""
    with open(path, "rb") as f:
        header = f.read(32)
    if header[:4] != b"QFI\xfb":
        raise ValueError(f"{path} is not a qcow2 image")
    return struct.unpack(">Q", header[24:32])[0]


def qcow2_backing_file(path: Path) -> Path | None:
    """The backing file named in a qcow2 header (offsets 8 and 16), or None for a standalone image."""
    with open(path, "rb") as f:
        header = f.read(20)
        if header[:4] != b"QFI\xfb":
            raise ValueError(f"{path} is not a qcow2 image")
        offset, size = struct.unpack(">QI", header[8:20])
        if offset == 0:
            return None
        f.seek(offset)
        name = f.read(size).decode()
    return (path.parent / name) if not name.startswith("/") else Path(name)
