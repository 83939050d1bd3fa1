"""Host commands: one runner, so every failure reads the same way."""

from __future__ import annotations

import subprocess

from vhoneynet.errors import CommandFailed


def run(argv: list[str], stdin: bytes | None = None, timeout: float | None = None) -> str:
    """Run a host tool; raise CommandFailed with its stderr when it fails."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout.decode(errors="replace")


def run_bytes(argv: list[str], stdin: bytes | None = None, timeout: float | None = None) -> bytes:
    """Like run, for a tool whose output is binary (an image, for instance)."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout


def run_in_netns(netns: str, argv: list[str], stdin: bytes | None = None,
                 timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run argv inside a network namespace (an outside host); output captured, never raises on exit code."""
    return subprocess.run(["ip", "netns", "exec", netns, *argv], input=stdin, capture_output=True, timeout=timeout)


def spawn(argv: list[str], netns: str | None = None) -> subprocess.Popen[str]:
    """Start argv in the background (in `netns` if given); stdout is a text pipe. The caller waits or kills it."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.Popen([*prefix, *argv], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
