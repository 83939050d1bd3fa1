#!/usr/bin/env python3
"""Gateway benchmark: throughput and packet rate across the gateway with every data-control
layer on (anti-spoofing, limits, throttle at 10 gbit, inline Suricata) against the same gateway
as a plain bridge (its data-control table removed), in the same run; whether the packet
capture drops anything at that rate; and what an intruder could time or see: TCP connect
round trips, and the TTL and TCP option kinds of a SYN as it arrives on the internet side.

Run as root on a host prepared by ./setup.sh (not part of the test suite):

    .venv/bin/python benchmarks/gateway.py            # boots its own honeynet, removes it after
    .venv/bin/python benchmarks/gateway.py --id demo  # or uses a running one (restores its ruleset)

Traffic goes between two namespaces the benchmark creates (the `verify` probe on the honeynet
side, admitted as a honeypot for the run, and a sink on the internet side). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Interface
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vhoneynet import naming  # noqa: E402
from vhoneynet.backends import Backends, execute  # noqa: E402
from vhoneynet.gateway.live import control, verify  # noqa: E402
from vhoneynet.plan import VERIFY_PROBE_VETH, VERIFY_SINK_VETH, plan, verify_addresses  # noqa: E402

RECEIVER = r"""
import json, socket, sys, time
kind, seconds = sys.argv[1], float(sys.argv[2])
if kind == "tcp":
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 7500)); srv.listen(1); srv.settimeout(seconds + 20)
    print("ready", flush=True)
    conn, _ = srv.accept(); conn.settimeout(5)
    total, first = 0, None
    try:
        while first is None or time.monotonic() - first < seconds:  # count `seconds` of arrivals, no more
            data = conn.recv(262144)
            if not data: break
            first = first or time.monotonic(); total += len(data)
    except OSError: pass
    conn.close()
    print(json.dumps({"bytes": total, "seconds": round(time.monotonic() - (first or time.monotonic()), 3)}))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7501)); s.settimeout(3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    print("ready", flush=True)
    n = 0
    try:
        while True:
            s.recv(2048); n += 1
    except OSError: pass
    print(json.dumps({"packets": n}))
"""

SENDER = r"""
import json, socket, sys, time
kind, dst, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.monotonic() + seconds
if kind == "tcp":
    c = socket.create_connection((dst, 7500), timeout=10); buf = b"\0" * 65536; total = 0
    try:
        while time.monotonic() < end:
            total += c.send(buf)
    except OSError: pass  # the receiver stops after `seconds` of arrivals
    c.close(); print(json.dumps({"bytes": total}))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); n = 0
    while time.monotonic() < end:
        try: s.sendto(b"\0" * 36, (dst, 7501)); n += 1   # 64-byte IP packets
        except OSError: pass
    print(json.dumps({"packets": n}))
"""


CONNECTOR = r"""
import json, socket, statistics, sys, time
dst, n = sys.argv[1], int(sys.argv[2])
samples = []
for _ in range(n):
    started = time.perf_counter()
    c = socket.create_connection((dst, 7502), timeout=5)
    samples.append((time.perf_counter() - started) * 1000)
    c.close()
    time.sleep(0.02)
samples.sort()
print(json.dumps({"connect_ms_median": round(statistics.median(samples), 3),
                  "connect_ms_p90": round(samples[int(len(samples) * 0.9) - 1], 3)}))
"""

ACCEPTOR = r"""
import socket, sys
n = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 7502)); srv.listen(64); srv.settimeout(30)
print("ready", flush=True)
for _ in range(n):
    srv.accept()[0].close()
"""
RTT_CONNECTS = 40


def round_trip(probe_ns: str, sink_ns: str, sink: str) -> dict:
    """TCP connect time (SYN to SYN/ACK and back) across the gateway, and what the sink sees of
    the first SYN: its TTL (a router would have taken one off) and its TCP option kinds (an
    inline box that rewrites MSS or drops options would show here)."""
    syn = subprocess.Popen(["ip", "netns", "exec", sink_ns, "timeout", "30", "tcpdump", "-i", "eth0", "-nn", "-v", "-c", "1",
                            "tcp dst port 7502 and tcp[13] & 2 != 0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    acceptor = subprocess.Popen(["ip", "netns", "exec", sink_ns, "python3", "-c", ACCEPTOR, str(RTT_CONNECTS)],
                                stdout=subprocess.PIPE, text=True)
    acceptor.stdout.readline()
    time.sleep(1)  # tcpdump listening
    out = json.loads(subprocess.run(["ip", "netns", "exec", probe_ns, "python3", "-c", CONNECTOR, sink, str(RTT_CONNECTS)],
                                    capture_output=True, text=True, timeout=120).stdout)
    acceptor.wait(timeout=30)
    text = syn.communicate(timeout=40)[0]
    ttl = re.search(r"\bttl (\d+)", text)
    options = re.search(r"options \[([^\]]*)\]", text)
    out["syn_ttl"] = int(ttl[1]) if ttl else None
    out["syn_options"] = [o.split()[0] for o in options[1].split(",")] if options else None
    return out


def topology(hid: str, capture: Path) -> str:
    return json.dumps({
        "id": hid,
        "networks": {"honeynet": {"cidr": "203.0.113.0/24"}, "admin": {"cidr": "10.254.199.0/29"}},
        "gateway": {"memory": 512, "capture": {"directory": str(capture)},
                    "data_control": {"limits": {"tcp": 1000, "udp": 1000, "icmp": 1000, "other": 100},
                                     "throttle": {"rate": "10gbit", "burst": "1mb"}}},
        "honeypots": [{"name": "web", "image": "linux-web", "address": "203.0.113.80", "memory": 384}],
    })


def measure(probe_ns: str, sink_ns: str, sink: str, seconds: float) -> dict:
    out = {}
    for kind in ("tcp", "udp"):
        recv = subprocess.Popen(["ip", "netns", "exec", sink_ns, "python3", "-c", RECEIVER, kind, str(seconds)],
                                stdout=subprocess.PIPE, text=True)
        recv.stdout.readline()
        sent = json.loads(subprocess.run(["ip", "netns", "exec", probe_ns, "python3", "-c", SENDER, kind, sink,
                                          str(seconds)], capture_output=True, text=True, timeout=seconds + 60).stdout)
        got = json.loads(recv.communicate(timeout=seconds + 60)[0].strip().splitlines()[-1])
        if kind == "tcp":
            out["tcp_mbytes_per_s"] = round(got["bytes"] / max(seconds, 1e-3) / 1e6, 2)
        else:
            out["udp_sent_pps"] = round(sent["packets"] / seconds)
            out["udp_received_pps"] = round(got["packets"] / seconds)
    return out


def capture_start(hid: str, b) -> None:
    """A second tcpdump on the gateway's honeynet port, like the real capture, to read its drop count."""
    execute(hid, "gateway", ["/bin/sh", "-c", "tcpdump -i int -n -s 0 -w /dev/null > /tmp/bench-tcpdump.log "
                                       "2>&1 & echo $! > /tmp/bench-tcpdump.pid"], b)
    time.sleep(2)


def capture_stop(hid: str, b) -> dict:
    text = execute(hid, "gateway", ["/bin/sh", "-c", "kill -INT $(cat /tmp/bench-tcpdump.pid); sleep 2; "
                                              "cat /tmp/bench-tcpdump.log"], b).stdout.decode()
    nums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0].isdigit() and parts[1] == "packets":
            nums[" ".join(parts[2:])] = int(parts[0])
    return nums


def run(hid: str, seconds: float) -> dict:
    b = Backends.for_host()
    topo = control.saved_topology(hid)
    p = plan(topo)
    probe, sink, _ = verify_addresses(topo)
    prefix = topo.networks.honeynet.cidr.prefixlen
    probe_mac, sink_mac = naming.mac(hid, verify.PROBE), naming.mac(hid, verify.SINK)
    probe_ns, sink_ns = naming.netns(hid, verify.PROBE), naming.netns(hid, verify.SINK)
    veths = (naming.veth(hid, VERIFY_PROBE_VETH), naming.veth(hid, VERIFY_SINK_VETH))
    element = f"{{ {probe_mac} . {probe} }}"
    result: dict = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}",
                    "honeynet": hid, "seconds_per_test": seconds}
    try:
        b.net.add_outside_host(sink_ns, p.bridge("ext").name, veths[1], IPv4Interface(f"{sink}/{prefix}"), mac=sink_mac)
        b.net.add_outside_host(probe_ns, p.bridge("int").name, veths[0], IPv4Interface(f"{probe}/{prefix}"), mac=probe_mac)
        control.nft(hid, b, ["add", "element", *control.TABLE, "honeypots", element], "admit the probe")
        capture_start(hid, b)
        result["all_layers"] = measure(probe_ns, sink_ns, str(sink), seconds)
        result["all_layers"] |= round_trip(probe_ns, sink_ns, str(sink))
        result["capture"] = capture_stop(hid, b)
        control.nft(hid, b, ["delete", "table", *control.TABLE], "remove data control")
        result["plain_bridge"] = measure(probe_ns, sink_ns, str(sink), seconds)
        result["plain_bridge"] |= round_trip(probe_ns, sink_ns, str(sink))
    finally:
        execute(hid, "gateway", ["nft", "-f", "/run/vhn/config/ruleset.nft"], b)
        for ns in (probe_ns, sink_ns):
            b.net.delete_netns(ns)
        for veth in veths:
            b.net.delete_link(veth)
    a, plain = result["all_layers"], result["plain_bridge"]
    result["ratio_tcp"] = round(a["tcp_mbytes_per_s"] / max(plain["tcp_mbytes_per_s"], 1e-6), 3)
    result["ratio_udp_pps"] = round(a["udp_received_pps"] / max(plain["udp_received_pps"], 1), 3)
    result["ratio_connect_ms"] = round(a["connect_ms_median"] / max(plain["connect_ms_median"], 1e-6), 3)
    result["same_syn_seen"] = (a["syn_ttl"], a["syn_options"]) == (plain["syn_ttl"], plain["syn_options"])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--id", help="a running honeynet (else one is booted and removed)")
    ap.add_argument("--seconds", type=float, default=5)
    args = ap.parse_args()
    if args.id:
        print(json.dumps(run(args.id, args.seconds), indent=2))
        return
    hid = "vbench" + str(int(time.time()) % 100)
    with tempfile.TemporaryDirectory() as work:
        topo = Path(work) / "bench.yml"
        topo.write_text(topology(hid, Path(work) / "captures"))
        subprocess.run([sys.executable, "-m", "vhoneynet", "up", str(topo)], check=True)
        try:
            print(json.dumps(run(hid, args.seconds), indent=2))
        finally:
            subprocess.run([sys.executable, "-m", "vhoneynet", "down", hid])


if __name__ == "__main__":
    main()
