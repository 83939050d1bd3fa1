"""Integration fixtures: real libvirt/qemu honeynets under TCG, each with a unique id.

Tests that need a running honeynet share one per session (xdist group "honeynet"), so
the suite boots it once. Everything is removed in `finally`, captures included.

Honeynets are brought up and down through the Python API (vhoneynet.Honeynet), as the pytest
plugin's `honeynet` fixture does; this `honeynet` fixture overrides the plugin's, for a topology
written per run (unique id, free admin subnet). The commands under test still run through the CLI (`vhn`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest

import vhoneynet
from tests.conftest import unique_id
from vhoneynet import naming
from vhoneynet.errors import HoneynetNotFound, VhoneynetError
from vhoneynet.rundir import RunDir, saved_topologies
from vhoneynet.topology.model import DEFAULT_STORAGE
from vhoneynet.warmstore import WarmStore

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


def ssh_login(h: Honeynet, guest: str, address: str, keydir: Path, outside: str = "attacker") -> list[str]:
    """The argv of an interactive root ssh login from an outside host to `guest` at `address`, by
    a key made in `keydir` (once) and put on the guest for the test."""
    key = keydir / "id"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = (keydir / "id.pub").read_text().strip()
    assert h.sh(guest, f"install -d -m 700 /root/.ssh && echo '{pub}' >> /root/.ssh/authorized_keys").returncode == 0
    return ["ip", "netns", "exec", h.netns(outside), "ssh", "-tt", "-i", str(key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", f"root@{address}"]


def type_over_ssh(login: list[str], lines: list[str], login_seconds: float = 15, pause: float = 2) -> bytes:
    """Type `lines` into an ssh session one by one, as a person would, after waiting for the
    login (slow under TCG); returns what the session printed."""
    ssh = subprocess.Popen(login, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(login_seconds)
        for line in lines:
            ssh.stdin.write(line.encode())
            ssh.stdin.flush()
            time.sleep(pause)
        out, _ = ssh.communicate(timeout=120)
        return out
    finally:
        if ssh.poll() is None:
            ssh.kill()


def progress(message: str) -> None:
    """Progress of `up` and `down` on stderr, as the CLI prints it: pytest shows it with a failure."""
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr)


@dataclass
class Honeynet:
    """A running test honeynet: its API handle and what the tests read of it."""

    api: vhoneynet.Honeynet
    topology: Path  # the topology file
    capture: Path  # the topology's capture directory: this honeynet's captures are in capture / hid
    status: dict  # what `up` returned, as `vhoneynet up --json` prints it (with "timings")

    @property
    def hid(self) -> str:
        return self.api.hid

    def exec(self, guest: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run argv in a guest; as `vhoneynet exec`, a refusal (agent gone, timed out) is exit code 1
        with the error on stderr, not an exception."""
        try:
            return self.api.exec(guest, argv, timeout=timeout)
        except VhoneynetError as e:
            return subprocess.CompletedProcess(list(argv), 1, b"", f"error: {e}\n".encode())

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
        "agent_ports": [p.name for p in naming.AGENT_SOCKETS.glob(f"vhn-{hid}-*")],
    }


@contextmanager
def running(topology: Path, capture: Path) -> Iterator[Honeynet]:
    """The honeynet of `topology` (whose captures go to `capture`) brought up through the Python
    API, and down at the end whatever happened; its captures are kept. A failed `up` removes what
    it made; a failing `down` is a warning, so the test's own verdict stands."""
    hid = json.loads(topology.read_text())["id"]
    try:
        api = vhoneynet.Honeynet.up(topology, progress=progress)
        status = json.loads(json.dumps(api.up_status, default=str))  # what `up --json` prints
        yield Honeynet(api, topology, capture, status)
    finally:
        try:
            vhoneynet.Honeynet(hid, progress=progress).down()
        except HoneynetNotFound:
            pass  # `up` was refused, or removed what it made, or a test brought it down already
        except Exception as e:  # noqa: BLE001 -- a failed clean-up is reported (warnings summary), not made the test's error
            warnings.warn(f"down of test honeynet {hid} failed: {e!r}", stacklevel=1)
        WarmStore(DEFAULT_STORAGE).prune([hid])  # the warm states `up` kept for the next `up` of it


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
        with running(topology, capture) as h:
            yield h
    finally:
        consoles = capture / hid / "consoles"
        if consoles.exists():  # small, and what tells why a guest did not come up
            shutil.move(consoles, work / "consoles")
        shutil.rmtree(capture, ignore_errors=True)


@pytest.fixture(scope="session")
def honeynet(tmp_path_factory: pytest.TempPathFactory):
    """One running honeynet (gateway, DNS and web honeypots, one outside host) for the session."""
    with honeynet_up(tmp_path_factory) as h:
        yield h
