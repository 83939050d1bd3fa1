"""When is a guest ready? Watched on its serial console log, which the host keeps.

The gateway prints `vhn-gateway: ready` (or `failed`) when its start script ends, and before
that says when it waits for its capture share (`GatewayStart`); a honeypot is ready when
cloud-init prints its closing line, so nothing of ours shows inside a honeypot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vhoneynet.gateway.config.disk import FAILED_MARK, PARKED_MARK, READY_MARK

_CLOUD_INIT_DONE = re.compile(r"Cloud-init v\. \S+ finished at[^\r\n]*[\r\n]")  # the whole line
# cloud-init's closing line when it found no seed and fell back to its empty datasource: a seed
# CD whose driver loaded after cloud-init looked for it (a known race of slow boots)
_NO_SEED = "Datasource DataSourceNone"
UNSEEDED = "unseeded"
# systemd's line when the honeywall's start unit fails, e.g. killed at its start timeout (the
# script's own `failed` mark is never printed then); the unit's name may be cut short
_UNIT_FAILED = re.compile(r"Failed to start (?:\x1b\[[0-9;]*m)?vhn-gateway")
_PANIC = re.compile(r"(?<!end )Kernel panic - not syncing: [^\r\n\]]*")
MAX_PANICS = 3
MAX_READ = 1 << 20  # what one poll takes of a console: a guest may print without end


@dataclass
class ConsoleWatch:
    """Reads what a console log gained since the guest was started."""

    path: Path
    role: str
    offset: int = 0
    tail: str = ""
    panics: list[str] = field(default_factory=list)
    parked: bool = False  # the gateway said it waits for its capture share

    @classmethod
    def from_now(cls, path: Path, role: str) -> ConsoleWatch:
        return cls(path, role, path.stat().st_size if path.exists() else 0)

    def poll(self) -> str | None:
        """'ready', 'failed: …', UNSEEDED (a honeypot's cloud-init ran without its seed), or None
        while still booting."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(MAX_READ)
        except FileNotFoundError:
            return None
        self.offset += len(data)
        text = data.decode(errors="replace")
        self.parked = self.parked or (self.role == "gateway" and PARKED_MARK in self.tail[-len(PARKED_MARK):] + text)
        self.tail = (self.tail + text)[-4096:]
        for panic in _PANIC.finditer(text):
            # the guest restarts itself (panic=10 on its kernel command line); give up after a few
            self.panics.append(panic.group(0).strip())
            if len(self.panics) >= MAX_PANICS:
                return f"failed: kernel panicked {len(self.panics)} times, last: {self.panics[-1]} (console log {self.path})"
        if self.role == "gateway":
            if FAILED_MARK in self.tail:
                line = self.tail[self.tail.index(FAILED_MARK):].splitlines()[0]
                return f"failed: {line}"
            if _UNIT_FAILED.search(self.tail):
                return (f"failed: its start unit failed (systemd's start timeout on a busy host?); "
                        f"last line from the gateway: {self._last_mark()} (console log {self.path})")
            return "ready" if READY_MARK in self.tail else None
        if self.role == "service":  # a console with no mark of ours: its service probes decide
            return "ready"
        done = _CLOUD_INIT_DONE.search(self.tail)
        if done is None:
            return None
        return UNSEEDED if _NO_SEED in done.group(0) else "ready"

    def rearm(self) -> None:
        """Forget what was read so far: the guest boots again, and only its new lines count."""
        self.tail = ""

    def last_line(self) -> str:
        lines = [ln.strip() for ln in self.tail.splitlines() if ln.strip()]
        return lines[-1][-160:] if lines else "(no console output)"

    def _last_mark(self) -> str:
        marks = [ln.strip() for ln in self.tail.splitlines() if ln.strip().startswith("vhn-gateway: ")]
        return marks[-1][:160] if marks else "(none)"


@dataclass
class Restored:
    """A guest restored from its warm state: it was saved ready, so its console has nothing
    more to say; only its service probes are waited for."""

    panics: list[str] = field(default_factory=list)

    def poll(self) -> str:
        return "ready"

    def last_line(self) -> str:
        return "(restored from its warm state)"


@dataclass
class GatewayStart:
    """The gateway's start, on its console: once it says it waits for its capture share,
    `hand_over` is called, once (it may save the gateway's warm state first, then attaches the
    share), and the gateway goes on until ready. A gateway restored from its warm state waits
    there from the start; whoever restored it gave it its share (`handed`)."""

    console: ConsoleWatch
    hand_over: Callable[[], None]
    handed: bool = False

    @property
    def panics(self) -> list[str]:
        return self.console.panics

    def poll(self) -> str | None:
        verdict = self.console.poll()
        if verdict is None and self.console.parked and not self.handed:
            self.handed = True
            self.hand_over()
        return verdict

    def last_line(self) -> str:
        return self.console.last_line()
