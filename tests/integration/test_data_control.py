"""Data control end to end: real floods, spoofing and exploits through the real gateway under TCG.

Shares the session honeynet (xdist group "honeynet"; tcp limit 3, udp 20, icmp 50 per hour,
throttle 1 mbit). Traffic goes only to the test's own outside host or verify's own sink; every
flood is bounded in count and time. Tests that break something put it back in `finally`.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time

import pytest

from tests.integration.conftest import VHONEYNET, Honeynet, in_netns, vhn
from vhoneynet.errors import INVALID

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet")]

ATTACKER = "203.0.113.66"
FLOOD = r"""
import json, socket, struct, sys, time
dst = sys.argv[1]
out = {}
# SYN flood: 200 SYNs from distinct source ports (raw socket; the kernel adds the IP header)
def csum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data)); s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
pseudo = socket.inet_aton(sys.argv[2]) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, 20)
for i in range(200):
    seg = struct.pack("!HHIIBBHHH", 20000 + i, 7100, i, 0, 5 << 4, 0x02, 1024, 0, 0)
    raw.sendto(seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:], (dst, 0))
out["syn"] = 200
# UDP flood: 200 datagrams to 200 ports (200 new flows)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200):
    u.sendto(b"x" * 64, (dst, 7200 + i))
out["udp"] = 200
# ICMP flood: 200 echo requests with 200 identifiers (200 new flows)
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for i in range(200):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x5000 + i, 1) + b"VHN-ICMP-FLOOD"
    ic.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], (dst, 0))
out["icmp"] = 200
# port scan: connect() to 40 ports, 0.5 s each at most
for port in range(7300, 7340):
    c = socket.socket(); c.settimeout(0.5)
    try: c.connect((dst, port))
    except OSError: pass
    c.close()
out["scan"] = 40
print(json.dumps(out))
"""


def _capture(ns: str, seconds: int, path: str) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "timeout", str(seconds), "tcpdump", "-i", "eth0", "-n", "-U",
                             "-w", path, "not arp"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    proc.stderr.readline()  # "listening on eth0"
    return proc


def _count(path: str, bpf: str, field: str = "") -> list[str]:
    r = subprocess.run(["tcpdump", "-r", path, "-n", "-tt", bpf], capture_output=True, text=True)
    return [ln for ln in r.stdout.splitlines() if field in ln]


def test_floods_and_port_scan_from_a_honeypot_stay_within_the_limits(honeynet: Honeynet, tmp_path):
    pcap = str(tmp_path / "attacker.pcap")
    cap = _capture(honeynet.netns("attacker"), 90, pcap)
    try:
        r = honeynet.exec("web", "python3", "-c", FLOOD, ATTACKER, "203.0.113.80", timeout=90)
        assert r.returncode == 0, r.stderr
        time.sleep(2)
    finally:
        cap.terminate()
        cap.wait(10)
    src = "src host 203.0.113.80"
    syn_flows = {ln.split()[2] for ln in _count(pcap, f"{src} and tcp[tcpflags] & tcp-syn != 0 and dst port 7100")}
    udp_flows = {ln.split()[4] for ln in _count(pcap, f"{src} and udp and dst portrange 7200-7399")}
    icmp = _count(pcap, f"{src} and icmp[icmptype] == icmp-echo")
    scan = {ln.split()[4] for ln in _count(pcap, f"{src} and tcp[tcpflags] & tcp-syn != 0 and dst portrange 7300-7339")}
    assert udp_flows and icmp, "nothing crossed at all: the limits would be proven by a dead gateway"
    assert len(syn_flows) + len(scan) <= 3, (syn_flows, scan)  # tcp limit 3 for the whole window
    assert len(udp_flows) <= 20, udp_flows
    assert len(icmp) <= 50, len(icmp)
    total = sum(int(ln.split("length ")[-1]) for ln in _count(pcap, src) if "length " in ln)
    assert total <= 125_000 * 60 + 65_536, total  # never more than the 1 mbit throttle allows
    # inbound still works while the honeypot is over every limit
    ok = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}",
                  "http://203.0.113.80/")
    assert ok.stdout == "200", ok.stderr
    # the compromise indicator and the limit reached are alerts, written by the gateway
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    alerts_file = honeynet.capture / honeynet.hid / "gateway" / day / "alerts.jsonl"
    deadline = time.monotonic() + 20
    kinds: set[str] = set()
    while time.monotonic() < deadline and not {"compromise", "limit-reached"} <= kinds:
        if alerts_file.exists():
            kinds = {a["kind"] for a in map(json.loads, alerts_file.read_text().splitlines()) if a["honeypot"] == "web"}
        time.sleep(1)
    assert {"compromise", "limit-reached"} <= kinds, kinds


UDP_ONCE = "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'vhn', (sys.argv[1], 7599))"


def test_control_shows_counters_and_changes_limits_live(honeynet: Honeynet):
    # one new UDP flow of our own, so the counter is not left to the order the tests run in
    r = honeynet.exec("web", "python3", "-c", UDP_ONCE, ATTACKER, timeout=30)
    assert r.returncode == 0, r.stderr
    before = json.loads(vhn("control", honeynet.hid, "--json").stdout)
    assert before["honeypots"]["web"]["tcp"]["limit"] == 3
    assert before["honeypots"]["web"]["udp"]["new"] >= 1
    try:
        vhn("control", honeynet.hid, "set", "udp=7")
        after = json.loads(vhn("control", honeynet.hid, "--json").stdout)
        assert after["honeypots"]["web"]["udp"]["limit"] == 7
        assert after["honeypots"]["web"]["udp"]["new"] >= before["honeypots"]["web"]["udp"]["new"]  # counters kept
        bad = vhn("control", honeynet.hid, "set", "udp=lots", check=False)
        assert bad.returncode == INVALID and "whole number" in bad.stderr.decode()
    finally:
        vhn("control", honeynet.hid, "set", "udp=20")


SINK = r"""
import json, socket, sys, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(8); srv.settimeout(1)
print("ready", flush=True)
got, end = [], time.time() + float(sys.argv[2])
while time.time() < end:
    try: conn, _ = srv.accept()
    except socket.timeout: continue
    conn.settimeout(4); data = b""
    try:
        while chunk := conn.recv(4096): data += chunk
    except OSError: pass
    got.append(data.decode(errors="replace")); conn.close()
print(json.dumps(got), flush=True)
"""
EXPLOITS = r"""
import json, socket, sys, time
out = {}
for name, lines in (("cripple", [b"hello\n", b"run VHN-CRIPPLE-TEST now\n", b"still here\n"]),
                    ("drop", [b"hello\n", b"run VHN-EXPLOIT-TEST now\n", b"after\n"]),
                    ("reject", [b"hello\n", b"run VHN-REJECT-TEST now\n"] + [b"more\n"] * 30)):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    started, result = time.time(), "open"
    try:
        for line in lines:
            s.sendall(line); time.sleep(0.2)
    except OSError as e:
        result = type(e).__name__
    out[name] = {"result": result, "seconds": round(time.time() - started, 2)}
    s.close(); time.sleep(1)
print(json.dumps(out))
"""


def test_outbound_exploits_are_crippled_dropped_or_reset(honeynet: Honeynet):
    port = 7610
    sink = subprocess.Popen(["ip", "netns", "exec", honeynet.netns("attacker"), "python3", "-c", SINK, str(port), "40"],
                            stdout=subprocess.PIPE, text=True)
    vhn("control", honeynet.hid, "set", "tcp=50")  # room for three connections, whatever ran before
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        r = honeynet.exec("web", "python3", "-c", EXPLOITS, ATTACKER, str(port), timeout=60)
        assert r.returncode == 0, r.stderr
        sent = json.loads(r.stdout)
        received = json.loads(sink.communicate(timeout=60)[0].splitlines()[-1])
    finally:
        sink.kill()
        vhn("control", honeynet.hid, "set", "tcp=3")
    arrived = "".join(received)
    assert "run VHN-CRIPPLED-XXX now" in arrived and "still here" in arrived  # replace: crippled, session goes on
    assert "VHN-CRIPPLE-TEST" not in arrived
    assert "VHN-EXPLOIT-TEST" not in arrived and "after" not in arrived  # drop: the flow stops at the exploit
    assert "VHN-REJECT-TEST" not in arrived
    assert sent["reject"]["result"] == "ConnectionResetError", sent  # reject: the honeypot gets a reset
    assert sent["cripple"]["result"] == "open", sent


LOCKDOWN_SENDER = r"""
import socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + float(sys.argv[2])
i = 0
while time.time() < end:
    u.sendto(b"tick %d" % i, (sys.argv[1], 7400)); i += 1; time.sleep(0.02)
"""


def test_lockdown_stops_outbound_within_a_second_and_unlock_restores_it(honeynet: Honeynet, tmp_path):
    from vhoneynet.backends import Backends
    from vhoneynet.gateway.live import control

    b = Backends.for_host()
    pcap = str(tmp_path / "lock.pcap")
    cap = _capture(honeynet.netns("attacker"), 60, pcap)
    sender = subprocess.Popen([*VHONEYNET, "exec", honeynet.hid, "dns", "--timeout", "90", "--",
                               "python3", "-c", LOCKDOWN_SENDER, ATTACKER, "40"])
    try:
        time.sleep(10)
        locked_at = time.time()
        took = control.lockdown(honeynet.hid, b)
        time.sleep(3)
        assert json.loads(vhn("control", honeynet.hid, "--json").stdout)["lockdown"] is True
        control.unlock(honeynet.hid, b)
        sender.wait(120)
        time.sleep(1)
    finally:
        control.unlock(honeynet.hid, b)
        sender.kill()
        cap.terminate()
        cap.wait(10)
    stamps = [float(ln.split()[0]) for ln in _count(pcap, "udp and dst port 7400")]
    before = [t for t in stamps if t < locked_at]
    during = [t for t in stamps if locked_at + 1.0 < t < locked_at + 3]
    assert before, "nothing crossed before the lockdown"
    assert took < 1.0, took
    assert not during, f"{len(during)} packets crossed more than 1 s after lockdown"
    assert max(t for t in stamps if t < locked_at + 3) - locked_at < 1.0
    assert any(t > locked_at + 3 for t in stamps), "nothing crossed after unlock"


def test_live_changes_survive_a_gateway_reboot(honeynet: Honeynet):
    vhn("control", honeynet.hid, "set", "udp=7")
    vhn("lockdown", honeynet.hid)
    try:
        honeynet.sh("gateway", "(sleep 1; reboot) > /dev/null 2>&1 &")
        time.sleep(10)
        deadline, state = time.monotonic() + 600, None
        while time.monotonic() < deadline:
            r = vhn("control", honeynet.hid, "--json", check=False, timeout=60)
            state = json.loads(r.stdout) if r.returncode == 0 else None
            # the counting chains exist once the gateway's start script has loaded the ruleset again
            if state and state["honeypots"]["web"]["udp"]["limit"] == 7:
                break
            time.sleep(5)
        assert state and state["honeypots"]["web"]["udp"]["limit"] == 7, state
        locked = honeynet.exec("gateway", "nft", "list", "set", "bridge", "vhn", "lockdown")
        assert "203.0.113.0/24" in locked.stdout.decode(), locked.stdout  # the gateway's own lockdown came back
    finally:
        vhn("unlock", honeynet.hid, check=False)
        vhn("control", honeynet.hid, "set", "udp=20", check=False)
    deadline = time.monotonic() + 300
    while True:  # inbound answers again once the gateway has joined its ports
        ok = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}",
                      "http://203.0.113.80/")
        if ok.stdout == "200" or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert ok.stdout == "200", ok.stderr
    assert "udp 20/hour" in honeynet.exec("gateway", "nft", "list", "chain", "bridge", "vhn", "new_udp").stdout.decode()
    # the gateway's own copy of its ruleset (loaded at boot from the config disk) follows the live changes
    kept = honeynet.exec("gateway", "cat", "/run/vhn/config/ruleset.nft").stdout.decode()
    assert "udp 20/hour" in kept and "203.0.113.0/24" not in kept.split("set lockdown")[1].split("}")[0], kept


def test_stopped_gateway_lets_nothing_cross(honeynet: Honeynet):
    domain = f"vhn-{honeynet.hid}-gateway"
    subprocess.run(["virsh", "-c", "qemu:///system", "suspend", domain], check=True, capture_output=True)
    try:
        inbound = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "5", "http://203.0.113.80/")
        ping = in_netns(honeynet.netns("attacker"), "ping", "-c", "3", "-W", "1", "203.0.113.53")
        assert inbound.returncode != 0 and " 0 received" in ping.stdout, (inbound, ping.stdout)
    finally:
        subprocess.run(["virsh", "-c", "qemu:///system", "resume", domain], capture_output=True)
    again = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://203.0.113.80/")
    assert again.stdout == "200", again.stderr


def test_dead_ips_stops_what_honeypots_send_and_its_watchdog_starts_it_again(honeynet: Honeynet, tmp_path):
    started = "grep -c 'Engine started' /run/vhn/ids/suricata-outbound.log"
    starts = int(honeynet.sh("gateway", started).stdout or 0)
    pcap = str(tmp_path / "dead-ips.pcap")
    kill = "touch /run/vhn/ips-hold && kill -9 $(cat /run/vhn/suricata-outbound.pid)"
    cap = None
    try:  # the watchdog is held while we look, then let go
        assert honeynet.sh("gateway", kill).returncode == 0
        # listening starts once the IPS is dead: a late packet of an earlier test's connection,
        # judged before the kill, is not one that crossed without it
        cap = _capture(honeynet.netns("attacker"), 60, pcap)
        r = honeynet.exec("web", "python3", "-c", UDP_ONCE, ATTACKER, timeout=30)
        assert r.returncode == 0, r.stderr
        inbound = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "5", "http://203.0.113.80/")
        time.sleep(2)
    finally:
        if cap is not None:
            cap.terminate()
            cap.wait(10)
        honeynet.sh("gateway", "rm -f /run/vhn/ips-hold")
    # fail closed: neither the honeypot's datagram nor its answers to the inbound connection left
    assert not _count(pcap, "src host 203.0.113.80"), "a honeypot's packet crossed with no IPS reading the queue"
    assert inbound.returncode != 0
    # the gateway's capture still has both: the inbound SYN and the stopped datagram
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    captured = "".join(subprocess.run(["tcpdump", "-r", str(f), "-n", "udp dst port 7599 or tcp dst port 80"],
                                      capture_output=True, text=True).stdout
                       for f in sorted((honeynet.capture / honeynet.hid / "gateway" / day / "pcap").iterdir()))
    assert "203.0.113.66.7599" in captured and "203.0.113.80.80" in captured
    # the watchdog starts it again, and the honeypot answers again
    deadline = time.monotonic() + 180
    while int(honeynet.sh("gateway", started).stdout or 0) <= starts:
        assert time.monotonic() < deadline, "the watchdog did not start suricata again"
        time.sleep(3)
    again = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://203.0.113.80/")
    assert again.stdout == "200", again.stderr


def test_rendered_ruleset_and_suricata_config_pass_their_validators_in_the_gateway(honeynet: Honeynet):
    nft = honeynet.exec("gateway", "nft", "-c", "-f", "/run/vhn/config/ruleset.nft")
    assert nft.returncode == 0, nft.stderr
    for direction, mode in (("outbound", ["-q", "0"]), ("inbound", ["--pcap=ext"])):
        r = honeynet.exec("gateway", "suricata", "-T", "-c", f"/run/vhn/config/suricata-{direction}.yaml", *mode,
                          "-l", "/tmp", timeout=180)
        assert r.returncode == 0, r.stdout.decode()[-2000:] + r.stderr.decode()[-2000:]


def test_verify_passes_when_healthy_and_fails_when_the_ruleset_is_flushed(honeynet: Honeynet):
    def tables() -> list[str]:  # the host's nft tables but other honeynets' (tests beside this one come and go)
        lines = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout.splitlines()
        return [t for t in lines if " vhn_" not in t or t.endswith(f"vhn_{honeynet.hid}")]

    tables_before = tables()
    healthy = vhn("verify", honeynet.hid, "--json", check=False, timeout=300)
    report = json.loads(healthy.stdout)
    assert healthy.returncode == 0 and report["ok"], json.dumps(report, indent=1)
    verdicts = {layer["layer"]: layer["verdict"] for layer in report["layers"]}
    assert set(verdicts.values()) == {"pass"}, verdicts
    assert "fence list" in verdicts  # the session honeynet fences 192.0.2.0/24
    # verify leaves nothing behind: no new host table (the honeynet's own vhn_<id> stays), no probe namespace
    assert tables() == tables_before
    assert not [n for n in subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout.split()
                if n.startswith(f"vhn-{honeynet.hid}-v")]
    r = honeynet.exec("gateway", "nft", "flush", "ruleset")
    assert r.returncode == 0
    try:
        broken = vhn("verify", honeynet.hid, "--json", check=False, timeout=300)
        report = json.loads(broken.stdout)
        failed = {layer["layer"] for layer in report["layers"] if layer["verdict"] == "fail"}
        assert broken.returncode == 1 and not report["ok"]
        assert {"anti-spoofing: source address", "inline IPS: drop", "fence list"} <= failed, failed
        assert "anti-spoofing: host (nftables)" not in failed  # the host's layer holds on its own
    finally:
        for f in ("ruleset.nft", "capture.nft"):
            honeynet.exec("gateway", "nft", "-f", f"/run/vhn/config/{f}")
