"""Export of one captured day (tarball with a SHA-256 manifest) and retention of day folders.

Day folders are in the gateway's share, so both go through guestfile: export takes only real
folders and regular files (a link or fifo planted by the gateway is left out and named in the
result), and retention removes a day without following any link in it.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import tarfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from vhoneynet.capture import guestfile
from vhoneynet.capture.store import DAY
from vhoneynet.errors import DayNotCaptured
from vhoneynet.rundir import DERIVED, CaptureFolder

MANIFEST = "SHA256SUMS"
MAX_DEPTH = 3  # <day>/<kind>/<file>, with room for one more level
# Names that go into the tarball and the manifest (`sha256sum -c` reads one name per line):
# what rsyslog, Suricata and tcpdump write. Anything else is left out and reported.
_EXPORTED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")


def days(root: Path) -> list[str]:
    """The captured days in the share of a honeynet's capture folder `root`, oldest first."""
    return [d for d in guestfile.list_dirs(CaptureFolder(root).share) if DAY.fullmatch(d)]


def export(root: Path, hid: str, day: str, output: Path) -> dict:
    """Write `output` (tar.gz): the day's pcap, ids, firewall, syslog, audit and alerts from the
    share, the files derived from it on the host, the guests' consoles, and a manifest of SHA-256
    sums (`sha256sum -c` format). Raises DayNotCaptured."""
    if day not in days(root):
        raise DayNotCaptured(hid, day, days(root))
    skipped: list[str] = []
    members = _members(root, day, skipped)
    prefix = f"{hid}-{day}"
    sums = []
    with tarfile.open(output, "w:gz") as tar:
        for base, parts in members:
            arcname = "/".join(parts)
            try:
                digest = _add(tar, base, parts, f"{prefix}/{arcname}")
            except OSError as e:  # GuestPathRefused included
                skipped.append(f"{arcname}: {e}")
                continue
            sums.append(f"{digest}  {arcname}\n")
        manifest = "".join(sums).encode()
        info = tarfile.TarInfo(f"{prefix}/{MANIFEST}")
        info.size = len(manifest)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(manifest))
    return {"id": hid, "day": day, "output": str(output), "files": len(sums), "sha256": _sha256(output),
            "skipped": skipped}


def manifest(root: Path, day: str) -> dict:
    """The SHA-256 manifest of one captured day as `export` puts it in the tarball: every file of
    the day's share folder, what the host derived from it and the consoles, by the name it has in
    the tarball. Returns {"files": [{"name", "size", "sha256"}], "skipped": [...]}. Raises
    DayNotCaptured."""
    if day not in days(root):
        raise DayNotCaptured(CaptureFolder(root).hid, day, days(root))
    skipped: list[str] = []
    files = []
    for base, parts in _members(root, day, skipped):
        name = "/".join(parts)
        try:
            with guestfile.open_file(base, *parts) as f:
                reader = _Hashing(f)
                while reader.read(guestfile.CHUNK):
                    pass
                files.append({"name": name, "size": f.size, "sha256": reader.sha.hexdigest()})
        except OSError as e:  # GuestPathRefused included
            skipped.append(f"{name}: {e}")
    return {"files": files, "skipped": skipped}


def _members(root: Path, day: str, skipped: list[str]) -> list[tuple[Path, tuple[str, ...]]]:
    """(base folder, path parts) of every file exported with `day`; names left out go to `skipped`."""
    folder = CaptureFolder(root)
    members = [(folder.share, parts) for parts in _files(folder.share, (day,), skipped)]
    members += [(root, parts) for parts in _files(root, (DERIVED, day), skipped)]
    members += [(root, ("consoles", n)) for n in guestfile.list_files(folder.consoles) if n.endswith(".log")]
    return members


def _files(base: Path, parts: tuple[str, ...], skipped: list[str], depth: int = 0) -> Iterator[tuple[str, ...]]:
    """Regular files below `base/parts`, by real folders only, with names fit for the manifest."""
    for name in guestfile.list_files(base, *parts):
        if _EXPORTED_NAME.fullmatch(name):
            yield (*parts, name)
        else:
            skipped.append(f"{'/'.join(parts)}/{name!r}: name left out")
    if depth < MAX_DEPTH:
        for name in guestfile.list_dirs(base, *parts):
            if _EXPORTED_NAME.fullmatch(name):
                yield from _files(base, (*parts, name), skipped, depth + 1)


class _Hashing(io.RawIOBase):
    """Reads a GuestFile up to the size it had when opened, hashing what is read; a file that
    shrank meanwhile is padded with zeros so the tar member keeps its announced size (and the
    manifest says what the tarball holds)."""

    def __init__(self, file: guestfile.GuestFile):
        self.file, self.offset, self.sha = file, 0, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self.file.size - self.offset)
        if want <= 0:
            return 0
        block = self.file.read_at(self.offset, want) or bytes(want)
        buffer[:len(block)] = block
        self.offset += len(block)
        self.sha.update(block)
        return len(block)


def _add(tar: tarfile.TarFile, base: Path, parts: tuple[str, ...], arcname: str) -> str:
    with guestfile.open_file(base, *parts) as f:
        info = tarfile.TarInfo(arcname)
        info.size, info.mtime, info.mode = f.size, int(f.mtime), 0o640
        reader = _Hashing(f)
        tar.addfile(info, io.BufferedReader(reader, guestfile.CHUNK))
        return reader.sha.hexdigest()


def apply_retention(root: Path, retention_days: int, today: date | None = None) -> list[str]:
    """Remove the share's day folders older than `retention_days` (and what the host derived from
    them), never following a link; returns the days removed."""
    cutoff = ((today or date.today()) - timedelta(days=retention_days)).isoformat()
    folder = CaptureFolder(root)
    removed = [d for d in days(root) if d < cutoff]
    if removed:
        with guestfile.open_dir(folder.share) as share:
            for d in removed:
                # with dir_fd, rmtree walks by descriptors and refuses a top that became a link
                shutil.rmtree(d, dir_fd=share)
    for d in removed:
        if folder.derived(d).is_dir():
            shutil.rmtree(folder.derived(d))
    return removed


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
