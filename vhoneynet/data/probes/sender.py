"""Play a compromised honeypot: send bounded probe traffic; print what was sent as JSON (stdlib only).

Run by `vhoneynet verify` in its probe namespace (honeynet side) or, with python3, in a honeypot.
argv[1]: JSON {"iface", "mac", "address", "sink", "sink_mac", "broadcast", "ports": {...},
"marker", "probes": [...], "limit", "spoof_address", "fence_address", "throttle_pace"}.
"""

import json
import socket
import struct
import sys
import time

cfg = json.loads(sys.argv[1])
sent = {}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def ip_header(src, dst, proto, length, ident, frag=0):
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, ident, frag, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:]


def frame(src_mac, dst_mac, packet):
    return bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00" + packet


def udp(src, dst, dport, payload, ident):
    body = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    return ip_header(src, dst, 17, len(body), ident) + body


raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
raw.bind((cfg["iface"], 0))
ports = cfg["ports"]
probes = cfg["probes"]

if "spoofed-ip" in probes:
    for i in range(20):
        raw.send(frame(cfg["mac"], cfg["sink_mac"], udp(cfg["spoof_address"], cfg["sink"], ports["spoofed-ip"], b"VHN-SPOOF", 100 + i)))
    sent["spoofed-ip"] = 20
if "spoofed-mac" in probes:
    for i in range(20):
        raw.send(frame("02:00:5e:10:00:01", cfg["sink_mac"], udp(cfg["address"], cfg["sink"], ports["spoofed-mac"], b"VHN-SPOOF", 200 + i)))
    sent["spoofed-mac"] = 20
if "fence" in probes:
    for i in range(10):
        raw.send(frame(cfg["mac"], cfg["sink_mac"], udp(cfg["address"], cfg["fence_address"], ports["fence"], b"VHN-FENCE", 500 + i)))
    sent["fence"] = 10
if "ping-of-death" in probes:
    payload = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"\x41" * 2992
    payload = payload[:2] + struct.pack("!H", checksum(payload)) + payload[4:]
    for i in range(5):
        ident = 300 + i
        for offset in range(0, len(payload), 1480):  # 3000 bytes in three fragments
            piece = payload[offset:offset + 1480]
            more = 0x2000 if offset + 1480 < len(payload) else 0
            raw.send(frame(cfg["mac"], cfg["sink_mac"],
                           ip_header(cfg["address"], cfg["sink"], 1, len(piece), ident, more | offset // 8) + piece))
    sent["ping-of-death"] = 5
if "smurf" in probes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4343, 1) + b"VHN-SMURF"
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    for i in range(10):
        raw.send(frame(cfg["mac"], "ff:ff:ff:ff:ff:ff", ip_header(cfg["address"], cfg["broadcast"], 1, len(icmp), 400 + i) + icmp))
    sent["smurf"] = 10
if "ips" in probes:
    for payload in (b"VHN-CLEAN-TEST\n", b"GET / HTTP/1.0\r\nX: " + cfg["marker"].encode() + b"\r\n\r\n"):
        try:
            with socket.create_connection((cfg["sink"], ports["ips"]), timeout=3) as s:
                s.sendall(payload)
                time.sleep(0.5)
        except OSError:
            pass
    sent["ips"] = 1
if "limits" in probes:
    attempts = cfg["limit"] + 3
    for _ in range(attempts):
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect((cfg["sink"], ports["limits"]))
        except OSError:
            pass
        s.close()
    sent["limits"] = attempts
if "throttle" in probes:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"\x54" * 972  # 1000-byte IP packets
    count, started = 0, time.monotonic()
    pace = cfg["throttle_pace"]  # bytes per second: a few times the throttle, so it must bite
    while time.monotonic() - started < 3:
        if count * 1000 > pace * (time.monotonic() - started):
            time.sleep(0.002)
            continue
        try:
            s.sendto(payload, (cfg["sink"], ports["throttle"]))
            count += 1
        except OSError:
            time.sleep(0.002)
    sent["throttle"] = count * 1000
    sent["throttle_seconds"] = round(time.monotonic() - started, 3)
print(json.dumps(sent), flush=True)
