"""The one place where image building starts other programs."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from os import PathLike

from vhoneynet.errors import CommandFailed


def run(
    argv: Sequence[str | PathLike[str]],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run argv (never through a shell) and return its stdout.

    Raises CommandFailed with the exit code and the tail of stderr (or of stdout when
    stderr is empty, as debootstrap reports there) when it cannot start or exits non-zero.
    """
    args = [str(a) for a in argv]
    try:
        proc = subprocess.run(
            args, input=stdin, capture_output=True, env=env, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise CommandFailed(args, 127, f"{args[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise CommandFailed(args, -1, f"timed out after {timeout:.0f} s") from None
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        raise CommandFailed(args, proc.returncode, err if err.strip() else out)
    return out
