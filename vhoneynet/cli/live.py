"""Live progress on a terminal: the steps of image builds (state, seconds) and, while guests start,
a table of where each one is (state, seconds, last console line), redrawn in place; the progress
lines still print, above them.

The console line is written by the guest, so by whoever controls it: it goes through the
sanitiser (never markup, control characters escaped) and is cut to `CONSOLE_WIDTH` characters.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from vhoneynet.terminal import text

if TYPE_CHECKING:
    from vhoneynet.images import BuildStep
    from vhoneynet.lifecycle import GuestProgress

CONSOLE_WIDTH = 80
_STYLES = {"ready": "green", "done": "green", "failed": "bold red"}


def print_line(console: Console, message: str) -> None:
    """One progress line: the time, then `message` sanitised (its line breaks kept)."""
    console.print(text(time.strftime('%H:%M:%S'), "dim"), text(message, multiline=True), highlight=False,
                  soft_wrap=True)


def step_table(steps: dict[tuple[str, str], tuple[BuildStep, float]], now: float) -> Table:
    """One row per build step, in order: a running step's seconds count up from when it began
    (its monotonic time, the second of each pair)."""
    table = Table(box=None, pad_edge=False)
    for name in ("image", "step", "state", "s"):
        table.add_column(name, justify="right" if name == "s" else "left", no_wrap=True)
    for step, began in steps.values():
        seconds = now - began if step.state == "running" else step.seconds
        table.add_row(text(step.recipe), text(step.name), text(step.state, _STYLES.get(step.state, "yellow")),
                      text(f"{seconds:.0f}"))
    return table


def guest_table(rows: dict[str, GuestProgress]) -> Table:
    """One row per guest, in the order they were first reported."""
    table = Table(box=None, pad_edge=False)
    for name in ("guest", "state", "s", "console"):
        table.add_column(name, justify="right" if name == "s" else "left", no_wrap=True)
    for event in rows.values():
        line = event.console_line
        shown = line if len(line) <= CONSOLE_WIDTH else line[:CONSOLE_WIDTH - 1] + "…"
        table.add_row(text(event.guest), text(event.state, _STYLES.get(event.state, "yellow")),
                      text(f"{event.elapsed:.0f}"), text(shown, "dim"))
    return table


class LiveProgress:
    """A lifecycle progress callback (lines) that also takes image build steps (`step`) and guest
    updates (`guest`) and shows them live on `console` until `close`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.steps: dict[tuple[str, str], tuple[BuildStep, float]] = {}
        self.rows: dict[str, GuestProgress] = {}
        self._live: Live | None = None

    def __call__(self, message: str) -> None:
        print_line(self.console, message)

    def __rich__(self) -> Group:
        """What the live display shows at each refresh (so a running step's seconds count up)."""
        steps, rows = dict(self.steps), dict(self.rows)  # copies: the display refreshes from its own thread
        return Group(*([step_table(steps, time.monotonic())] if steps else []), *([guest_table(rows)] if rows else []))

    def step(self, step: BuildStep) -> None:
        began = self.steps.get((step.recipe, step.name), (step, time.monotonic()))[1]
        self.steps[(step.recipe, step.name)] = (step, began)
        self._refresh()

    def guest(self, event: GuestProgress) -> None:
        self.rows[event.guest] = event
        self._refresh()

    def _refresh(self) -> None:
        if self._live is None:  # started by the first update, so a command that has none prints lines only
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self._live.start()

    def close(self) -> None:
        """Stop redrawing; the last state stays on the terminal."""
        if self._live is not None:
            self._live.stop()
            self._live = None
