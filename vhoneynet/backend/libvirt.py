"""The hypervisor backend: the only module that imports libvirt.

Domains and storage pools of a honeynet are found by name prefix and by the
`<vhn:honeynet id=…>` metadata element, never by a state file.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import libvirt
import libvirt_qemu

from vhoneynet import naming
from vhoneynet.errors import AgentUnavailable, HypervisorUnavailable, VhoneynetError

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions only

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "unknown",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting-down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut-off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}


_GONE = (libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_STORAGE_VOL, libvirt.VIR_ERR_OPERATION_INVALID,
         libvirt.VIR_ERR_NO_DOMAIN)


def _ignore_gone(call, *args) -> None:
    try:
        call(*args)
    except libvirt.libvirtError as e:
        if e.get_error_code() not in _GONE:
            raise


@dataclass(frozen=True)
class GuestInfo:
    """A honeynet guest as libvirt knows it."""

    domain: str
    hid: str
    guest: str
    role: str
    image: str
    address: str | None
    state: str


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


QEMU_CONF = Path("/etc/libvirt/qemu.conf")
QEMU_USER = "libvirt-qemu"  # Debian's build default when qemu.conf sets no `user`


def qemu_user(conf: Path = QEMU_CONF) -> str:
    """The user libvirt runs qemu processes as (qemu.conf `user = "…"`; "+0" is root)."""
    text = conf.read_text() if conf.is_file() else ""
    found = re.findall(r'^\s*user\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
    return found[-1] if found else QEMU_USER


def qemu_can_reach(path: Path) -> bool:
    """Whether qemu's user can get to `path` through its folders (the file itself libvirt hands
    over at start: dynamic ownership)."""
    user = qemu_user()
    if user in ("root", "+0", "0"):
        return True
    return subprocess.run(["test", "-e", str(path)], user=user.lstrip("+"), extra_groups=[], check=False,
                          capture_output=True).returncode == 0


class Hypervisor:
    """A libvirt connection, opened on first use."""

    def __init__(self, uri: str = "qemu:///system"):
        self.uri = uri
        self._conn: libvirt.virConnect | None = None

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is None:
            try:
                self._conn = libvirt.open(self.uri)
            except libvirt.libvirtError as e:
                raise HypervisorUnavailable(self.uri, e.get_error_message()) from None
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- domains -----------------------------------------------------------

    def start_domain(self, xml: str) -> None:
        """Define a persistent domain and start it."""
        self.boot_domain(self.conn.defineXML(xml).name())

    def guests(self, hid: str | None = None) -> list[GuestInfo]:
        """Every vhoneynet guest (of one honeynet when `hid` is given)."""
        found = [info for _, info in self._domains() if info is not None and (hid is None or info.hid == hid)]
        return sorted(found, key=lambda g: (g.hid, g.role != "gateway", g.guest))

    def _domains(self) -> list[tuple[str, GuestInfo | None]]:
        found = []
        for dom in self.conn.listAllDomains():
            try:
                found.append((dom.name(), _guest_info(dom)))
            except libvirt.libvirtError as e:  # removed while we looked
                if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return found

    def honeynet_domains(self, hid: str) -> tuple[list[GuestInfo], list[str]]:
        """The guests of honeynet `hid`, and the orphans: domains named like its guests but without
        readable metadata (e.g. a half-defined one). One listing of the host's domains."""
        found = self._domains()
        guests = [info for _, info in found if info is not None and info.hid == hid]
        orphans = [name for name, info in found if info is None and name.startswith(naming.domain_prefix(hid))]
        return sorted(guests, key=lambda g: (g.role != "gateway", g.guest)), orphans

    def remove_domain(self, name: str) -> None:
        """Stop (hard) and undefine a domain; gone already (or meanwhile) is fine."""
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        )
        try:
            dom = self.conn.lookupByName(name)
            if dom.isActive():
                _ignore_gone(dom.destroy)
            dom.undefineFlags(flags)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    def stop_domain(self, name: str) -> None:
        """Power a domain off hard (qemu killed); its definition stays. Already off is fine."""
        dom = self.conn.lookupByName(name)
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError:
            if dom.isActive():
                raise

    def boot_domain(self, name: str) -> None:
        """Start an already defined domain."""
        dom = self.conn.lookupByName(name)
        try:
            dom.create()
        except libvirt.libvirtError as e:
            raise VhoneynetError(f"starting {name} failed: {e.get_error_message()}") from None

    def pause_domain(self, name: str) -> None:
        """Stop the vCPUs; qemu flushes its disk caches, so the overlay file is consistent on disk."""
        self.conn.lookupByName(name).suspend()

    def resume_domain(self, name: str) -> None:
        self.conn.lookupByName(name).resume()

    def domain_pid(self, name: str) -> int | None:
        """The qemu process id of a running domain (from libvirt's pid file), or None."""
        try:
            return int(open(f"/run/libvirt/qemu/{name}.pid").read().strip())
        except (OSError, ValueError):
            return None

    def run_until_shutoff(self, xml: str, timeout: float) -> bool:
        """Start a transient domain and wait until it powers itself off; False (and destroyed) on timeout."""
        dom = self.conn.createXML(xml, 0)
        name = dom.name()
        deadline = time.monotonic() + timeout
        while self.domain_state(name) not in ("absent", "shut-off"):
            if time.monotonic() > deadline:
                self.stop_domain(name)
                return False
            time.sleep(5)
        return True

    def domain_state(self, name: str) -> str:
        try:
            state, _ = self.conn.lookupByName(name).state()
        except libvirt.libvirtError:
            return "absent"
        return _STATES.get(state, "unknown")

    def domain_xml(self, name: str) -> str:
        return self.conn.lookupByName(name).XMLDesc()

    # --- storage -----------------------------------------------------------

    def ensure_pool(self, xml: str, name: str) -> None:
        """Define, build and start a directory pool (idempotent)."""
        try:
            pool = self.conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            pool = self.conn.storagePoolDefineXML(xml)
            pool.build(0)
        if not pool.isActive():
            pool.create(0)

    def remove_pool(self, name: str) -> None:
        """Delete every volume, then the pool and its folder; absent is fine (also when a
        concurrent `down` removes parts of it first)."""
        try:
            pool = self.conn.storagePoolLookupByName(name)
            if not pool.isActive():
                pool.create(0)
            pool.refresh(0)
            for vol in pool.listAllVolumes():
                _ignore_gone(vol.delete, 0)
            _ignore_gone(pool.destroy)
            try:
                pool.delete(0)
            except libvirt.libvirtError:
                pass  # a folder with files libvirt did not make: the caller removes it
            pool.undefine()
        except libvirt.libvirtError as e:
            if e.get_error_code() not in _GONE and name in self.pools(name):
                raise  # still there: a real failure, not a concurrent removal

    def pools(self, prefix: str) -> list[str]:
        return [p.name() for p in self.conn.listAllStoragePools() if p.name().startswith(prefix)]

    # --- guest agent -------------------------------------------------------

    def agent(self, domain: str, command: str, arguments: dict | None = None, timeout: int = 10) -> object:
        """One qemu-guest-agent command; returns its `return` value."""
        try:
            dom = self.conn.lookupByName(domain)
            reply = libvirt_qemu.qemuAgentCommand(
                dom, json.dumps({"execute": command, "arguments": arguments or {}}), timeout, 0
            )
        except libvirt.libvirtError as e:
            raise AgentUnavailable(domain, e.get_error_message()) from None
        return json.loads(reply)["return"]

    def agent_ready(self, domain: str) -> bool:
        try:
            self.agent(domain, "guest-ping", timeout=2)
        except AgentUnavailable:
            return False
        return True

    def execute(self, domain: str, argv: list[str], stdin: bytes | None = None, timeout: float = 120) -> ExecResult:
        """Run argv in the guest through the agent and wait for it; output captured."""
        args: dict = {"path": argv[0], "arg": argv[1:], "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin).decode()
        pid = self.agent(domain, "guest-exec", args)["pid"]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            status = self.agent(domain, "guest-exec-status", {"pid": pid})
            if status["exited"]:  # type: ignore[index]
                break
            if time.monotonic() > deadline:
                raise AgentUnavailable(domain, f"{argv[0]} still running after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)  # a short command (the capture flush on `down`) is seen ending at once
        return ExecResult(
            exit_code=status.get("exitcode", 128 + status.get("signal", 0)),  # type: ignore[union-attr]
            stdout=base64.b64decode(status.get("out-data", "")),  # type: ignore[union-attr]
            stderr=base64.b64decode(status.get("err-data", "")),  # type: ignore[union-attr]
        )


def _guest_info(dom: libvirt.virDomain) -> GuestInfo | None:
    try:
        meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, naming.METADATA_NS)
    except libvirt.libvirtError:
        return None
    el = ET.fromstring(meta)
    state, _ = dom.state()
    return GuestInfo(
        domain=dom.name(),
        hid=el.get("id", ""),
        guest=el.get("guest", ""),
        role=el.get("role", ""),
        image=el.get("image", ""),
        address=el.get("address"),
        state=_STATES.get(state, "unknown"),
    )

