"""What reaches the operator's terminal: the one sanitiser of text that came from a guest, a
network client or a file.

Captured records carry whatever an intruder sent (an HTTP host, a TLS SNI, a DNS name, a syslog
line), and a terminal obeys what it prints: ESC and CSI (`\\x9b`) sequences retitle the window,
clear the screen, move the cursor over earlier lines, or on some terminals answer back into the
shell; `\\r` and `\\n` let a record overwrite or forge the lines around it; bidirectional
overrides make text read differently than it is stored. So every such text goes through `safe`,
which writes each of those characters as a visible escape (`\\x1b`, `\\x9b`, `\\r`, `\\u202e`).

Decisions: `\\t` and `\\n` are escaped too (`\\t`, `\\n`), because output here is one record per
line and columns; a message that is several lines on purpose (an error listing problems) is
shown with `multiline=True`, which keeps `\\n` only. A backslash stays as it is: the escapes are
for reading, not for decoding back (`--json` gives the exact text).

The second half is rich markup: data is never parsed as markup. `text` gives a rich Text (no
markup, no emoji codes), and `markup` fills a markup template whose fields are escaped both ways.
"""

from __future__ import annotations

import re
import string

from rich.markup import escape
from rich.text import Text

# C0 controls, DEL, C1 controls (CSI \x9b among them), the Arabic letter mark, LRM/RLM, the line
# and paragraph separators, and the bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def safe(text: object, multiline: bool = False) -> str:
    """`text` (or str(text)) with every control character and bidi override written as a visible
    escape; with `multiline`, line breaks are kept."""
    return (_UNSAFE_BUT_NEWLINE if multiline else _UNSAFE).sub(_escape, str(text))


def text(value: object, style: str | None = None, multiline: bool = False) -> Text:
    """A rich Text of `safe(value)`: printed as is, never read as markup."""
    return Text(safe(value, multiline), style=style or "")


class _Fields(string.Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        return escape(safe(format(value, format_spec)))


_FIELDS = _Fields()


def markup(template: str, /, *args: object, **fields: object) -> str:
    """`template.format(...)` where the template's own markup (`[green]…[/]`) applies and every
    field is sanitised and escaped, so data shows literally (`[red]` stays `[red]`)."""
    return _FIELDS.format(template, *args, **fields)
