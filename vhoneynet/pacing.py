"""How many guests boot at once.

Under TCG a booting guest keeps a host core busy. Past a few per core, a guest's kernel is not
scheduled often enough in its first second: its timer check sees too few ticks ("IO-APIC + timer
doesn't work!") and it panics, again at every restart (40 honeypots started at once on 2 cores).
The guests beyond the limit wait their turn, in order; one whose console says it is up makes
room (probing its services costs the host nothing). An idle guest costs under 1 % of a core, so
the guests already up do not count. A guest restored from a warm state does not boot: it never
waits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

BOOTS_PER_CORE = {"tcg": 4, "kvm": 16}  # 8 + the gateway booted side by side on 2 TCG cores, 40 did not


def boot_slots(accel: str, cores: int | None = None) -> int:
    """How many guests may boot at once on this host under `accel` ("tcg" or "kvm")."""
    cores = cores or len(os.sched_getaffinity(0))
    return max(2, BOOTS_PER_CORE.get(accel, BOOTS_PER_CORE["tcg"]) * cores)


@dataclass
class BootQueue:
    """Guests whose boot waits for a slot: name → what starts it, in the order they start."""

    slots: int
    waiting: dict[str, Callable[[], None]] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.waiting

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def start(self, booting: int) -> list[str]:
        """Start the next guests while fewer than `slots` boot (`booting` do now); their names."""
        started = []
        while self.waiting and booting + len(started) < self.slots:
            name, start = next(iter(self.waiting.items()))
            del self.waiting[name]
            start()
            started.append(name)
        return started

    def start_all(self) -> None:
        """Start every waiting guest now, in order (nothing waits for them to be ready)."""
        waiting, self.waiting = self.waiting, {}
        for start in waiting.values():
            start()
