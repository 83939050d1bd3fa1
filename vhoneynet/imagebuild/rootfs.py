"""A Debian root tree under construction on the host, and the disk image made from it.

Nothing here mounts anything: packages are installed with plain chroot, and the disk is made
with `mkfs.ext4 -d`, which copies the tree into a new file system without a loop device.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vhoneynet.backend.process import run

CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
}
APT_INSTALL = [
    "apt-get", "install", "-y", "-q", "--no-install-recommends",
    "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
]
TAR_KEEP_EVERYTHING = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"]
# Refuses every service start requested by maintainer scripts while we build.
POLICY_RC_D = b"#!/bin/sh\nexit 101\n"
# A guest's files are made as Debian makes them, not under vhoneynet's own private umask: a
# resolv.conf or hosts file only root can read breaks name resolution for every other user
# (apt's _apt first of all) and is nothing an ordinary machine has.
GUEST_UMASK = 0o022
GUEST_FILE_MODE = 0o644


class RootTree:
    """A root file system in a host directory (the image's `/`)."""

    def __init__(self, path: Path):
        self.path = path

    def chroot(self, argv: list[str], stdin: bytes | None = None) -> str:
        return run(["chroot", self.path, *argv], stdin=stdin, env=CHROOT_ENV, umask=GUEST_UMASK)

    # --- how the tree starts ------------------------------------------------

    def debootstrap(self, suite: str, mirror: str, packages: Iterable[str], debs: Path) -> None:
        debs.mkdir(parents=True, exist_ok=True)
        argv = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}"]
        if packages:
            argv.append("--include=" + ",".join(packages))
        run([*argv, suite, self.path, mirror], env={**os.environ, "LC_ALL": "C"}, umask=GUEST_UMASK)

    def unpack(self, tarball: Path) -> None:
        self.path.mkdir(mode=0o755)
        run(["tar", "--extract", "--file", tarball, "--directory", self.path, *TAR_KEEP_EVERYTHING],
            umask=GUEST_UMASK)

    def pack(self, tarball: Path) -> None:
        run(["tar", "--create", "--file", tarball, "--directory", self.path,
             *TAR_KEEP_EVERYTHING, "."])

    # --- changing it ----------------------------------------------------------

    @contextmanager
    def building(self) -> Iterator[None]:
        """Give the chroot the host's name resolution (its resolvers and its hosts file: a host
        may name its mirror there) and forbid service starts, for the build only."""
        policy = self.path / "usr/sbin/policy-rc.d"
        resolv = self.path / "etc/resolv.conf"
        hosts = self.path / "etc/hosts"
        own_hosts = hosts.read_bytes() if hosts.is_file() and not hosts.is_symlink() else None
        policy.write_bytes(POLICY_RC_D)
        policy.chmod(0o755)
        for name in (resolv, hosts):
            name.unlink(missing_ok=True)
            shutil.copyfile(f"/etc/{name.name}", name)
            name.chmod(GUEST_FILE_MODE)
        try:
            yield
        finally:
            policy.unlink(missing_ok=True)
            # The host's resolvers and names must not end up in guests.
            resolv.unlink(missing_ok=True)
            resolv.write_bytes(b"")
            resolv.chmod(GUEST_FILE_MODE)
            if hosts.is_file() and hosts.read_bytes() == Path("/etc/hosts").read_bytes():  # not the recipe's own
                hosts.unlink()
                if own_hosts is not None:
                    hosts.write_bytes(own_hosts)
                    hosts.chmod(GUEST_FILE_MODE)

    def install(self, packages: Iterable[str], debs: Path) -> None:
        """apt-get install packages, reusing and filling the shared .deb cache."""
        archives = self.path / "var/cache/apt/archives"
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        debs.mkdir(parents=True, exist_ok=True)
        _share_debs(debs, archives)
        self.chroot(["apt-get", "update", "-q"])
        self.chroot([*APT_INSTALL, *packages])
        _share_debs(archives, debs)

    def copy_files(self, files: Path) -> None:
        # Owned by root in the image whoever checked out the repository; modes are kept.
        run(["cp", "--recursive", "--no-dereference", "--preserve=mode,timestamps",
             f"{files}/.", f"{self.path}/"])

    def run_setup(self, script: Path) -> None:
        self.chroot(["/bin/sh", "-s"], stdin=script.read_bytes())

    def finalize(self) -> None:
        """Remove what must not be shared by every guest made from this image."""
        self.chroot(["apt-get", "clean"])
        for lists in (self.path / "var/lib/apt/lists").glob("*"):
            if lists.is_file():
                lists.unlink()
        # Empty, not missing: systemd makes a fresh id on each guest's first boot.
        (self.path / "etc/machine-id").write_bytes(b"")
        (self.path / "etc/machine-id").chmod(0o444)  # as systemd leaves it
        (self.path / "var/lib/dbus/machine-id").unlink(missing_ok=True)
        # Every guest boots a fresh overlay: without these stamps systemd reruns ldconfig
        # and update-done (ConditionNeedsUpdate) on each boot, on the critical path under TCG.
        for stamp in ("etc/.updated", "var/.updated"):
            (self.path / stamp).write_bytes(b"")
            (self.path / stamp).chmod(GUEST_FILE_MODE)

    # --- reading it -----------------------------------------------------------

    def kernel(self) -> tuple[Path, Path]:
        """The newest (vmlinuz, initrd.img) pair under /boot."""
        kernels = sorted((self.path / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise FileNotFoundError("no /boot/vmlinuz-* in the root tree")
        version = kernels[-1].name.removeprefix("vmlinuz-")
        initrd = self.path / "boot" / f"initrd.img-{version}"
        if not initrd.exists():
            raise FileNotFoundError(f"no /boot/initrd.img-{version} in the root tree")
        return kernels[-1], initrd

    def package_versions(self, names: Iterable[str]) -> dict[str, str]:
        wanted = set(names)
        out = self.chroot(["dpkg-query", "-W", "-f", "${Package}\t${Version}\n"])
        versions = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {
            name: version
            for name, version in sorted(versions.items())
            if name in wanted or name.startswith("linux-image-")
        }

    # --- the disk -------------------------------------------------------------

    def make_disk(self, qcow2: Path, size: str, label: str) -> None:
        raw = qcow2.with_suffix(".raw")
        try:
            run(["mkfs.ext4", "-q", "-F", "-L", label, "-d", self.path, raw, size])
            run(["qemu-img", "convert", "-O", "qcow2", raw, qcow2])
        finally:
            raw.unlink(missing_ok=True)


def _share_debs(source: Path, target: Path) -> None:
    """Hard-link (or copy across file systems) the .deb files target lacks."""
    for deb in source.glob("*.deb"):
        dest = target / deb.name
        if dest.exists():
            continue
        try:
            os.link(deb, dest)
        except OSError:
            shutil.copy2(deb, dest)
