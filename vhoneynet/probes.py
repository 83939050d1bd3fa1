"""Service probes: does a honeypot's service answer a real client on the internet side?

`up` and `reset` wait for the console (cloud-init done), then for every service in the
image's metadata (`BuiltImage.services`) to answer from an outside host: a DNS query, an
HTTP GET, a banner (SSH, SMTP, MySQL) or a TCP connect. The client runs in a network
namespace on the internet bridge — the topology's first outside host, or a temporary one
(`vhn-<id>-probe`) removed again afterwards — so the probe takes the attacker's path through
the gateway and the host itself never speaks into the honeynet.

The client is vhoneynet/probe_client.py (standard library only, so it starts fast).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Interface

from vhoneynet import naming
from vhoneynet.backend.process import run_in_netns
from vhoneynet.errors import CommandTimedOut
from vhoneynet.images import Service
from vhoneynet.plan import SERVICE_PROBE_VETH

PROBE_HOST = "probe"
BANNER_SERVICES = {"ssh", "smtp", "mysql", "ftp", "pop3", "imap"}
ATTEMPT_SECONDS = 3.0  # one try of a client; see probe_client.py


@dataclass(frozen=True)
class Probe:
    """One service of one honeypot, checked with the client `kind`."""

    guest: str
    service: str
    kind: str  # dns | http | banner | connect
    address: str
    port: int

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "vhoneynet.probe_client", self.kind, self.address, str(self.port)]

    def __str__(self) -> str:
        return f"{self.service} {self.address}:{self.port}"


def probes_for(guest: str, address: str, services: tuple[Service, ...]) -> list[Probe]:
    """The probes that show a guest's services answer (UDP only for DNS: nothing else answers reliably)."""
    out = []
    for s in services:
        if s.proto == "udp":
            if s.name == "dns":
                out.append(Probe(guest, s.name, "dns", address, s.port))
        elif s.name == "http":
            out.append(Probe(guest, s.name, "http", address, s.port))
        elif s.name in BANNER_SERVICES:
            out.append(Probe(guest, s.name, "banner", address, s.port))
        else:
            out.append(Probe(guest, s.name, "connect", address, s.port))
    return out


class ProbeSource:
    """Runs probe clients in one network namespace on the honeynet's internet side."""

    def __init__(self, netns: str):
        self.netns = netns

    def answers(self, probe: Probe) -> bool:
        try:
            proc = run_in_netns(self.netns, probe.argv(), timeout=ATTEMPT_SECONDS + 5)
        except CommandTimedOut:
            return False
        return proc.returncode == 0


@contextmanager
def probe_source(hid: str, outside: list[str], net, ext_bridge: str, free: IPv4Interface | None) -> Iterator[ProbeSource | None]:
    """A namespace to probe from: the first outside host, else a temporary one at `free`.

    Yields None when there is neither (probes are skipped then).
    """
    if outside:
        yield ProbeSource(naming.netns(hid, outside[0]))
        return
    if free is None:
        yield None
        return
    ns, veth = naming.netns(hid, PROBE_HOST), naming.veth(hid, SERVICE_PROBE_VETH)
    net.add_outside_host(ns, ext_bridge, veth, free, mac=naming.mac(hid, PROBE_HOST))
    try:
        yield ProbeSource(ns)
    finally:
        net.delete_netns(ns)
        net.delete_link(veth)
