"""Login sessions of the honeypots, rebuilt from their audit records, to play back and to export
as asciicast v2 (what asciinema plays).

What the capture holds of a session (see cloudinit/audit.py.j2 and capture.records): a `command`
event for every program started in it (EXECVE, at the time it started), and `keystrokes` events
with what a program read from the terminal, sent when the kernel flushed its TTY audit buffer: a
line at a time for programs reading in canonical mode (cat), and for the login shell's own
prompt, whose readline reads in raw mode, only when the shell exits. So the replay shows each
command when it ran and each piece of typing when it was recorded; no screen output was captured.

Keystrokes carry their audit session (`ses`); a command's EXECVE record does not, but the SYSCALL
record of the same audit event (same serial, stored as a `syslog` event read from the audit file)
does: that is how a command finds its session. A command whose SYSCALL record is missing goes to the honeypot's
session "?".

Every text here was typed or run by an intruder: it is made printable (`terminal.safe`, line
breaks kept) before it becomes a frame, and the page shows frames as text, never as markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from vhoneynet.capture.store import CaptureStore
from vhoneynet.terminal import safe

UNSET_SESSION = "4294967295"  # the audit session of a process outside any login
IDLE_LIMIT = 2.0  # seconds: longer pauses are shortened in playback (asciinema's idle_time_limit)
WIDTH, HEIGHT = 100, 30
MAX_SESSIONS = 200
MAX_FRAMES = 5000  # of one session; later ones are left out and counted
_SYSCALL = re.compile(r"audit: type=1300 audit\([\d.]+:(\d{1,18})\): (.*)$")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]|^\.")
_FIELD = re.compile(r'\b(ses|tty|pid|auid|exe)=("[^"]*"|\S+)')


@dataclass
class LoginSession:
    """One audit session of one honeypot: its frames are (seconds from its start, text)."""

    honeypot: str
    ses: str
    start: str = ""
    end: str = ""
    tty: str = ""
    commands: int = 0
    typed: int = 0
    frames: list[tuple[float, str]] = field(default_factory=list)
    left_out: int = 0

    @property
    def name(self) -> str:
        """A file name for the session (its parts were read from a guest: only safe characters kept)."""
        return _FILE_UNSAFE.sub("_", f"{self.honeypot}-ses{self.ses if self.ses != '?' else 'unknown'}")[:100]

    def asciicast(self) -> str:
        """The session as asciicast v2: a header line, then one `o` event per frame."""
        header = {"version": 2, "width": WIDTH, "height": HEIGHT, "timestamp": int(_moment(self.start).timestamp()),
                  "idle_time_limit": IDLE_LIMIT, "title": f"{self.honeypot} audit session {self.ses}",
                  "env": {"TERM": "xterm-256color"}}
        lines = [json.dumps(header)]
        lines += [json.dumps([round(t, 6), "o", text.replace("\n", "\r\n")]) for t, text in self.frames]
        return "\n".join(lines) + "\n"


def login_sessions(store: CaptureStore, since: str | None = None, until: str | None = None) -> list[LoginSession]:
    """The login sessions with something recorded between `since` and `until`, oldest first."""
    audit = _syscall_records(store, since, until)
    found: dict[tuple[str, str], LoginSession] = {}
    for event in store.query(types=["command", "keystrokes"], since=since, until=until):
        pot = event["honeypot"] or event["src"] or "?"
        data = event["data"] if isinstance(event["data"], dict) else {}
        if event["type"] == "keystrokes":
            ses, tty = str(data.get("ses") or "?"), ""
        else:
            ses, tty = _session_of(audit.get((pot, data.get("audit_serial")), []), event["time"])
        if ses == UNSET_SESSION:
            continue
        session = found.get((pot, ses))
        if session is None:
            if len(found) >= MAX_SESSIONS:
                continue
            session = found[(pot, ses)] = LoginSession(pot, ses, start=event["time"])
        _add(session, event, data, tty)
    return sorted(found.values(), key=lambda s: s.start)


def _add(session: LoginSession, event: dict, data: dict, tty: str) -> None:
    session.end = event["time"]
    session.tty = session.tty or tty
    if event["type"] == "command":
        session.commands += 1
        argv = data.get("argv") if isinstance(data.get("argv"), list) else [event["summary"]]
        text = "$ " + " ".join(safe(a) for a in argv) + "\n"
    else:
        lines = safe(str(data.get("typed", "")), multiline=True).split("\n")
        label = f"[typed into {safe(data.get('comm', '?'))}] "
        # a long record comes in pieces (part k/m): the label once, on the first
        piece = str(data.get("part", "1/1")).split("/")[0]
        first = not (piece.isdigit() and piece != "1")
        session.typed += first
        text = (label if first else " " * len(label)) + f"\n{' ' * len(label)}".join(lines) + "\n"
    if len(session.frames) >= MAX_FRAMES:
        session.left_out += 1
        return
    offset = (_moment(event["time"]) - _moment(session.start)).total_seconds()
    session.frames.append((max(0.0, offset), text))


def _syscall_records(store: CaptureStore, since: str | None, until: str | None) -> dict[tuple, list[tuple[str, str, str]]]:
    """(honeypot, audit serial) -> [(time, ses, tty)] of the SYSCALL records of program starts."""
    found: dict[tuple, list[tuple[str, str, str]]] = {}
    for event in store.query(types=["syslog"], since=since, until=until, containing="type=1300"):
        m = _SYSCALL.search(event["summary"])
        if not m or not event["honeypot"] or not _from_audit_channel(event):
            continue
        fields = dict(_FIELD.findall(m[2]))
        if "ses" in fields:
            found.setdefault((event["honeypot"], int(m[1])), []).append((event["time"], fields["ses"], fields.get("tty", "")))
    return found


def _from_audit_channel(event: dict) -> bool:
    """Whether the event was read from a honeypot's audit file (`gateway/<day>/audit/<honeypot>.log`,
    the key's path), which only root's forwarder can write; a user's `logger` reaches the syslog
    file, and a line there that looks like an audit record must not attribute commands."""
    return event["key"].split(":", 1)[0].split("/")[2:3] == ["audit"]


def _session_of(records: list[tuple[str, str, str]], time: str) -> tuple[str, str]:
    """The (ses, tty) of the SYSCALL record nearest in time (a serial repeats after a reboot)."""
    if not records:
        return "?", ""
    moment = _moment(time)
    _, ses, tty = min(records, key=lambda r: abs((_moment(r[0]) - moment).total_seconds()))
    return ses, tty


def _moment(time: str) -> datetime:
    return datetime.fromisoformat(time)
