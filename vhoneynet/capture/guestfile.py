"""The only way host code reads files a guest wrote (the gateway's share).

Everything under a capture folder's `share` may have been planted by an intruder who owns the
gateway: symlinks to host files, fifos that block a reader forever, sockets, hard links, lines
of gigabytes. So a path is opened one component at a time from a directory file descriptor,
each directory with `O_NOFOLLOW|O_DIRECTORY`, the file itself with `O_NOFOLLOW|O_NONBLOCK` and
then checked with `fstat` to be a regular file: a symlink anywhere on the way is refused, and so
is anything that is not a directory or a regular file. (Python has no `openat2`; the walk from
descriptors gives what `RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS` would, since no component may be a
link and names with `/`, `..` or NUL are refused.) Files are read in bounded chunks, as lines
of bounded length, and nothing here ever writes.

A hard link to a host file cannot be told from a file the guest wrote: it is refused only when
the file has more than one link (`st_nlink > 1`), which also refuses a guest's own hard links.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 16
MAX_LINE = 1 << 20  # a longer line becomes one truncated record
MAX_ENTRIES = 10_000  # names listed of one folder: a gateway making millions of files gets no more
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


class GuestPathRefused(OSError):
    """A guest-written path that is not what the host reads: a link, not a regular file, a bad name."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _check_name(name: str, path: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise GuestPathRefused(path, f"name {name!r} refused")


@contextmanager
def open_dir(root: Path, *parts: str) -> Iterator[int]:
    """A descriptor of the directory `root/parts…`, reached without following any link under
    `root` (root itself is host-owned and opened without O_NOFOLLOW on its earlier components).
    Raises GuestPathRefused or FileNotFoundError."""
    fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)  # root is a host path: host links are the host's
    try:
        for i, name in enumerate(parts):
            _check_name(name, "/".join(parts[:i + 1]))
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise GuestPathRefused("/".join(parts[:i + 1]), "not a directory (or a link)") from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@dataclass(frozen=True)
class GuestFile:
    """An open regular file of the share: its descriptor and what fstat said when it was opened."""

    fd: int
    path: str
    size: int
    mtime: float
    inode: tuple[int, int]

    def read_at(self, offset: int, size: int) -> bytes:
        """At most `size` bytes from `offset` (fewer at the end of the file)."""
        return os.pread(self.fd, size, offset)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The file from its start, in chunks of at most `size`, up to the size it had when opened
        (a file still growing is read up to that point)."""
        offset = 0
        while offset < self.size:
            block = self.read_at(offset, min(size, self.size - offset))
            if not block:
                return
            offset += len(block)
            yield block

    def lines(self, offset: int = 0, max_line: int = MAX_LINE, budget: int | None = None) -> LineReader:
        """The complete lines from `offset` (see LineReader)."""
        return LineReader(self, offset, max_line, budget)


@contextmanager
def open_file(root: Path, *parts: str) -> Iterator[GuestFile]:
    """Open `root/parts…` for reading if it is a regular file reached without links.
    Raises GuestPathRefused (a link, fifo, socket, device, directory, hard link, bad name) or
    FileNotFoundError."""
    *folders, name = parts
    path = "/".join(parts)
    _check_name(name, path)
    with open_dir(root, *folders) as dir_fd:
        # Look before opening: opening a device or fifo can itself have effects. fstat below
        # checks again what was really opened, in case the name was swapped in between.
        if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise GuestPathRefused(path, "not a regular file")
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise GuestPathRefused(path, "a symbolic link") from None
            if e.errno in (errno.ENXIO, errno.EOPNOTSUPP):
                raise GuestPathRefused(path, "a socket or device") from None
            raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise GuestPathRefused(path, "not a regular file")
        if st.st_nlink > 1:
            raise GuestPathRefused(path, "a hard link")
        yield GuestFile(fd, path, st.st_size, st.st_mtime, (st.st_dev, st.st_ino))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Line:
    """One line read: `data` ends with b"\\n" unless `truncated` (then it is the first max_line bytes)."""

    start: int
    data: bytes
    truncated: bool = False


class LineReader:
    """Complete `\\n`-terminated lines of a file from `offset`, read in chunks; nothing else splits
    a line (not `\\r`, not Unicode separators). A line longer than `max_line` is given once, as its
    first `max_line` bytes with `truncated`, and the rest of it is skipped, over as many passes as
    it takes. A pass reads at most `budget` bytes. After iterating, `position` is where the next
    pass starts: past every line given and every byte skipped, before a line not yet complete.
    An offset inside a line (after a truncated one) first skips to the next line start."""

    def __init__(self, file: GuestFile, offset: int, max_line: int = MAX_LINE, budget: int | None = None):
        self.file, self.max_line = file, max_line
        self.budget = max(budget or 16 * max_line, max_line + CHUNK)  # room for one whole line
        self.position = offset

    def __iter__(self) -> Iterator[Line]:
        f, pos = self.file, self.position
        skipping = pos > 0 and f.read_at(pos - 1, 1) not in (b"\n", b"")
        pending, start, read = b"", pos, 0
        while read < self.budget:
            block = f.read_at(pos, CHUNK)
            if not block:
                break
            pos += len(block)
            read += len(block)
            if skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    self.position = pos
                    continue
                skipping, block = False, block[cut + 1:]
                start = self.position = pos - len(block)
            pending += block
            scan = 0
            while (cut := pending.find(b"\n", scan)) >= 0:
                line = pending[scan:cut + 1]
                if len(line) > self.max_line:
                    yield Line(start, line[:self.max_line], truncated=True)
                else:
                    yield Line(start, line)
                start += len(line)
                self.position = start
                scan = cut + 1
            pending = pending[scan:]
            if len(pending) >= self.max_line:  # no end in sight: give its head, skip the rest
                yield Line(start, pending[:self.max_line], truncated=True)
                start += len(pending)
                self.position = start
                pending, skipping = b"", True


def list_dirs(root: Path, *parts: str) -> list[str]:
    """Names of the real directories (no links) in `root/parts…`, sorted; [] when it is missing."""
    return _list(root, parts, lambda e: e.is_dir(follow_symlinks=False))


def list_files(root: Path, *parts: str) -> list[str]:
    """Names of the regular files (no links, fifos, sockets, devices) in `root/parts…`, sorted;
    [] when the folder is missing or is not a real directory."""
    return _list(root, parts, lambda e: e.is_file(follow_symlinks=False))


def _list(root: Path, parts: tuple[str, ...], keep) -> list[str]:
    try:
        with open_dir(root, *parts) as fd, os.scandir(fd) as entries:
            return sorted(e.name for e, _ in zip(filter(keep, entries), range(MAX_ENTRIES)))
    except (FileNotFoundError, NotADirectoryError, GuestPathRefused):
        return []
