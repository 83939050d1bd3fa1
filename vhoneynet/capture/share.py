"""The gateway's capture share on the host: the one folder a guest writes (see rundir.py).

Before the gateway starts (after `CaptureFolder.create` made it root's alone, or its group's),
`prepare` bind-mounts it onto itself `nosuid,nodev,noexec` (so a setuid file or device node the gateway leaves there means
nothing on the host) and writes the virtiofsd wrapper that libvirt runs for it (extra virtiofsd
options libvirt has no element for). `release` undoes the mount at `down`; the files stay.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from vhoneynet.backend.process import run
from vhoneynet.errors import CommandFailed
from vhoneynet.guestxml import capture_share, virtiofsd_wrapper
from vhoneynet.render import render
from vhoneynet.topology.model import Topology

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
# capabilities virtiofsd drops besides those it never keeps (see the wrapper's comment)
MODCAPS = "-mknod:-setfcap:-fsetid:-chown"
MOUNT_OPTIONS = "nosuid,nodev,noexec"


def wrapper_script(topo: Topology) -> str:
    return render("libvirt/virtiofsd.sh.j2", hid=topo.id, share=capture_share(topo), virtiofsd=VIRTIOFSD,
                  modcaps=MODCAPS)


def prepare(topo: Topology) -> Path:
    """Mount the share nosuid/nodev/noexec (made 0700 if it is missing), write the virtiofsd
    wrapper. Idempotent. Returns the share. Raises CommandFailed when the mount fails."""
    share = capture_share(topo)
    share.mkdir(mode=0o700, parents=True, exist_ok=True)  # CaptureFolder.create sets its mode and group
    if not is_mounted(share):
        run(["mount", "--bind", str(share), str(share)])
    run(["mount", "-o", f"remount,bind,{MOUNT_OPTIONS}", str(share)])
    wrapper = virtiofsd_wrapper(topo)
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(wrapper_script(topo))
    wrapper.chmod(0o700)
    return share


def release(share: Path, patience: float = 15) -> None:
    """Unmount the share's own mount, if it has one (the captured files stay). A process still
    closing its files there (a virtiofsd or follower on its way out) keeps it busy for a moment:
    that is waited for up to `patience` seconds, then the mount is detached lazily (it goes with
    its last user). Another `down` unmounting it at the same time is no error. Raises CommandFailed."""
    deadline = time.monotonic() + patience
    while is_mounted(share):  # `up` run twice over one share stacks two mounts
        lazy = ["--lazy"] if time.monotonic() > deadline else []
        try:
            run(["umount", *lazy, str(share)])
        except CommandFailed:
            if lazy and is_mounted(share):
                raise
            time.sleep(0.2)


def is_mounted(path: Path) -> bool:
    """Whether `path` is a mount point (a bind mount of a folder onto itself counts)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(_unescape(line.split()[4]) == target for line in f)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape") if "\\" in field else field
