"""`vhoneynet verify`: prove each data-control layer on the running honeynet.

A probe namespace plugged into the honeynet bridge plays a compromised honeypot: for the
run, its address and MAC (reserved per topology, see `plan.verify_addresses`) join the
gateway's honeypot set, so the gateway treats it like any honeypot. It sends bounded
probe traffic to a sink namespace on the internet side, which counts what arrives. The
host's anti-spoofing layer (nftables at the honeypots' taps) is probed from inside a real
honeypot; its verdict rests on what the host measures (the drop counters of that honeypot's
chain, and the frames seen on the gateway's honeynet tap before the gateway could drop
anything), never on what the honeypot reports.
Then the containment probes: an ICMP echo flood that keeps one echo id (bound by the ICMP
limit), and one connection per exploit payload of the curated rules' test set
(data/rules/payloads.json; the sink is in the allow set meanwhile, so the connection limit
does not hide what the IPS lets through), none of which may arrive intact, and benign
requests, which must. Both namespaces and the probe's ruleset entries are removed afterwards.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from ipaddress import IPv4Address, IPv4Interface

from vhoneynet import hardware, naming
from vhoneynet.backend.process import run_in_netns, spawn
from vhoneynet.backends import Backends, execute
from vhoneynet.errors import (
    AgentUnavailable,
    CommandFailed,
    DataControlFailed,
    VerifyUnavailable,
)
from vhoneynet.gateway.config.disk import rate_bytes, size_bytes
from vhoneynet.gateway.live.control import TABLE, nft, saved_topology
from vhoneynet.plan import (
    VERIFY_PROBE_VETH,
    VERIFY_SINK_VETH,
    fence_target,
    plan,
    verify_addresses,
)
from vhoneynet.topology.model import DEFAULT_STORAGE, Topology

PROBE, SINK = "vprobe", "vsink"
PORTS = {"limits": 7001, "spoofed-ip": 7002, "spoofed-mac": 7003, "throttle": 7004, "ips": 7005,
         "host-spoofed-ip": 7006, "host-spoofed-mac": 7007, "fence": 7008}
MARKER = "VHN-EXPLOIT-TEST"
ECHO_ID = 0x5648  # "VH": the one echo id of the ICMP flood probe
ECHO_FLOOD_OVER = 30  # echo requests sent beyond the ICMP limit
SINK_READ_SECONDS = 3  # containment_sink.py gives up on a silent connection after this
BRUTE_FORCE_ALLOWED = 5  # the curated rules' detection_filter: 5 new SSH/telnet connections a minute


@dataclass
class LayerResult:
    layer: str
    sent: int
    arrived: int
    limit: int
    verdict: str  # pass | fail | skipped
    detail: str = ""


def _script(name: str) -> str:
    return files("vhoneynet").joinpath("data", "probes", name).read_text()


def verify(hid: str, b: Backends, storage=DEFAULT_STORAGE) -> list[LayerResult]:
    """Run every probe against the running honeynet; one result per layer.

    Raises VerifyUnavailable (no isolated internet side), DataControlFailed, HoneynetNotFound.
    """
    topo = saved_topology(hid, storage)
    if topo.networks.internet.mode != "isolated":
        raise VerifyUnavailable(hid, "verify needs an isolated internet side (its sink is plugged in there)")
    p = plan(topo)
    dc = topo.gateway.data_control
    probe, sink, spoofed = verify_addresses(topo)
    prefix = topo.networks.honeynet.cidr.prefixlen
    probe_mac, sink_mac = naming.mac(hid, PROBE), naming.mac(hid, SINK)
    probe_ns, sink_ns = naming.netns(hid, PROBE), naming.netns(hid, SINK)
    probe_veth, sink_veth = naming.veth(hid, VERIFY_PROBE_VETH), naming.veth(hid, VERIFY_SINK_VETH)
    limit = 0 if dc.mode == "roach-motel" else dc.limits.tcp
    throttle_rate = rate_bytes(dc.throttle.rate)
    sent_cfg = {
        "iface": "eth0", "mac": probe_mac, "address": str(probe), "sink": str(sink), "sink_mac": sink_mac,
        "broadcast": str(topo.networks.honeynet.cidr.broadcast_address), "ports": PORTS, "marker": MARKER,
        "spoof_address": str(spoofed), "limit": limit,
        "throttle_pace": min(4_000_000, 4 * throttle_rate),
        "fence_address": str(fence_target(topo)),
        "probes": ["spoofed-ip", "spoofed-mac", *(["fence"] if dc.fence else []),
                   "ping-of-death", "smurf", "ips", "limits", "throttle"],
    }
    element = f"{{ {probe_mac} . {probe} }}"
    try:
        b.net.add_outside_host(sink_ns, p.bridge("ext").name, sink_veth, IPv4Interface(f"{sink}/{prefix}"), mac=sink_mac)
        b.net.add_outside_host(probe_ns, p.bridge("int").name, probe_veth, IPv4Interface(f"{probe}/{prefix}"),
                               mac=probe_mac)
        try:
            nft(hid, b, ["add", "element", *TABLE, "honeypots", element], "admit the verify probe")
            missing = ""
        except DataControlFailed as e:  # no data-control table: probe anyway, the layers will show it
            missing = str(e)
        seconds = 30 + limit
        counter = _counter(sink_ns, "eth0", seconds, probe_mac, [str(probe), str(spoofed)], sent_cfg)
        sent = json.loads(run_in_netns(probe_ns, ["python3", "-c", _script("sender.py"), json.dumps(sent_cfg)],
                                       timeout=seconds).stdout or b"{}")
        host = _host_layer(topo, p, b, sent_cfg, spoofed)
        arrived = _finish(counter, seconds)
        contained = _containment(hid, b, topo, probe, sink, probe_ns, sink_ns)
    finally:
        _cleanup(hid, b, element, probe, (probe_ns, sink_ns), (probe_veth, sink_veth), sink)
    results = _verdicts(topo, sent, arrived, host, limit, throttle_rate)
    results += _containment_verdicts(topo, contained)
    if missing:
        results.insert(0, LayerResult("gateway ruleset", 0, 0, 0, "fail", missing.splitlines()[0][-120:]))
    return results


def _counter(ns: str | None, iface: str, seconds: float, probe_mac: str, sources: list[str], cfg: dict):
    args = {"iface": iface, "seconds": seconds, "probe_mac": probe_mac, "addresses": sources,
            "ports": PORTS, "marker": MARKER, "listen": PORTS["ips"] if ns else 0, "broadcast": cfg["broadcast"]}
    proc = spawn(["python3", "-c", _script("sink.py"), json.dumps(args)], ns)
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready": the raw socket is bound
    return proc


def _finish(proc, seconds: float) -> dict:
    out, _ = proc.communicate(timeout=seconds + 30)
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def _host_layer(topo: Topology, p, b: Backends, cfg: dict, spoofed: IPv4Address) -> dict | None:
    """Spoofed frames sent from inside a honeypot: dropped at its tap (the host table's counters)
    and counted on the gateway's honeynet tap. Only host measurements count: the honeypot may be
    the attacker's, so what it prints about its sending is never read."""
    pot = next((h for h in topo.honeypots if h.agent), None)
    if pot is None:
        return None
    tap = next(n.tap for n in p.gateway.nics if n.role == "int")
    try:
        before = b.fw.honeypot_drops(topo.id, pot.name)
    except CommandFailed as e:  # no anti-spoofing chain for it on the host: the layer is missing
        return {"honeypot": pot.name, "dropped": 0, "arrived": 0, "missing": str(e).splitlines()[0][-120:]}
    counter = _counter(None, tap, 20, "", [str(spoofed), str(pot.address)], cfg)
    pot_cfg = {**cfg, "mac": hardware.mac(topo.id, pot.name, pot.hardware), "address": str(pot.address),
               "ports": {"spoofed-ip": PORTS["host-spoofed-ip"], "spoofed-mac": PORTS["host-spoofed-mac"]},
               "probes": ["spoofed-ip", "spoofed-mac"]}
    try:
        execute(topo.id, pot.name, ["python3", "-c", _script("sender.py"), json.dumps(pot_cfg)], b, timeout=60)
    except AgentUnavailable:
        pass  # then the counters show that nothing was sent
    at_gateway = _finish(counter, 20)
    return {"honeypot": pot.name, "dropped": b.fw.honeypot_drops(topo.id, pot.name) - before,
            "arrived": at_gateway.get("host-spoofed-ip", 0) + at_gateway.get("host-spoofed-mac", 0)}


def _cleanup(hid: str, b: Backends, element: str, probe: IPv4Address, namespaces, veths, sink: IPv4Address) -> None:
    for argv in (["delete", "element", *TABLE, "honeypots", element],
                 ["delete", "element", *TABLE, "allow", f"{{ {sink} }}"],
                 *(["delete", "element", *TABLE, s, f"{{ {probe} }}"]
                   for s in ("limit_tcp", "limit_udp", "limit_icmp", "limit_other", "throttle"))):
        try:
            nft(hid, b, argv, "remove the verify probe")
        except (DataControlFailed, AgentUnavailable):
            pass  # not there (never added, or expired)
    for ns in namespaces:
        b.net.delete_netns(ns)
    for veth in veths:
        b.net.delete_link(veth)


def containment_payloads() -> dict:
    """The curated rules' test payloads by exploit class, and the benign requests (payloads.json)."""
    return json.loads(files("vhoneynet").joinpath("data", "rules", "payloads.json").read_text())


def _containment(hid: str, b: Backends, topo: Topology, probe: IPv4Address, sink: IPv4Address,
                 probe_ns: str, sink_ns: str) -> dict:
    """Send the one-id echo flood, then every exploit payload; return what was sent and what arrived."""
    dc = topo.gateway.data_control
    doc = containment_payloads()
    batch = [{**p, "cls": cls} for cls, items in doc["classes"].items() for p in items]
    batch = [{**p, "connections": BRUTE_FORCE_ALLOWED + 3} if "connections" in p else p
             for p in batch if p["cls"] != "ssh-telnet-brute-force" or p["port"] == 22]
    batch += [{**p, "cls": "benign"} for p in doc["benign"]]
    ports = sorted({p["port"] for p in batch})
    sink_cfg = {"iface": "eth0", "ports": ports, "source": str(probe), "echo_id": ECHO_ID}
    proc = spawn(["python3", "-c", _script("containment_sink.py"), json.dumps(sink_cfg)], sink_ns)
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready": listening, and the echo counter is bound
    echo_count = dc.limits.icmp + ECHO_FLOOD_OVER
    common = {"sink": str(sink), "echo_id": ECHO_ID, "echo_count": echo_count, "payloads": batch}
    rows: list[dict] = []
    try:
        run_in_netns(probe_ns, ["python3", "-c", _script("containment_sender.py"), json.dumps({**common, "phase": "icmp"})],
                     timeout=60)
        if dc.ips.enabled and dc.mode != "roach-motel":
            try:
                nft(hid, b, ["add", "element", *TABLE, "allow", f"{{ {sink} }}"], "exempt the verify sink from the limits")
            except DataControlFailed:
                pass  # no data-control table: the payloads go anyway, and the layer shows what crossed
            out = run_in_netns(probe_ns, ["python3", "-c", _script("containment_sender.py"),
                                          json.dumps({**common, "phase": "exploits"})], timeout=300).stdout
            rows = json.loads(out or b"[]")
        time.sleep(SINK_READ_SECONDS + 1)  # the sink keeps a connection once it closes or stays silent
    finally:
        proc.send_signal(signal.SIGTERM)
        out_text, _ = proc.communicate(timeout=30)
    arrived = json.loads(out_text.strip().splitlines()[-1]) if out_text.strip() else {}
    return {"echo_sent": echo_count, "echo_arrived": arrived.get("echo", 0), "rows": rows, "batch": batch,
            "connections": arrived.get("connections", {})}


def _containment_verdicts(topo: Topology, c: dict) -> list[LayerResult]:
    dc = topo.gateway.data_control
    blocked_icmp = dc.mode == "roach-motel" or dc.icmp == "block"
    limit = 0 if blocked_icmp else dc.limits.icmp
    got = c["echo_arrived"]
    ok = got == 0 if limit == 0 else 0 < got <= limit  # at least one passes: the probe works
    out = [LayerResult("icmp: one-id echo flood", c["echo_sent"], got, limit, "pass" if ok else "fail",
                       "echo requests of one id that reached the sink")]
    if not c["rows"]:
        out.append(LayerResult("inline IPS: exploit classes", 0, 0, 0, "skipped", "IPS disabled or roach-motel"))
        return out
    payload = {(p["cls"], p["name"]): p for p in c["batch"]}
    crossed, benign_lost, classes, brute = set(), [], set(), 0
    for row in c["rows"]:
        p = payload[(row["cls"], row["name"])]
        got_bytes = bytes.fromhex(c["connections"].get(str(row.get("sport")), ""))
        if "connections" in p:
            classes.add(row["cls"])
            brute += str(row.get("sport")) in c["connections"]
            continue
        sent = bytes.fromhex(p["hex"]) if "hex" in p else p["text"].encode()
        if row["cls"] == "benign":
            if got_bytes != sent:
                benign_lost.append(row["name"])
            continue
        classes.add(row["cls"])
        if sent in got_bytes:
            crossed.add(row["cls"])
    if brute > BRUTE_FORCE_ALLOWED:
        crossed.add("ssh-telnet-brute-force")
    ok = not crossed and not benign_lost
    detail = (f"{len(classes) - len(crossed)} of {len(classes)} classes blocked; benign requests passed" if ok else
              "; ".join(filter(None, [crossed and f"crossed intact: {', '.join(sorted(crossed))}",
                                      benign_lost and f"benign requests lost: {', '.join(benign_lost)}"])))
    out.append(LayerResult("inline IPS: exploit classes", len(classes), len(crossed), 0, "pass" if ok else "fail", detail))
    return out


def _verdicts(topo: Topology, sent: dict, arrived: dict, host: dict | None, limit: int, rate: int) -> list[LayerResult]:
    dc = topo.gateway.data_control

    def zero(layer: str, sent_n: int, got: int, detail: str = "") -> LayerResult:
        ok = sent_n > 0 and got == 0
        return LayerResult(layer, sent_n, got, 0, "pass" if ok else "fail", detail if sent_n else "nothing was sent")

    out = [
        zero("anti-spoofing: source address", sent.get("spoofed-ip", 0), arrived.get("spoofed-ip", 0)),
        zero("anti-spoofing: source MAC", sent.get("spoofed-mac", 0), arrived.get("spoofed-mac", 0)),
    ]
    if host is None:
        out.append(LayerResult("anti-spoofing: host (nftables)", 0, 0, 0, "skipped", "no honeypot with an agent"))
    else:
        out.append(_host_verdict(host))
    if dc.fence:
        out.append(zero("fence list", sent.get("fence", 0), arrived.get("fence", 0),
                        f"to {fence_target(topo)}, in the fenced {dc.fence[0]}"))
    else:
        out.append(LayerResult("fence list", 0, 0, 0, "skipped", "no fence list"))
    out += [
        zero("icmp: ping of death", sent.get("ping-of-death", 0), arrived.get("pod", 0)),
        zero("icmp: smurf", sent.get("smurf", 0), arrived.get("smurf", 0)),
    ]
    syn = arrived.get("syn", 0)
    attempts = sent.get("limits", 0)
    if dc.mode == "roach-motel":
        ok = attempts > 0 and syn == 0
    else:
        ok = 0 < syn <= limit  # at least one passes (the probe works), never more than the limit
    out.append(LayerResult(f"connection limit: tcp ({dc.mode})", attempts, syn, limit, "pass" if ok else "fail",
                           "new connections that reached the sink"))
    if dc.throttle.enabled:
        seconds = sent.get("throttle_seconds", 0)
        allowed = int(rate * (seconds + 1) + size_bytes(dc.throttle.burst))
        got = arrived.get("bytes", 0)
        ok = 0 < got <= allowed
        out.append(LayerResult("bandwidth throttle", sent.get("throttle", 0), got, allowed, "pass" if ok else "fail",
                               f"bytes in {seconds:.1f} s at {dc.throttle.rate}"))
    else:
        out.append(LayerResult("bandwidth throttle", 0, 0, 0, "skipped", "throttle disabled"))
    if dc.ips.enabled and dc.mode != "roach-motel" and limit > 0:
        got = arrived.get("marker_stream", 0) + arrived.get("marker_raw", 0)
        clean = arrived.get("clean_stream", 0)
        ok = got == 0 and clean > 0
        detail = "exploit marker dropped, clean connection passed" if ok else (
            f"{got} exploit markers arrived" if got else "clean traffic did not pass the IPS")
        out.append(LayerResult("inline IPS: drop", sent.get("ips", 0), got, 0, "pass" if ok else "fail", detail))
    else:
        out.append(LayerResult("inline IPS: drop", 0, 0, 0, "skipped", "IPS disabled or no outbound connection allowed"))
    return out


def _host_verdict(host: dict) -> LayerResult:
    """Pass when the host's table dropped spoofed frames at the honeypot's tap and none of the
    probe's reached the gateway: both counted on the host, neither told by the honeypot."""
    dropped, arrived = host["dropped"], host["arrived"]
    ok = dropped > 0 and arrived == 0
    detail = (f"from {host['honeypot']}: {dropped} dropped at its tap by the host, {arrived} reached the gateway"
              if dropped else host.get("missing") or
              f"the host saw no spoofed frame from {host['honeypot']}: nothing was proven")
    return LayerResult("anti-spoofing: host (nftables)", dropped, arrived, 0, "pass" if ok else "fail", detail)


def as_dicts(results: list[LayerResult]) -> list[dict]:
    return [asdict(r) for r in results]
