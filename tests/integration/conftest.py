"""Integration fixtures: real libvirt/qemu honeynets under TCG, each with a unique id.

Tests that need a running honeynet share one per session (xdist group "honeynet"), so
the suite boots it once. Everything is removed in `finally`, captures included.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from tests.conftest import unique_id
from vhoneynet.rundir import RunDir, saved_topologies
from vhoneynet.topology.model import DEFAULT_STORAGE

VHONEYNET = [sys.executable, "-m", "vhoneynet"]
# The marks of a module whose tests boot real guests.
REAL_GUESTS = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow,
               pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def vhn(*args: str, check: bool = True, timeout: float = 1200, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI; raise with its output when `check` and it fails."""
    proc = subprocess.run([*VHONEYNET, *args], capture_output=True, timeout=timeout, input=stdin)
    if check and proc.returncode != 0:
        raise AssertionError(f"vhoneynet {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout.decode()}\n{proc.stderr.decode()}")
    return proc


def in_netns(ns: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


@dataclass
class Honeynet:
    hid: str
    topology: Path
    capture: Path
    status: dict

    def exec(self, guest: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return vhn("exec", self.hid, guest, "--timeout", str(timeout), "--", *argv, check=False, timeout=timeout + 30)

    def sh(self, guest: str, script: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.exec(guest, "/bin/bash", "-c", script, timeout=timeout)

    def netns(self, host: str) -> str:
        return f"vhn-{self.hid}-{host}"

    def address(self, name: str) -> str:
        for node in self.status["guests"] + self.status.get("outside", []):
            if node["name"] == name:
                return node["address"]
        raise KeyError(name)


DEMO_HONEYPOTS = [
    {"name": "dns", "image": "linux-dns", "address": "203.0.113.53"},
    # qemu's own identity, so `verify --stealth` has a plain guest to find tells on (test_stealth.py)
    {"name": "web", "image": "linux-web", "address": "203.0.113.80", "hardware": "virtual"},
]


def topology_text(hid: str, capture: Path, admin_octet: int, tcp_limit: int = 3,
                  honeypots: list[dict] | None = None) -> str:
    """A test topology (JSON is YAML) shaped like the demo, with its own id and admin subnet."""
    return json.dumps({
        "id": hid,
        "networks": {"honeynet": {"cidr": "203.0.113.0/24", "domain": "corp.example"},
                     "admin": {"cidr": f"10.254.{admin_octet}.0/29"}},
        "gateway": {"memory": 384,
                    "data_control": {"limits": {"tcp": tcp_limit, "udp": 20, "icmp": 50, "other": 10, "window": "hour"},
                                     "fence": ["192.0.2.0/24"]},
                    "capture": {"directory": str(capture)}},
        "defaults": {"memory": 384},
        "honeypots": DEMO_HONEYPOTS if honeypots is None else honeypots,
        "outside": [{"name": "attacker", "address": "203.0.113.66"}],
    }, indent=2)


def free_admin_octet(hid: str, octets: range = range(20, 220)) -> int:
    """An octet o of `octets` whose admin subnet 10.254.o.0/29 no honeynet on this host has,
    the first such from where the id points, so tests running side by side do not collide."""
    taken = [t.networks.admin.cidr for t in saved_topologies(DEFAULT_STORAGE).values()]
    start = int(hid[1:], 16) % len(octets)
    for o in [*octets[start:], *octets[:start]]:
        if not any(IPv4Network(f"10.254.{o}.0/29").overlaps(cidr) for cidr in taken):
            return o
    raise RuntimeError(f"no free admin subnet among 10.254.{octets.start}-{octets.stop - 1}.0/29")


def leftovers(hid: str) -> dict[str, list[str]]:
    """Everything on the host that still carries this honeynet id."""
    def lines(*argv: str) -> list[str]:
        return subprocess.run(argv, capture_output=True, text=True).stdout.split()

    return {
        "domains": [d for d in lines("virsh", "-c", "qemu:///system", "list", "--all", "--name") if d.startswith(f"vhn-{hid}-")],
        "pools": [p for p in lines("virsh", "-c", "qemu:///system", "pool-list", "--all", "--name") if p == f"vhn-{hid}"],
        "links": [ln.split("@")[0] for ln in lines("ip", "-o", "-br", "link") if ln.startswith(f"vhn{hid}-")],
        "netns": [n for n in lines("ip", "netns", "list") if n.startswith(f"vhn-{hid}-")],
        "nft": [t for t in lines("nft", "list", "tables") if t == f"vhn_{hid}"],
        "run_dir": [str(p) for p in [RunDir(DEFAULT_STORAGE, hid).path] if p.exists()],
    }


@contextmanager
def honeynet_up(tmp_path_factory: pytest.TempPathFactory, honeypots: list[dict] | None = None,
                admin_octets: range = range(20, 220)) -> Iterator[Honeynet]:
    """A running test honeynet (unique id; admin subnet 10.254.<one of admin_octets>.0/29), removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    hid = unique_id()
    work = tmp_path_factory.mktemp(hid)
    capture = work / "captures"
    topology = work / "topology.yml"
    topology.write_text(topology_text(hid, capture, admin_octet=free_admin_octet(hid, admin_octets),
                                      honeypots=honeypots))
    try:
        status = json.loads(vhn("up", str(topology), "--json").stdout)
        yield Honeynet(hid, topology, capture, status)
    finally:
        vhn("down", hid, check=False)
        consoles = capture / hid / "consoles"
        if consoles.exists():  # small, and what tells why a guest did not come up
            shutil.move(consoles, work / "consoles")
        shutil.rmtree(capture, ignore_errors=True)


@pytest.fixture(scope="session")
def honeynet(tmp_path_factory: pytest.TempPathFactory):
    """One running honeynet (gateway, DNS and web honeypots, one outside host) for the session."""
    with honeynet_up(tmp_path_factory) as h:
        yield h
