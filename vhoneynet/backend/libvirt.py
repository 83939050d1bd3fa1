"""The hypervisor backend: the only module that imports libvirt.

Domains and storage pools of a honeynet are found by name prefix and by the
`<vhn:honeynet id=…>` metadata element, never by a state file.
"""

from __future__ import annotations

import base64
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Annotated, cast

import libvirt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from vhoneynet import naming
from vhoneynet.backend import agent_channel
from vhoneynet.backend.agent_channel import AGENT_REPLY_MAX
from vhoneynet.backend.process import exit_code
from vhoneynet.backend.protocols import ExecResult, GuestInfo
from vhoneynet.errors import AgentUnavailable, HypervisorUnavailable, VhoneynetError
from vhoneynet.topology.model import DEFAULT_URI

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
    return exit_code(["test", "-e", path], user=user.lstrip("+"), timeout=30) == 0


class Hypervisor:
    """A libvirt connection, opened on first use."""

    def __init__(self, uri: str = DEFAULT_URI):
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
        """Stop (hard) and undefine a domain, and remove its agent port's socket and lock file;
        gone already (or meanwhile) is fine."""
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
        port = naming.agent_socket(name)
        for leftover in (port, Path(f"{port}.lock")):
            leftover.unlink(missing_ok=True)

    def stop_domain(self, name: str) -> None:
        """Power a domain off hard (qemu killed); its definition stays. Already off is fine."""
        dom = self.conn.lookupByName(name)
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError:
            if dom.isActive():
                raise

    def reset_domain(self, name: str) -> None:
        """Press a running domain's reset button: it boots again at once, in the same qemu, with
        the same media in its drives. Raises VhoneynetError."""
        try:
            self.conn.lookupByName(name).reset(0)
        except libvirt.libvirtError as e:
            raise VhoneynetError(f"resetting {name} failed: {e.get_error_message()}") from None

    def boot_domain(self, name: str) -> None:
        """Start an already defined domain."""
        dom = self.conn.lookupByName(name)
        _agent_sockets_folder()
        try:
            dom.create()
        except libvirt.libvirtError as e:
            raise VhoneynetError(f"starting {name} failed: {e.get_error_message()}") from None

    def save_domain(self, name: str, state: Path) -> None:
        """Write a running domain's memory and device state to the file `state` and stop it
        (virDomainSave: qemu is stopped with its disk caches flushed). Raises VhoneynetError."""
        try:
            self.conn.lookupByName(name).saveFlags(str(state), None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
        except libvirt.libvirtError as e:
            raise VhoneynetError(f"saving the state of {name} failed: {e.get_error_message()}") from None

    def eject(self, name: str) -> None:
        """Take the media out of every optical drive of a running domain; the drive stays, empty,
        as a PC's does. The persistent definition keeps the media: the next boot has it again.
        Raises VhoneynetError."""
        try:
            dom = self.conn.lookupByName(name)
            for drive in ET.fromstring(dom.XMLDesc(0)).findall("devices/disk[@device='cdrom']"):
                target = drive.find("target")
                if drive.find("source") is None or target is None:
                    continue
                empty = (f'<disk type="file" device="cdrom"><target dev="{target.get("dev")}" '
                         f'bus="{target.get("bus")}"/><readonly/></disk>')
                dom.updateDeviceFlags(empty, libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE)
        except libvirt.libvirtError as e:
            raise VhoneynetError(f"emptying the optical drive of {name} failed: {e.get_error_message()}") from None

    def attach_device(self, name: str, xml: str) -> None:
        """Hot-plug a device into a running domain, for this run of it only (its persistent
        definition stays without it, so it can still be saved). Raises VhoneynetError."""
        try:
            self.conn.lookupByName(name).attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as e:
            raise VhoneynetError(f"attaching a device to {name} failed: {e.get_error_message()}") from None

    def restore_domain(self, state: Path, xml: str | None = None) -> None:
        """Start the (defined, stopped) domain a state file was saved from, running from that
        moment on; the file stays, to be restored again. With `xml`, the domain is defined from
        it first, under the state's UUID (a honeynet brought up again from kept states).
        Raises VhoneynetError."""
        _agent_sockets_folder()
        defined = None
        try:
            if xml is not None:
                saved = ET.fromstring(self.conn.saveImageGetXMLDesc(str(state), 0))
                defined = self.conn.defineXML(with_uuid(xml, saved.findtext("uuid") or ""))
            self.conn.restoreFlags(str(state), None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
        except libvirt.libvirtError as e:
            if defined is not None:  # never started: the caller defines it afresh to boot it
                try:
                    defined.undefine()
                except libvirt.libvirtError:
                    pass
            raise VhoneynetError(f"restoring {state.name} failed: {e.get_error_message()}") from None

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

    def can_reach(self, path: Path) -> bool:
        """Whether qemu's user can get to `path` (see qemu_can_reach; this host's qemu.conf)."""
        return qemu_can_reach(path)

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

    def agent(self, domain: str, command: str, arguments: dict | None = None, timeout: float = 10) -> object:
        """One qemu-guest-agent command; returns its `return` value, checked against the reply
        shape of `command` (see `agent_reply`). The agent listens on the guest's serial port 1,
        whose unix socket the live domain XML names (see `agent_port`).

        The guest may be owned by an attacker, so anything but a well-formed reply in time
        (no such domain, no agent port, timeout, malformed reply) raises AgentUnavailable.
        """
        if command not in AGENT_REPLIES:
            raise ValueError(f"no reply shape known for agent command {command!r}")
        try:
            xml = self.conn.lookupByName(domain).XMLDesc(0)
        except libvirt.libvirtError as e:
            raise AgentUnavailable(domain, e.get_error_message()) from None
        reply = agent_channel.call(domain, agent_port(domain, xml), command, arguments or {}, timeout)
        return agent_reply(domain, command, reply)

    def agent_ready(self, domain: str, timeout: float = 2) -> bool:
        """Whether the guest's agent answers a ping correctly within `timeout` seconds."""
        try:
            self.agent(domain, "guest-ping", timeout=timeout)
        except AgentUnavailable:
            return False
        return True

    def execute(self, domain: str, argv: list[str], stdin: bytes | None = None, timeout: float = 120) -> ExecResult:
        """Run argv in the guest through the agent and wait for it, `timeout` seconds at most in
        all (every agent call included); output captured. Raises AgentUnavailable."""
        args: dict = {"path": argv[0], "arg": argv[1:], "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin).decode()
        deadline = time.monotonic() + timeout

        def left() -> float:  # each call may take what is left: a busy guest under TCG is slow to spawn
            return max(1.0, deadline - time.monotonic())

        started = cast(ExecStarted, self.agent(domain, "guest-exec", args, timeout=left()))
        delay = 0.02
        while True:
            status = cast(ExecStatus, self.agent(domain, "guest-exec-status", {"pid": started.pid}, timeout=left()))
            if status.exited:
                break
            if time.monotonic() > deadline:
                raise AgentUnavailable(domain, f"{argv[0]} still running after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)  # a short command (the capture flush on `down`) is seen ending at once
        return status.result(domain)


# --- agent replies -------------------------------------------------------------
# A guest's agent is attacker-controlled: every reply is parsed here, once, into a fixed shape.

EXEC_OUTPUT_MAX = 16 << 20  # bytes of stdout or stderr, decoded
_Base64 = Annotated[str, StringConstraints(max_length=EXEC_OUTPUT_MAX * 4 // 3 + 4)]


class _Reply(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, populate_by_name=True)


class Pong(_Reply):
    """guest-ping (and guest-set-time): an empty object."""


class ExecStarted(_Reply):
    """guest-exec: the pid of the started command."""

    pid: int = Field(ge=1, le=2**31 - 1)


class ExecStatus(_Reply):
    """guest-exec-status: whether the command ended, and how."""

    exited: bool
    exitcode: int | None = Field(None, ge=0, le=255)
    signal: int | None = Field(None, ge=0, le=127)
    out_data: _Base64 = Field("", alias="out-data")
    err_data: _Base64 = Field("", alias="err-data")
    out_truncated: bool = Field(False, alias="out-truncated")
    err_truncated: bool = Field(False, alias="err-truncated")

    def result(self, domain: str) -> ExecResult:
        """The ended command's exit code and output. Raises AgentUnavailable (bad base64)."""
        code = self.exitcode if self.exitcode is not None else 128 + (self.signal or 0)
        return ExecResult(code, _b64(domain, self.out_data), _b64(domain, self.err_data))


AGENT_REPLIES: dict[str, TypeAdapter] = {
    "guest-ping": TypeAdapter(Pong),
    "guest-set-time": TypeAdapter(Pong),
    "guest-get-time": TypeAdapter(Annotated[int, Field(strict=True, ge=0)]),  # ns since the epoch
    "guest-exec": TypeAdapter(ExecStarted),
    "guest-exec-status": TypeAdapter(ExecStatus),
    "guest-fsfreeze-freeze": TypeAdapter(Annotated[int, Field(strict=True, ge=0)]),  # file systems frozen
    "guest-fsfreeze-thaw": TypeAdapter(Annotated[int, Field(strict=True, ge=0)]),
}


def with_uuid(xml: str, uuid: str) -> str:
    """Domain XML `xml` (rendered: no UUID of its own) under UUID `uuid`: libvirt restores a
    state only into the domain it was saved from. Text, not a parse: ElementTree would rename
    the qemu namespace's prefix."""
    end = xml.index("</name>") + len("</name>")
    return f"{xml[:end]}\n  <uuid>{uuid}</uuid>{xml[end:]}"


def agent_reply(domain: str, command: str, reply: object) -> object:
    """The `return` value of an agent reply (JSON text), in the shape `command` answers with.

    Raises AgentUnavailable for anything else: not text, over AGENT_REPLY_MAX, not JSON (or
    nested past the parser's depth), not an object with `return`, a `return` of the wrong shape.
    The message names the problem, never the guest's text.
    """
    if not isinstance(reply, str):
        raise AgentUnavailable(domain, f"{command}: reply is not text")
    if len(reply) > AGENT_REPLY_MAX:
        raise AgentUnavailable(domain, f"{command}: reply of {len(reply)} characters, over {AGENT_REPLY_MAX}")
    try:
        doc = json.loads(reply)
    except (ValueError, RecursionError):
        raise AgentUnavailable(domain, f"{command}: reply is not JSON") from None
    if not isinstance(doc, dict) or "return" not in doc:
        raise AgentUnavailable(domain, f"{command}: reply is not an object with `return`")
    try:
        return AGENT_REPLIES[command].validate_python(doc["return"])
    except ValidationError as e:
        first = e.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "return"
        raise AgentUnavailable(domain, f"{command}: malformed reply ({where}: {first['type']})") from None
    except RecursionError:
        raise AgentUnavailable(domain, f"{command}: reply nested too deep") from None


def agent_port(domain: str, xml: str) -> Path:
    """The unix socket of the guest's agent in a domain's XML: the `source/@path` of its
    `<serial type="unix">` whose `target/@port` is 1 (COM2). Raises AgentUnavailable when there
    is none."""
    try:
        devices = ET.fromstring(xml).find("devices")
    except ET.ParseError:
        raise AgentUnavailable(domain, "its domain XML is unreadable") from None
    for serial in devices.iterfind("serial[@type='unix']") if devices is not None else ():
        source = serial.find("source[@path]")
        if serial.find("target[@port='1']") is not None and source is not None:
            return Path(source.get("path", ""))
    raise AgentUnavailable(domain, "its domain has no agent port (a unix socket on serial port 1)")


def _b64(domain: str, text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise AgentUnavailable(domain, "guest-exec-status: output is not base64") from None
    return data


def _agent_sockets_folder() -> None:
    """The folder qemu's agent sockets go in (host-only; /run is emptied by a host reboot)."""
    naming.AGENT_SOCKETS.mkdir(mode=0o700, parents=True, exist_ok=True)


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

