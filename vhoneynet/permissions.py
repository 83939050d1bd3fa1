"""Who may read what vhoneynet writes.

Everything vhoneynet writes is private to root: the process runs with umask 077 from its
start (`private_process`, called by the CLI before any command runs), so run folders, saved
topologies (they hold the collector token), captures, the event store, exports and follower
logs are 0600 files in 0700 folders. Two exceptions, both explicit:

- folders qemu's user must pass through to reach its disks (the storage folder, the run
  folders) are 0711: others may traverse them, never list them; every file in them stays 0600;
- a capture folder whose topology names `gateway.capture.group` is 2750 with that group: the
  setgid bit gives the group to everything created inside, by the host or by the gateway's
  file share, and files the host creates for readers (the event store) are 0640.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vhoneynet.errors import CaptureGroupUnknown

PRIVATE_UMASK = 0o077
TRAVERSE = 0o711  # qemu's user walks through to its disks; nobody else may list
PRIVATE_FOLDER = 0o700
GROUP_FOLDER = 0o2750  # setgid: new files and folders inside inherit the group
GROUP_FILE = 0o640


def private_process() -> None:
    """Make every file this process creates from now on private to its owner (umask 077)."""
    os.umask(PRIVATE_UMASK)


@contextmanager
def private_files() -> Iterator[None]:
    """Umask 077 for the time of the block: what `private_process` gives the CLI, for a library
    call that must leave its caller's umask as it found it. The umask is the process's: threads
    running meanwhile create private files too."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def group_id(name: str) -> int:
    """The id of host group `name` (`gateway.capture.group`). Raises CaptureGroupUnknown."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise CaptureGroupUnknown(name) from None


def make_folder(path: Path, mode: int, gid: int | None = None) -> Path:
    """Create `path` (and missing parents, which get TRAVERSE) and give it `mode` and group `gid`,
    whatever the umask. Folders that exist above `path` are left as they are."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        if folder != path:
            folder.chmod(TRAVERSE)
    if gid is not None:
        os.chown(path, -1, gid)
    path.chmod(mode)  # after chown: a chown clears the setgid bit
    return path


def make_file(path: Path, mode: int) -> Path:
    """Create `path` empty with `mode` if it does not exist (whatever the umask); never follows
    a symlink there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return path
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return path
