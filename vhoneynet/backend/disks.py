"""Small disk files built on the host without mounting anything: config and seed disks, and
empty qcow2 overlays."""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vhoneynet.backend.process import run


def make_vfat(path: Path, label: str, files: dict[str, str], size_kib: int = 2048) -> None:
    """A FAT disk holding `files` (name -> text): the gateway's config disk, a Windows answer disk."""
    path.unlink(missing_ok=True)
    run(["mkfs.vfat", "-n", label, "-C", str(path), str(size_kib)])
    with _staged(files) as sources:
        run(["mcopy", "-o", "-i", str(path), *sources, "::"])
    path.chmod(0o644)


def make_iso(path: Path, label: str, files: dict[str, str]) -> None:
    """An ISO 9660 image (Rock Ridge and Joliet names) holding `files` (name -> text), with
    volume id `label`: a honeypot's NoCloud seed, as the CD in its optical drive."""
    path.unlink(missing_ok=True)
    with _staged(files) as sources:
        run(["genisoimage", "-quiet", "-output", str(path), "-volid", label, "-joliet", "-rock", *sources])
    path.chmod(0o644)


def write_initrd(path: Path, base: Path, folder: str, files: dict[str, str]) -> None:
    """`base` (an initrd) followed by an uncompressed cpio archive holding `folder/<name>` for
    each of `files`: the kernel unpacks both, one after the other, into its initramfs. Written
    to a temporary name and moved into place in one step, readable by qemu (0644)."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out, open(base, "rb") as initrd:
        while chunk := initrd.read(1 << 20):
            out.write(chunk)
        out.write(b"\0" * (-out.tell() % 4))  # an appended archive starts on a 4-byte boundary
        out.write(newc_archive(folder, {name: text.encode() for name, text in files.items()}))
    partial.chmod(0o644)
    os.replace(partial, path)


def newc_archive(folder: str, files: dict[str, bytes]) -> bytes:
    """A cpio archive in the "newc" format the kernel reads: `folder` (0700), its files (0600),
    owned by root, then the trailer."""
    entries = [(folder, 0o040700, b""), *((f"{folder}/{name}", 0o100600, data) for name, data in files.items())]
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1 if mode & 0o100000 else 2, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + encoded
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


@contextmanager
def _staged(files: dict[str, str]) -> Iterator[list[str]]:
    """`files` written to a temporary folder for a disk tool to copy; their paths, in order."""
    with tempfile.TemporaryDirectory(prefix="vhn-disk-") as tmp:
        sources = []
        for name, text in files.items():
            src = Path(tmp) / name
            src.write_text(text)
            sources.append(str(src))
        yield sources


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


QCOW2_MAGIC = b"QFI\xfb"
CLUSTER_BITS = 16  # 64 KiB clusters, qemu-img's default
BACKING_FORMAT_EXTENSION = 0xE2792ACA


def write_qcow2_overlay(path: Path, backing: Path) -> None:
    """An empty qcow2 (v3) overlay on top of the qcow2 or raw disk `backing`, as large as it,
    written in one go, atomically (replacing `path` if it exists): what `qemu-img create -f qcow2
    -b BACKING -F FORMAT` makes, without starting a process. Every guest read falls through to
    the backing disk until the guest writes.

    Layout, one 64 KiB cluster each: header + extensions + backing name, refcount table,
    refcount block, then the (all-zero, unallocated) L1 table.
    """
    cluster = 1 << CLUSTER_BITS
    name = str(backing).encode()
    size = virtual_size(backing)
    l1_entries = -(-size // (cluster * (cluster // 8)))  # one L2 table maps cluster/8 clusters
    l1_clusters = max(1, -(-l1_entries * 8 // cluster))
    clusters = 3 + l1_clusters
    fmt = disk_format(backing).encode()
    extensions = struct.pack(">II", BACKING_FORMAT_EXTENSION, len(fmt)) + fmt.ljust(8, b"\0") + struct.pack(">II", 0, 0)
    header_length = 104
    backing_offset = header_length + len(extensions)
    if backing_offset + len(name) > cluster:
        raise ValueError(f"backing file name too long for a qcow2 header: {backing}")
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        QCOW2_MAGIC, 3, backing_offset, len(name), CLUSTER_BITS, size, 0,  # no encryption
        l1_entries, 3 * cluster,  # L1 table
        cluster, 1,  # refcount table: one cluster
        0, 0,  # no snapshots
        0, 0, 0,  # no incompatible, compatible or autoclear features
        4, header_length,  # 16-bit refcounts
    )
    image = bytearray(clusters * cluster)
    image[:backing_offset + len(name)] = header + extensions + name
    struct.pack_into(">Q", image, cluster, 2 * cluster)  # refcount table -> refcount block
    struct.pack_into(f">{clusters}H", image, 2 * cluster, *[1] * clusters)  # every cluster used once
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(image)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def disk_format(path: Path) -> str:
    """'qcow2' for a qcow2 image, 'raw' for anything else (a plain disk)."""
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == QCOW2_MAGIC else "raw"


def virtual_size(path: Path) -> int:
    """The size a guest sees: from the qcow2 header (offset 24, big-endian u64), or the file's size."""
    with open(path, "rb") as f:
        header = f.read(32)
    if header[:4] != QCOW2_MAGIC:
        return path.stat().st_size
    return struct.unpack(">Q", header[24:32])[0]


def backing_file(path: Path) -> Path | None:
    """The backing file named in a qcow2 header (offsets 8 and 16); None for a standalone qcow2
    image or a raw disk."""
    with open(path, "rb") as f:
        header = f.read(20)
        if header[:4] != QCOW2_MAGIC:
            return None
        offset, size = struct.unpack(">QI", header[8:20])
        if offset == 0:
            return None
        f.seek(offset)
        name = f.read(size).decode()
    return (path.parent / name) if not name.startswith("/") else Path(name)
