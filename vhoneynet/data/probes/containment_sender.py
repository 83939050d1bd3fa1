"""Play a compromised honeypot against containment: an echo flood of one id, or exploit payloads (stdlib only).

Run by `vhoneynet verify` in its probe namespace. argv[1]: JSON {"sink", "phase": "icmp" | "exploits",
"echo_id", "echo_count", "payloads": [{"cls", "name", "port", "text" | "hex" | "connections"}]}.
Prints JSON: {"echo": n} for icmp; for exploits, one row per connection
{"cls", "name", "sport" (when it connected), "result"}.
"""

import json
import socket
import struct
import sys
import time

cfg = json.loads(sys.argv[1])


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


if cfg["phase"] == "icmp":
    # what `ping -f` sends: one echo id, the sequence number counting up
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    for seq in range(cfg["echo_count"]):
        body = struct.pack("!BBHHH", 8, 0, 0, cfg["echo_id"], seq) + b"VHN-ONE-ID-FLOOD"
        s.sendto(body[:2] + struct.pack("!H", checksum(body)) + body[4:], (cfg["sink"], 0))
        time.sleep(0.005)
    print(json.dumps({"echo": cfg["echo_count"]}), flush=True)
else:
    rows = []
    for p in cfg["payloads"]:
        for _ in range(p.get("connections", 1)):
            row = {"cls": p["cls"], "name": p["name"]}
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect((cfg["sink"], p["port"]))
                row["sport"] = s.getsockname()[1]
                if "connections" not in p:
                    s.sendall(bytes.fromhex(p["hex"]) if "hex" in p else p["text"].encode())
                    time.sleep(0.3)
                row["result"] = "open"
            except OSError as e:
                row["result"] = type(e).__name__
            s.close()
            rows.append(row)
    print(json.dumps(rows), flush=True)
