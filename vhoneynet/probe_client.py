"""The service probe client: `python -m vhoneynet.probe_client KIND ADDRESS PORT`, exit 0 if it answers.

Runs inside an outside host's network namespace (see probes.py); standard library only, so
that starting it costs milliseconds, not the import of the whole package.
"""

from __future__ import annotations

import socket
import struct
import sys

ATTEMPT_SECONDS = 3.0



def _dns(address: str, port: int) -> bool:
    query = struct.pack(">HHHHHH", 0x5648, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)  # . NS
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(ATTEMPT_SECONDS)
        s.sendto(query, (address, port))
        reply, _ = s.recvfrom(4096)
    return reply[:2] == query[:2] and bool(reply[2] & 0x80)  # same id, a response


def _http(address: str, port: int) -> bool:
    with socket.create_connection((address, port), ATTEMPT_SECONDS) as s:
        s.settimeout(ATTEMPT_SECONDS)
        s.sendall(f"GET / HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
        return s.recv(16).startswith(b"HTTP/")


def _banner(address: str, port: int) -> bool:
    with socket.create_connection((address, port), ATTEMPT_SECONDS) as s:
        s.settimeout(ATTEMPT_SECONDS)
        return bool(s.recv(64))


def _connect(address: str, port: int) -> bool:
    with socket.create_connection((address, port), ATTEMPT_SECONDS):
        return True


CLIENTS = {"dns": _dns, "http": _http, "banner": _banner, "connect": _connect}


def main(argv: list[str]) -> int:
    kind, address, port = argv
    try:
        return 0 if CLIENTS[kind](address, int(port)) else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
