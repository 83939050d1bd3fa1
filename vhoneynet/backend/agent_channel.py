"""The host's end of a guest's qemu-guest-agent, over the unix socket of the guest's serial port.

The agent runs in the guest on an ordinary UART (COM2), which qemu connects to a unix socket on
the host; libvirt does not know it is an agent, so the protocol is spoken here:

- callers of one socket take turns through an `flock` on `<socket>.lock` (qemu serves one client
  at a time, and a second one would read what the agent answers the first);
- each call resynchronises first: the 0xFF byte (the agent drops any half-read request), then
  `guest-sync-delimited` with a random id, answered by 0xFF and `{"return": id}`; anything before
  that answer is output an earlier, abandoned call left behind, and is discarded;
- then one request line, and one reply line, returned as text for the caller to validate.

The guest may be owned by an attacker: one deadline covers the whole call, every read is bounded,
and every failure is AgentUnavailable, whose message names the problem, never the guest's bytes.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Self

from vhoneynet.errors import AgentUnavailable

AGENT_REPLY_MAX = 24 << 20  # characters of one reply: qemu-ga caps captured output at 16 MiB, base64 makes it 4/3
SYNC_DISCARD_MAX = AGENT_REPLY_MAX + (1 << 20)  # bytes dropped while syncing: the rest of one abandoned reply
_SYNC_LINE_MAX = 256  # bytes of `{"return": id}` after the 0xFF
_SENTINEL = 0xFF
_READ_CHUNK = 1 << 16
_POLL_SECONDS = 0.02  # between tries of a busy lock or a full backlog
# qemu's error classes (qapi ErrorClass): the only part of an error reply worth repeating
_ERROR_CLASSES = frozenset({"GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound",
                            "KVMMissingCap"})
_ERROR_REPLY = re.compile(rb"\s*\{\s*\"error\"\s*:")


def call(domain: str, path: Path, command: str, arguments: dict, timeout: float) -> str:
    """Send `command` with `arguments` to the agent of `domain` listening on the unix socket
    `path`, and return its reply line (JSON text, unchecked beyond being UTF-8 and not an error),
    all within `timeout` seconds.

    Raises AgentUnavailable: no socket, refused, the port held by another call past the deadline,
    no sync or reply in time, the connection closed, too much junk before the sync, a reply line
    over AGENT_REPLY_MAX bytes, a reply that is not UTF-8, an `{"error": …}` reply.
    """
    deadline = time.monotonic() + timeout
    request = json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n"
    with _PortLock(domain, path, deadline), _connect(domain, path, deadline) as sock:
        port = _Port(domain, command, sock, deadline)
        port.sync()
        port.send(request)
        line = port.line(AGENT_REPLY_MAX)
    if _ERROR_REPLY.match(line):
        raise AgentUnavailable(domain, f"{command}: the agent answered with an error{_error_class(line)}", answered=True)
    try:
        return line.decode()
    except UnicodeDecodeError:
        raise AgentUnavailable(domain, f"{command}: reply is not UTF-8") from None


class _PortLock:
    """An exclusive `flock` on `<socket>.lock`, waited for until the deadline at most."""

    def __init__(self, domain: str, path: Path, deadline: float):
        self.domain, self.path, self.deadline = domain, Path(f"{path}.lock"), deadline
        self.fd = -1

    def __enter__(self) -> Self:
        try:  # no symlink followed: the folder is shared with qemu's user
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise AgentUnavailable(self.domain, f"cannot open the agent port's lock ({_errno(e)})") from None
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    self.__exit__()
                    raise AgentUnavailable(self.domain, "the agent port stayed busy with another call") from None
                time.sleep(min(_POLL_SECONDS, left))

    def __exit__(self, *_exc) -> None:
        os.close(self.fd)  # releases the lock


def _connect(domain: str, path: Path, deadline: float) -> socket.socket:
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(str(path))
            return sock
        except BlockingIOError:  # qemu's backlog is full (another client waits): try again, until the deadline
            sock.close()
            if time.monotonic() >= deadline:
                raise AgentUnavailable(domain, "the agent port stayed busy with another client") from None
            time.sleep(_POLL_SECONDS)
        except TimeoutError:
            sock.close()
            raise AgentUnavailable(domain, "connecting to the agent port timed out") from None
        except FileNotFoundError:
            sock.close()
            raise AgentUnavailable(domain, "no agent port (its socket is missing: is the guest running?)") from None
        except ConnectionRefusedError:
            sock.close()
            raise AgentUnavailable(domain, "the agent port refused the connection") from None
        except OSError as e:
            sock.close()
            raise AgentUnavailable(domain, f"cannot connect to the agent port ({_errno(e)})") from None


class _Port:
    """One connection to the agent port: bounded reads into a buffer, each before the deadline."""

    def __init__(self, domain: str, command: str, sock: socket.socket, deadline: float):
        self.domain, self.command, self.sock, self.deadline = domain, command, sock, deadline
        self.buf = bytearray()

    def _fail(self, problem: str) -> AgentUnavailable:
        return AgentUnavailable(self.domain, f"{self.command}: {problem}")

    def _left(self, waiting_for: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._fail(f"no {waiting_for} from the agent in time")
        return left

    def send(self, data: bytes) -> None:
        try:
            self.sock.settimeout(self._left("room to send"))
            self.sock.sendall(data)
        except TimeoutError:
            raise self._fail("no room to send to the agent in time") from None
        except OSError as e:
            raise self._fail(f"the agent port failed ({_errno(e)})") from None

    def _fill(self, waiting_for: str) -> None:
        try:
            self.sock.settimeout(self._left(waiting_for))
            chunk = self.sock.recv(_READ_CHUNK)
        except TimeoutError:
            raise self._fail(f"no {waiting_for} from the agent in time") from None
        except OSError as e:
            raise self._fail(f"the agent port failed ({_errno(e)})") from None
        if not chunk:
            raise self._fail(f"the agent port closed before the {waiting_for}")
        self.buf += chunk

    def sync(self) -> None:
        """Resynchronise: send 0xFF and guest-sync-delimited with a random id, then discard
        everything up to its answer, SYNC_DISCARD_MAX bytes at most."""
        token = secrets.randbelow(2**31 - 1) + 1
        self.send(bytes([_SENTINEL]) + json.dumps(
            {"execute": "guest-sync-delimited", "arguments": {"id": token}}).encode() + b"\n")
        discarded = 0
        while True:
            at = self.buf.find(_SENTINEL)
            dropped = len(self.buf) if at < 0 else at + 1
            discarded += dropped
            del self.buf[:dropped]
            if discarded > SYNC_DISCARD_MAX:
                raise self._fail(f"over {SYNC_DISCARD_MAX} bytes before the agent's sync answer")
            if at < 0:
                self._fill("sync answer")
                continue
            # after a sentinel: its line, unless another sentinel or too many bytes come first
            while (self.buf.find(b"\n", 0, _SYNC_LINE_MAX) < 0 and _SENTINEL not in self.buf
                   and len(self.buf) < _SYNC_LINE_MAX):
                self._fill("sync answer")
            end = self.buf.find(b"\n", 0, _SYNC_LINE_MAX)
            if end >= 0 and _SENTINEL not in self.buf[:end] and _is_sync_answer(bytes(self.buf[:end]), token):
                del self.buf[:end + 1]
                return
            # an earlier call's answer, or junk: the next sentinel is looked for

    def line(self, limit: int) -> bytes:
        """The next line (without its newline); one over `limit` bytes is AgentUnavailable."""
        scanned = 0
        while (end := self.buf.find(b"\n", scanned)) < 0:
            scanned = len(self.buf)
            if scanned > limit:
                raise self._fail(f"reply line over {limit} bytes")
            self._fill("reply")
        if end > limit:
            raise self._fail(f"reply line over {limit} bytes")
        line = bytes(self.buf[:end])
        del self.buf[:end + 1]
        return line


def _errno(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e.errno))


def _is_sync_answer(line: bytes, token: int) -> bool:
    try:
        doc = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return False
    return isinstance(doc, dict) and list(doc) == ["return"] and type(doc["return"]) is int and doc["return"] == token


def _error_class(line: bytes) -> str:
    """` (<class>)` when the error reply names one of qemu's error classes, else nothing."""
    try:
        doc = json.loads(line)
        name = doc["error"]["class"]
    except (ValueError, RecursionError, TypeError, KeyError):
        return ""
    return f" ({name})" if isinstance(name, str) and name in _ERROR_CLASSES else ""
