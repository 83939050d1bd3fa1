"""The internet side of the containment probes: what arrived, per connection and echo (stdlib only).

Run by `vhoneynet verify` in its sink namespace. argv[1]: JSON {"iface", "ports", "source", "echo_id"}.
Accepts on each TCP port and keeps the bytes of each connection by its source port; counts the
echo requests of `echo_id` from `source`. Prints "ready", then on SIGTERM one JSON line:
{"echo": n, "connections": {"<source port>": "<hex of what arrived>"}}.
"""

import json
import signal
import socket
import struct
import sys
import threading

cfg = json.loads(sys.argv[1])
got = {}
echo = [0]


def serve(srv):
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=read, args=(conn, peer[1]), daemon=True).start()


def read(conn, sport):
    conn.settimeout(3)
    data = b""
    try:
        while len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    got[str(sport)] = data.hex()
    conn.close()


def count_echo():
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    raw.bind((cfg["iface"], 0))
    while True:
        frame, addr = raw.recvfrom(65535)
        ip = frame[14:]
        if addr[2] == socket.PACKET_OUTGOING or len(ip) < 28 or ip[9] != 1 or socket.inet_ntoa(ip[12:16]) != cfg["source"]:
            continue
        icmp = ip[(ip[0] & 15) * 4:]
        if len(icmp) >= 8 and icmp[0] == 8 and struct.unpack("!H", icmp[4:6])[0] == cfg["echo_id"]:
            echo[0] += 1


for port in cfg["ports"]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(64)
    threading.Thread(target=serve, args=(srv,), daemon=True).start()
threading.Thread(target=count_echo, daemon=True).start()


def stop(*_):
    print(json.dumps({"echo": echo[0], "connections": dict(got)}), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    signal.pause()
