"""Live progress on a terminal: while guests start, a table of where each one is (state, seconds,
last console line), redrawn in place; the progress lines still print, above the table.

The console line is written by the guest, so by whoever controls it: it goes through the
sanitiser (never markup, control characters escaped) and is cut to `CONSOLE_WIDTH` characters.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

from vhoneynet.terminal import text

if TYPE_CHECKING:
    from vhoneynet.lifecycle import GuestProgress

CONSOLE_WIDTH = 80
_STYLES = {"ready": "green", "failed": "bold red"}


def print_line(console: Console, message: str) -> None:
    """One progress line: the time, then `message` sanitised (its line breaks kept)."""
    console.print(text(time.strftime('%H:%M:%S'), "dim"), text(message, multiline=True), highlight=False,
                  soft_wrap=True)


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
    """A lifecycle progress callback (lines) that also takes GuestProgress updates (`guest`) and
    keeps them as a live table on `console` until `close`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, GuestProgress] = {}
        self._live: Live | None = None

    def __call__(self, message: str) -> None:
        print_line(self.console, message)

    def guest(self, event: GuestProgress) -> None:
        self.rows[event.guest] = event
        if self._live is None:
            self._live = Live(guest_table(self.rows), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self._live.update(guest_table(self.rows))

    def close(self) -> None:
        """Stop redrawing; the table's last state stays on the terminal."""
        if self._live is not None:
            self._live.stop()
            self._live = None
