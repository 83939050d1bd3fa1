"""Count what arrives on one interface for a while; print the counts as JSON (stdlib only).

Run by `vhoneynet verify` in the sink namespace (internet side) or on the gateway's int tap.
argv[1]: JSON {"iface", "seconds", "probe_mac", "addresses": [...], "ports": {...}, "marker", "listen"}.
Counts only frames whose IPv4 source is in `addresses`, or whose Ethernet source is `probe_mac`.
"""

import json
import socket
import struct
import sys
import threading
import time

cfg = json.loads(sys.argv[1])
ports = {int(v): k for k, v in cfg["ports"].items()}
marker = cfg["marker"].encode()
sources = set(cfg["addresses"])
counts = {name: 0 for name in [*cfg["ports"], "syn", "bytes", "pod", "smurf", "marker_raw", "marker_stream", "clean_stream"]}
syn_ports = set()


def serve(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    srv.settimeout(0.5)
    end = time.monotonic() + cfg["seconds"]
    while time.monotonic() < end:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
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
        conn.close()
        counts["marker_stream"] += data.count(marker)
        counts["clean_stream"] += data.count(b"VHN-CLEAN-TEST")


if cfg.get("listen"):
    threading.Thread(target=serve, args=(cfg["listen"],), daemon=True).start()

raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
raw.bind((cfg["iface"], 0))
raw.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + cfg["seconds"]
while time.monotonic() < end:
    try:
        frame, addr = raw.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING or len(frame) < 34 or frame[12:14] != b"\x08\x00":
        continue
    src_mac = frame[6:12].hex(":")
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total, frag, proto = struct.unpack("!H2xH1xB", ip[2:10])
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    if src not in sources and src_mac != cfg["probe_mac"]:
        continue
    body = ip[ihl:]
    if marker in frame:
        counts["marker_raw"] += 1
    if proto == 1 and body[:1] == b"\x08":
        if frag & 0x3FFF or total > 1500:
            counts["pod"] += 1
        if dst.endswith(".255") or dst == cfg.get("broadcast") or frame[:6] == b"\xff" * 6:
            counts["smurf"] += 1
        continue
    if proto in (6, 17) and not frag & 0x1FFF and len(body) >= 4:
        dport = struct.unpack("!H", body[2:4])[0]
        name = ports.get(dport)
        if name is None:
            continue
        counts[name] += 1
        if proto == 6 and body[13] & 0x12 == 0x02:
            syn_ports.add((src, struct.unpack("!H", body[0:2])[0]))
            counts["syn"] = len(syn_ports)
        if proto == 17 and name == "throttle":
            counts["bytes"] += total
print(json.dumps(counts), flush=True)
