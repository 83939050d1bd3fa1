"""The Python API: a honeynet on this host as an object, for scripts and CI tests.

    from vhoneynet import Honeynet

    with Honeynet.up("topologies/demo.yml") as hn:      # down at the end; captures kept
        assert hn.exec("web", ["hostname"]).stdout == b"web\\n"
        assert hn.verify()["ok"]

Each method calls the functions the `vhoneynet` command calls (lifecycle, labs, gateway,
capture), with the same arguments and the same errors (VhoneynetError subclasses, see
vhoneynet.errors): what works on the command line works here, and fails the same way.
Progress goes to the `vhoneynet` logger at INFO level unless a `progress` callable is given.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Self

from vhoneynet import labs, lifecycle, naming, tells
from vhoneynet.backends import Backends, execute
from vhoneynet.capture import session
from vhoneynet.gateway.live import alerts as gateway_alerts
from vhoneynet.gateway.live import stealth as gateway_stealth
from vhoneynet.gateway.live import verify as gateway_verify
from vhoneynet.permissions import private_files
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology import Topology, load_with_recipes
from vhoneynet.topology.model import DEFAULT_STORAGE, DEFAULT_URI

log = logging.getLogger("vhoneynet")
Progress = Callable[[str], None]


def _private(method):
    """Run a method under umask 077, as the CLI runs: what it writes is root's alone."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with private_files():
            return method(*args, **kwargs)

    return wrapper


class Honeynet:
    """One honeynet on this host, by id: `Honeynet.up(topology)` brings a new one up,
    `Honeynet.attach(hid)` takes one that runs. As a context manager it is brought down
    at the end of the block (its captures stay)."""

    def __init__(self, hid: str, uri: str = DEFAULT_URI, storage: Path | str = DEFAULT_STORAGE,
                 progress: Progress | None = None):
        """A handle on honeynet `hid`; nothing is checked or touched (see `attach`). Raises InvalidName."""
        self.hid = naming.checked("id", hid)
        self.uri = uri
        self.storage = Path(storage)
        self.progress: Progress = progress or log.info
        self.up_status: dict | None = None  # what `up` returned: status, timings, up_seconds
        self._backends: Backends | None = None

    def __repr__(self) -> str:
        return f"Honeynet({self.hid!r}, uri={self.uri!r}, storage={str(self.storage)!r})"

    @property
    def backends(self) -> Backends:
        """The host's backends for this honeynet's libvirt URI (connected on first use)."""
        if self._backends is None:
            self._backends = Backends.for_host(self.uri)
        return self._backends

    # --- life ----------------------------------------------------------------

    @classmethod
    @_private
    def up(cls, topology: Path | str | Topology, *, uri: str | None = None, storage: Path | str | None = None,
           probe: bool = True, timeout: float = 900, keep_on_failure: bool = False, warm_state: bool = True,
           warm_start: bool = True, progress: Progress | None = None) -> Honeynet:
        """Bring up the honeynet of `topology` (a file, or a Topology) and return once every guest
        is ready (with `probe`, once every honeypot's services answer from the internet side).
        `uri` and `storage` replace the topology's `host.uri` and `host.storage` when given.
        On failure what was created is removed (captures kept) unless `keep_on_failure`.
        `warm_state` saves (and keeps) each honeypot once ready; `warm_start` restores a honeypot
        from the state an earlier `up` of the same topology, image and host kept (docs/labs.md).

        Raises TopologySyntaxError, TopologyInvalid, HoneynetExists, ResourceConflict,
        ImageBuildFailed, GuestNotReady, ….
        """
        topo = topology if isinstance(topology, Topology) else load_with_recipes(Path(topology))
        host = {k: v for k, v in (("uri", uri), ("storage", Path(storage) if storage else None)) if v is not None}
        if host:
            topo = topo.model_copy(update={"host": topo.host.model_copy(update=host)})
        hn = cls(topo.id, topo.host.uri, topo.host.storage, progress)
        started = time.monotonic()
        hn.up_status = lifecycle.up_or_undo(topo, hn.backends, progress=hn.progress, timeout=timeout,
                                            probe=probe, keep_on_failure=keep_on_failure, warm_state=warm_state,
                                            warm_start=warm_start)
        hn.up_status["up_seconds"] = round(time.monotonic() - started, 1)
        return hn

    @classmethod
    def attach(cls, hid: str, uri: str = DEFAULT_URI, storage: Path | str = DEFAULT_STORAGE,
               progress: Progress | None = None) -> Honeynet:
        """The honeynet `hid` that is on this host. Raises InvalidName, HoneynetNotFound."""
        hn = cls(hid, uri, storage, progress)
        hn.status()
        return hn

    @_private
    def down(self) -> dict:
        """Remove every resource of the honeynet; its captures are kept. Raises HoneynetNotFound."""
        return lifecycle.down(self.hid, self.backends, self.storage, progress=self.progress)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.down()

    # --- what runs -------------------------------------------------------------

    def status(self) -> dict:
        """Its guests (state, address), networks and capture folder, as `vhoneynet status --json`.
        Raises HoneynetNotFound."""
        return lifecycle.status(self.hid, self.backends, self.storage)

    @property
    def topology(self) -> Topology:
        """The topology it was brought up with (and live changes since). Raises HoneynetNotFound."""
        return RunDir(self.storage, self.hid).saved()

    @property
    def capture_dir(self) -> Path:
        """Its capture folder (`<capture directory>/<id>`)."""
        return RunDir(self.storage, self.hid).captures().root

    def exec(self, guest: str, argv: Sequence[str], stdin: bytes | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run `argv` in a guest (through its agent) or on an outside host; its exit code, stdout
        and stderr (bytes) come back whatever the code. Raises InvalidName, GuestNotFound,
        AgentUnavailable (also when the command outlives `timeout`)."""
        if isinstance(argv, str):
            raise TypeError("argv is a list of arguments, not a command line")
        result = execute(self.hid, guest, list(argv), self.backends, stdin=stdin, timeout=timeout)
        return subprocess.CompletedProcess(list(argv), result.exit_code, result.stdout, result.stderr)

    # --- what was captured -----------------------------------------------------

    @_private
    def events(self, types: str | Iterable[str] = (), since: str | None = None, honeypot: str | None = None,
               limit: int | None = None) -> list[dict]:
        """Captured events, oldest first, as `vhoneynet events --json` prints them: the captured
        logs are ingested (and shipped to the topology's collector) first. `since` is an ISO time
        or an age (15m, 2h, 7d). Raises CaptureNotFound, BadTimeSpec, InvalidName."""
        if honeypot is not None:
            naming.checked("guest", honeypot)
        wanted = [types] if isinstance(types, str) else list(types)
        captures = session.locate(self.hid, self.storage)
        with captures.store() as store:
            result = session.refresh(captures, store)
            if result["ship_error"]:
                log.warning("%s (events stay spooled)", result["ship_error"])
            return store.query(types=wanted, since=session.since_time(since) if since else None,
                               honeypot=honeypot, limit=limit)

    def alerts(self) -> list[dict]:
        """The data-control alerts (compromise, limit reached) the gateway wrote. Raises HoneynetNotFound."""
        return gateway_alerts.read_all(CaptureFolder.of(self.topology).root)

    # --- checks and labs ---------------------------------------------------------

    @_private
    def verify(self, stealth: bool = False, stealth_only: bool = False) -> dict:
        """Prove every data-control layer (and with `stealth`, look for what gives the honeypots
        away from inside, and the gateway on the wire: the last result, named "gateway"), as
        `vhoneynet verify --json`: {"id", "ok", "layers", ["stealth"]}. A failed layer is
        `ok: False`, not an exception. Raises VerifyUnavailable, DataControlFailed, HoneynetNotFound."""
        results = [] if stealth_only else gateway_verify.verify(self.hid, self.backends, self.storage)
        looks = None
        if stealth or stealth_only:
            topo, b = self.topology, self.backends
            looks = [*tells.look(topo, b), gateway_stealth.look_at_gateway(topo, b)]
        failed = any(r.verdict == "fail" for r in [*results, *(looks or [])])
        report: dict = {"id": self.hid, "ok": not failed, "layers": gateway_verify.as_dicts(results)}
        if looks is not None:
            report["stealth"] = [look.as_dict() for look in looks]
        return report

    @_private
    def reset(self, guests: Sequence[str] | None = None, to: str | None = None, timeout: float = 900,
              probe: bool = True, cold: bool = False) -> dict:
        """Put honeypots (default: all) back to pristine (restored from their warm state unless
        `cold`), or to checkpoint `to`, and wait until they are ready; the gateway and the captures
        stay. Raises GuestNotFound, CheckpointNotFound, GuestNotReady, InvalidName."""
        for name in guests or []:
            naming.checked("guest", name)
        return labs.reset(self.hid, self.backends, list(guests) if guests else None, to, self.storage,
                          progress=self.progress, timeout=timeout, probe=probe, warm_start=not cold)

    @_private
    def checkpoint(self, name: str, guests: Sequence[str] | None = None, memory: bool = False) -> dict:
        """Save honeypots' disks (default: all; with `memory`, their memory too) as checkpoint
        `name` (`reset(to=name)` restores it). Raises CheckpointExists, GuestNotFound, InvalidName."""
        for guest in guests or []:
            naming.checked("guest", guest)
        return labs.checkpoint(self.hid, name, self.backends, list(guests) if guests else None, self.storage,
                               progress=self.progress, memory=memory)

    def checkpoints(self) -> list[dict]:
        """The checkpoints saved so far: name, created, guests."""
        return labs.checkpoints(self.hid, self.storage)
