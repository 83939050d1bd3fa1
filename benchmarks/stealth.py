#!/usr/bin/env python3
"""What the hardware profile costs: two honeypots of the same image in one honeynet, one wearing
a profile (q35, SATA, e1000e) and one `hardware: virtual` (i440FX, virtio), measured in the same
run: boot (seconds until ready, from the `up` lines), HTTP download from a namespace on the
honeypots' own bridge (MB/s: the NIC and disk models, not the gateway, whose inline IPS is the
bottleneck across it; benchmarks/gateway.py measures that) and ping round trips; and what the
gateway adds to a round trip: the same honeypot pinged from the internet side (across the
gateway) and from that namespace (no gateway in between).

Run as root on a host prepared by ./setup.sh (not part of the test suite):

    .venv/bin/python benchmarks/stealth.py [--megabytes 20] [--pings 20]

Prints JSON; figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
from ipaddress import IPv4Interface
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vhoneynet import naming  # noqa: E402
from vhoneynet.api import Honeynet  # noqa: E402
from vhoneynet.plan import VERIFY_PROBE_VETH, plan, verify_addresses  # noqa: E402
from vhoneynet.topology import loads  # noqa: E402

TOPOLOGY = """
version: 1
id: {hid}
networks:
  internet: {{mode: isolated}}
  honeynet: {{cidr: 203.0.113.0/24, domain: corp.example}}
  admin: {{cidr: 10.254.9.0/29}}
defaults: {{memory: 384, vcpus: 1}}
honeypots:
  - {{name: pc, image: linux-web, address: 203.0.113.80, hardware: dell-optiplex-7070}}
  - {{name: vm, image: linux-web, address: 203.0.113.81, hardware: virtual}}
outside:
  - {{name: attacker, address: 203.0.113.66}}
"""


def pings(netns: str, address: str, count: int) -> dict:
    out = subprocess.run(["ip", "netns", "exec", netns, "ping", "-n", "-q", "-i", "0.2", "-c", str(count), address],
                         capture_output=True, text=True, timeout=count + 30).stdout
    rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", out)
    lost = re.search(r"(\d+)% packet loss", out)
    return {"min_ms": float(rtt[1]), "avg_ms": float(rtt[2]), "max_ms": float(rtt[3]),
            "loss_percent": int(lost[1])} if rtt and lost else {"error": out.strip()[-200:]}


def download(netns: str, address: str) -> float:
    """MB/s of one HTTP download of /big.bin from the internet side."""
    out = subprocess.run(["ip", "netns", "exec", netns, "curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}",
                          "--max-time", "300", f"http://{address}/big.bin"], capture_output=True, text=True, timeout=320)
    return round(float(out.stdout or 0) / 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=8)
    parser.add_argument("--pings", type=int, default=20)
    args = parser.parse_args()
    hid = "vbs" + secrets.token_hex(2)
    topo = loads(TOPOLOGY.format(hid=hid))
    lines: list[str] = []
    started = time.monotonic()
    hn = Honeynet.up(topo, progress=lines.append)
    try:
        up_seconds = round(time.monotonic() - started, 1)
        boot = {m[1]: float(m[2]) for line in lines if (m := re.search(r"guest (\w+): ready after (\d+) s", line))}
        attacker = naming.netns(hid, "attacker")
        probe_ns, veth = naming.netns(hid, "rtt"), naming.veth(hid, VERIFY_PROBE_VETH)
        probe = verify_addresses(topo)[0]
        p = plan(topo)
        hn.backends.net.add_outside_host(probe_ns, p.bridge("int").name, veth,
                                         IPv4Interface(f"{probe}/{topo.networks.honeynet.cidr.prefixlen}"))
        try:
            figures = {}
            for name, address in (("pc", "203.0.113.80"), ("vm", "203.0.113.81")):
                hn.exec(name, ["/bin/sh", "-c", f"head -c {args.megabytes}M /dev/urandom > /var/www/html/big.bin"])
                figures[name] = {
                    "boot_s": boot.get(name),
                    "download_MBps": [download(probe_ns, address) for _ in range(3)],
                    "rtt_through_gateway": pings(attacker, address, args.pings),
                    "rtt_same_bridge": pings(probe_ns, address, args.pings),
                }
                figures[name]["download_MBps_median"] = statistics.median(figures[name]["download_MBps"])
        finally:
            hn.backends.net.delete_netns(probe_ns)
            hn.backends.net.delete_link(veth)
        load = open("/proc/loadavg").read().split()[:3]
        print(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M"), "host": platform.node(), "load": load,
                          "up_s": up_seconds, "honeypots": figures}, indent=2))
    finally:
        hn.down()


if __name__ == "__main__":
    main()
