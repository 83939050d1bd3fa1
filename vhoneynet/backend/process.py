"""Host commands: the one runner, so starting, timeouts and failures read the same way everywhere.

Every host program vhoneynet starts goes through `_run` (never a shell unless the caller asks
for `/bin/sh -c`): a tool that is not installed is ToolMissing, one that outlives its timeout
is killed and CommandTimedOut, one that exits non-zero is CommandFailed with its exit code and
the tail of what it said. The detached followers are the one exception: they outlive the
command that starts them (`start_detached`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from vhoneynet.errors import CommandFailed, CommandTimedOut, ToolMissing

Argv = Sequence[str | PathLike[str]]


@dataclass(frozen=True)
class Finished:
    """A command that ran to its end, whatever its exit code."""

    returncode: int
    stdout: bytes
    stderr: bytes


def run(argv: Argv, *, stdin: bytes | str | None = None, timeout: float | None = None,
        env: Mapping[str, str] | None = None, umask: int = -1) -> str:
    """Run a host tool and return its stdout as text.

    Raises ToolMissing, CommandTimedOut (killed after `timeout` seconds), or CommandFailed with
    the exit code and the tail of stderr (of stdout when stderr is empty: debootstrap says why there).
    `umask`, when given, replaces this process's private one for the command (see permissions.py).
    """
    return run_bytes(argv, stdin=stdin, timeout=timeout, env=env, umask=umask).decode(errors="replace")


def run_bytes(argv: Argv, *, stdin: bytes | str | None = None, timeout: float | None = None,
              env: Mapping[str, str] | None = None, umask: int = -1) -> bytes:
    """Like `run`, for a tool whose output is binary (an image, for instance)."""
    args = [str(a) for a in argv]
    done = _run(args, stdin, timeout, env=env, umask=umask)
    if done.returncode != 0:
        said = done.stderr if done.stderr.strip() else done.stdout
        raise CommandFailed(args, done.returncode, said.decode(errors="replace"))
    return done.stdout


def exit_code(argv: Argv, *, timeout: float | None = None, user: str | None = None) -> int:
    """The exit code of argv (run as `user`, without supplementary groups, when given); output dropped.
    Raises ToolMissing, CommandTimedOut."""
    return _run([str(a) for a in argv], None, timeout, user=user).returncode


def run_in_netns(netns: str, argv: Argv, *, stdin: bytes | None = None, timeout: float | None = None) -> Finished:
    """Run argv inside a network namespace (an outside host); output captured, any exit code returned.
    Raises ToolMissing, CommandTimedOut."""
    return _run(["ip", "netns", "exec", netns, *(str(a) for a in argv)], stdin, timeout)


def spawn(argv: Argv, netns: str | None = None) -> subprocess.Popen[str]:
    """Start argv in the background (in `netns` if given); stdout is a text pipe. The caller waits or kills it."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    args = [*prefix, *(str(a) for a in argv)]
    try:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except FileNotFoundError:
        raise ToolMissing(args[0]) from None


def start_detached(argv: Argv, log: Path) -> int:
    """Start argv in its own session, its output appended to `log`, outliving this process; returns its pid."""
    args = [str(a) for a in argv]
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        except FileNotFoundError:
            raise ToolMissing(args[0]) from None
    return proc.pid


def _run(args: list[str], stdin: bytes | str | None, timeout: float | None, *,
         env: Mapping[str, str] | None = None, user: str | None = None, umask: int = -1) -> Finished:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    extra = {"user": user, "extra_groups": []} if user is not None else {}
    try:
        proc = subprocess.run(args, input=data, capture_output=True, timeout=timeout, env=env, check=False,
                              umask=umask, **extra)
    except FileNotFoundError:
        raise ToolMissing(args[0]) from None
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        raise CommandTimedOut(args, timeout or 0) from None
    return Finished(proc.returncode, proc.stdout, proc.stderr)
