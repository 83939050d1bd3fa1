"""`vhoneynet verify ID --stealth`: the gateway as seen on the wire.

The gateway is a transparent bridge between the internet-side and the honeynet-side host
bridges. A bridge has no address of its own, decrements no TTL, puts no MAC of its own on
the wire and carries only the frames of the hosts on either side. This looks from outside
the gateway: tcpdump on the first outside host's veth (what the internet side sees) and on
a honeypot's tap (what the honeynet sees) while the outside host pings that honeypot, and a
probe on the honeynet bridge pings it too, for a round trip with no gateway in between.
Only hosts the honeynet already has (or `verify`'s reserved probe and sink) send, a few
packets each. What tcpdump printed is judged here, never what a guest says about itself.
"""

from __future__ import annotations

import re
import signal
import statistics
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Interface

from vhoneynet import naming
from vhoneynet.backend.process import run_in_netns, spawn
from vhoneynet.backends import Backends
from vhoneynet.errors import VerifyUnavailable
from vhoneynet.gateway.config.capture import sink_mac
from vhoneynet.gateway.live.verify import PROBE, SINK
from vhoneynet.plan import VERIFY_PROBE_VETH, VERIFY_SINK_VETH, plan, verify_addresses
from vhoneynet.tells import StealthResult, Tell
from vhoneynet.topology.model import Topology

GATEWAY = "gateway"  # the StealthResult's name for the gateway
MAX_FRAMES = 5000  # tcpdump stops there (-c) and the parser too: a busy wire cannot flood the report
MAX_LINE = 2000  # a longer line is no tcpdump header of a frame: ignored
MAX_LISTED = 10  # distinct MACs or addresses listed per tell kind; the rest counted
PINGS = 5
SETTLE_SECONDS = 1.5  # tcpdump opens its socket after it starts; stderr is not read to know when
TIMING_MS = 1.0  # more than this added to a round trip is a tell

_MAC = r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"
# `12:00:01.123456 SRC > DST, ethertype IPv4 (0x0800), length 98: REST` (802.3 frames: `, 802.3, length …`)
_HEADER = re.compile(rf"^(?:\S+\s+)?(?P<src>{_MAC}) > (?P<dst>{_MAC}), "
                     r"(?:ethertype (?P<etype>\S+) \(0x[0-9a-f]{4}\)|(?P<other>[^,]+)), length \d+: ?(?P<rest>.*)$", re.IGNORECASE)
_TTL = re.compile(r"\((?:tos 0x[0-9a-f]+, ttl|hlim) (?P<ttl>\d+),")
_ADDRESSES = re.compile(r"(?P<src>[0-9a-f:.]+) > (?P<dst>[0-9a-f:.]+): (?P<what>.*)$", re.IGNORECASE)
_IPV4 = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})(?:\.\d+)?$")
_ICMP = re.compile(r"\bICMP6?,? (?P<type>[^,]+)")
_RTT = re.compile(r"\bicmp_seq=\d+ ttl=\d+ time=(?P<ms>\d+(?:\.\d+)?) ms")


@dataclass
class Frame:
    src_mac: str
    dst_mac: str
    ethertype: str  # IPv4 | IPv6 | ARP | … (802.3 for frames without one)
    ip_src: str | None = None  # IPv4 without the port; IPv6 as printed
    ip_dst: str | None = None
    ttl: int | None = None  # hop limit for IPv6
    icmp: str | None = None  # echo request | echo reply | time exceeded in-transit | router solicitation | …


def parse_frames(text: str) -> list[Frame]:
    """The frames of `tcpdump -e -n -v` output, at most MAX_FRAMES; junk and overlong lines are ignored.

    A frame starts with a header line (MACs, ethertype, with -v the IP header in parentheses);
    its IP addresses and ICMP type follow on that line (IPv6) or on the first indented line
    (IPv4). Later indented lines (the packet quoted inside an ICMP error) are not the frame's.
    """
    frames: list[Frame] = []
    current: Frame | None = None
    for line in text.splitlines()[:MAX_FRAMES * 20]:
        if len(line) > MAX_LINE:
            continue
        if line[:1].isspace():
            if current is not None and current.ip_src is None:
                _addresses(current, line.strip())
            continue
        header = _HEADER.match(line)
        if header is None:
            current = None  # "listening on …", a tcpdump warning, anything else
            continue
        if len(frames) == MAX_FRAMES:
            break
        current = Frame(header["src"].lower(), header["dst"].lower(), header["etype"] or header["other"].strip())
        frames.append(current)
        rest = header["rest"]
        ttl = _TTL.match(rest)
        if ttl is not None:
            current.ttl = int(ttl["ttl"])
            rest = _after_parentheses(rest)
        if current.ethertype in ("IPv4", "IPv6") and rest:
            _addresses(current, rest)
    return frames


def _after_parentheses(text: str) -> str:
    """What follows the parenthesised IP header at the start of `text` (it nests: `proto ICMP (1)`)."""
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return text[i + 1:].strip()
    return ""


def _addresses(frame: Frame, text: str) -> None:
    found = _ADDRESSES.match(text)
    if found is None:
        return
    src, dst = (_IPV4.match(a) for a in (found["src"], found["dst"]))
    frame.ip_src = src[1] if src else found["src"]
    frame.ip_dst = dst[1] if dst else found["dst"]
    icmp = _ICMP.search(found["what"])
    if icmp is not None:
        frame.icmp = icmp["type"].strip()


def judge_gateway(frames: list[Frame], known_macs: Collection[str] | None, gateway_macs: Collection[str],
                  honeypot_ttl: int | None = 64, *, known_addresses: Collection[str] | None = None,
                  honeypot: str | None = None, log_host_mac: str | None = None, side: str = "") -> list[Tell]:
    """The tells among frames captured next to the gateway, on one side of it.

    - a gateway NIC's MAC (or the log host's, which never sends) as the source of any frame;
    - a source MAC not in `known_macs` (the honeypots', outside hosts', temporary hosts');
      None when strangers may be there (the internet side is a shared bridge);
    - an ICMP time exceeded, or an IPv4 packet from an address not in `known_addresses`
      (None: not judged): something that is not a host answers;
    - echo replies from `honeypot` (any, if None) whose TTL is not `honeypot_ttl`, the TTL
      they had at the honeypot's tap (None: not judged): a hop was added.
    """
    where = f" ({side})" if side else ""
    by_source: dict[str, list[Frame]] = {}
    for f in frames:
        by_source.setdefault(f.src_mac, []).append(f)
    ours = {m.lower() for m in gateway_macs}
    known = None if known_macs is None else {m.lower() for m in known_macs}
    tells: list[Tell] = []
    for mac in sorted(by_source.keys() & ours):
        tells.append(Tell("wire", f"gateway MAC on the wire{where}: {mac} ({_frames(by_source[mac])})"))
    if log_host_mac and log_host_mac.lower() in by_source:
        tells.append(Tell("wire", f"log host MAC on the wire{where}: {log_host_mac.lower()} "
                                  f"({_frames(by_source[log_host_mac.lower()])})"))
    if known is not None:
        strangers = sorted(by_source.keys() - known - ours - {(log_host_mac or "").lower()})
        tells += [Tell("wire", f"unknown MAC on the wire{where}: {mac} ({_frames(by_source[mac])})")
                  for mac in strangers[:MAX_LISTED]]
        if len(strangers) > MAX_LISTED:
            tells.append(Tell("wire", f"and {len(strangers) - MAX_LISTED} more unknown MACs{where}"))
    exceeded = sorted({f.ip_src or "?" for f in frames if (f.icmp or "").startswith("time exceeded")})
    tells += [Tell("hop", f"ICMP time exceeded from {source}{where}") for source in exceeded[:MAX_LISTED]]
    if known_addresses is not None:
        allowed = set(known_addresses) | {"0.0.0.0"} | set(exceeded)  # 0.0.0.0: a DHCP client, not an answer
        unknown = sorted({f.ip_src for f in frames if f.ethertype == "IPv4" and f.ip_src and f.ip_src not in allowed})
        tells += [Tell("address", f"an address no host of the honeynet has sends{where}: {a}")
                  for a in unknown[:MAX_LISTED]]
    if honeypot_ttl is not None:
        hops = sorted({f.ttl for f in frames if f.icmp == "echo reply" and f.ttl is not None
                       and (honeypot is None or f.ip_src == honeypot) and f.ttl != honeypot_ttl})
        if hops:
            tells.append(Tell("hop", f"echo replies{' from ' + honeypot if honeypot else ''} arrive with TTL "
                                     f"{', '.join(map(str, hops))}{where}, {honeypot_ttl} at the honeypot's tap"))
    return tells


def _frames(frames: list[Frame]) -> str:
    what = frames[0].icmp or frames[0].ethertype
    return f"{len(frames)} frame{'s' if len(frames) > 1 else ''}, e.g. {what}"


def reply_ttl(frames: list[Frame], honeypot: str) -> int | None:
    """The TTL of the first echo reply from `honeypot` among `frames` (None if there is none)."""
    return next((f.ttl for f in frames if f.icmp == "echo reply" and f.ip_src == honeypot), None)


def ping_rtts(text: str) -> list[float]:
    """The round-trip times (ms) in iputils ping output, at most PINGS * 4 of them."""
    return [float(m["ms"]) for m in _RTT.finditer(text[:100_000])][:PINGS * 4]


def timing(through: list[float], same_bridge: list[float]) -> tuple[str, Tell | None]:
    """The median round trips as detail, and the residual timing tell when the gateway adds more than TIMING_MS."""
    if not through:
        return "no echo reply crossed the gateway", None
    a = statistics.median(through)
    if not same_bridge:
        return f"rtt through gateway {a:.1f} ms, none on the same bridge", None
    b = statistics.median(same_bridge)
    detail = f"rtt through gateway {a:.1f} ms, same bridge {b:.1f} ms"
    added = a - b
    return detail, Tell("timing", f"the gateway adds {added:.1f} ms to a round trip", residual=True) if added > TIMING_MS else None


def look_at_gateway(topo: Topology, b: Backends) -> StealthResult:
    """Watch both sides of the gateway while a honeypot is pinged through it and beside it.

    Skipped (with the reason) when no honeypot has an address, when no outside host exists and
    the internet side is a shared bridge, or when no address is free for the temporary hosts.
    Raises CommandTimedOut, ToolMissing (tcpdump, ping), LinkError, ResourceConflict (a `verify`
    running at the same time holds the temporary hosts' names).
    """
    hid = topo.id
    p = plan(topo)
    pot = next((h for h in topo.honeypots if h.address is not None), None)
    if pot is None:
        return StealthResult(GATEWAY, "skipped", detail="no honeypot with an address to ping")
    shared = not p.bridge("ext").owned
    if not p.outside and shared:
        return StealthResult(GATEWAY, "skipped", detail="no outside host, and no temporary one is plugged into a shared bridge")
    try:
        probe, sink, _ = verify_addresses(topo)
    except VerifyUnavailable as e:
        return StealthResult(GATEWAY, "skipped", detail=str(e))
    prefix = topo.networks.honeynet.cidr.prefixlen
    target = str(pot.address)
    tap = next(g for g in p.honeypots if g.name == pot.name).nics[0].tap
    probe_ns, probe_veth, probe_mac = naming.netns(hid, PROBE), naming.veth(hid, VERIFY_PROBE_VETH), naming.mac(hid, PROBE)
    temporary = [(probe_ns, probe_veth)]
    if p.outside:
        attacker = p.outside[0]
        attacker_ns, attacker_veth, attacker_mac = attacker.netns, attacker.veth, attacker.mac
    else:
        attacker_ns, attacker_veth, attacker_mac = naming.netns(hid, SINK), naming.veth(hid, VERIFY_SINK_VETH), naming.mac(hid, SINK)
        temporary.append((attacker_ns, attacker_veth))
    watchers: list[subprocess.Popen[str]] = []
    try:
        if not p.outside:
            b.net.add_outside_host(attacker_ns, p.bridge("ext").name, attacker_veth, IPv4Interface(f"{sink}/{prefix}"),
                                   mac=attacker_mac)
        b.net.add_outside_host(probe_ns, p.bridge("int").name, probe_veth, IPv4Interface(f"{probe}/{prefix}"), mac=probe_mac)
        watchers = [spawn(["tcpdump", "-e", "-n", "-v", "-l", "-c", str(MAX_FRAMES), "-i", iface])
                    for iface in (attacker_veth, tap)]
        time.sleep(SETTLE_SECONDS)
        ping = ["ping", "-n", "-c", str(PINGS), "-i", "0.2", "-W", "2", target]
        through = ping_rtts(run_in_netns(attacker_ns, ping, timeout=30).stdout.decode(errors="replace"))
        beside = ping_rtts(run_in_netns(probe_ns, ping, timeout=30).stdout.decode(errors="replace"))
        time.sleep(0.5)  # the last replies reach tcpdump's ring
        internet, honeynet = (parse_frames(_stop(w)) for w in watchers)
    finally:
        for w in watchers:
            if w.poll() is None:
                w.kill()
                w.wait()
        for ns, veth in temporary:
            b.net.delete_netns(ns)
            b.net.delete_link(veth)
    macs = None if shared else {*(g.nics[0].mac for g in p.honeypots), *(o.mac for o in p.outside), probe_mac, attacker_mac}
    addresses = None if shared else {*(str(h.address) for h in topo.honeypots if h.address),
                                     *(str(o.address.ip) for o in p.outside), str(probe), str(sink)}
    gateway_macs = [n.mac for n in p.gateway.nics]
    common = {"known_addresses": addresses, "honeypot": target, "log_host_mac": sink_mac(topo)}
    tap_ttl = reply_ttl(honeynet, target)
    tells = judge_gateway(internet, macs, gateway_macs, tap_ttl, side="internet side", **common)
    tells += judge_gateway(honeynet, macs, gateway_macs, None, side="honeynet side", **common)
    detail, slow = timing(through, beside)
    detail += f"; {pot.name} pinged from {attacker_ns}, {len(internet)} frames seen on the internet side, {len(honeynet)} at its tap"
    if shared:
        detail += "; the internet side is a shared bridge: other hosts' MACs and addresses not judged"
    if slow is not None:
        tells.append(slow)
    if any(not t.residual for t in tells):
        verdict = "fail"
    else:
        verdict = "pass" if through and tap_ttl is not None else "skipped"
    return StealthResult(GATEWAY, verdict, tells, detail)


def _stop(proc: subprocess.Popen[str]) -> str:
    """What tcpdump printed, once it is told to stop (SIGTERM: it flushes and exits)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return out
