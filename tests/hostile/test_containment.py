"""Containment played from inside a honeypot, through the real gateway under TCG.

One honeynet (gateway, one honeypot, one outside host) for the module. The honeypot sends
every exploit payload of vhoneynet/data/rules/payloads.json, one connection each, to a
listener in the outside host's namespace, which must never receive one intact; the benign
requests must arrive whole. An ICMP flood that keeps one echo id must be bound by the ICMP
limit. Traffic goes only to the test's own outside host; every flood is bounded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from importlib.resources import files

import pytest

from tests.conftest import unique_id
from tests.integration.conftest import (
    REAL_GUESTS,
    Honeynet,
    free_admin_octet,
    honeynet_up,
    topology_text,
    vhn,
)

pytestmark = [*REAL_GUESTS, pytest.mark.xdist_group("containment")]

ATTACKER = "203.0.113.66"
HONEYPOT = {"name": "dns", "image": "linux-dns", "address": "203.0.113.53"}
ICMP_LIMIT = 50  # the test topology's icmp limit per hour
BRUTE_FORCE_ALLOWED = 5  # the curated rule's detection_filter: count 5 a minute

# In the honeypot (stdlib only): one connection per payload; print what each connection was.
SENDER = r"""
import json, socket, sys, time
dst, payloads = sys.argv[1], json.loads(sys.argv[2])
out = []
for p in payloads:
    for _ in range(p.get("connections", 1)):
        s = socket.socket(); s.settimeout(2)
        row = {"cls": p["cls"], "name": p["name"], "port": p["port"]}
        try:
            s.connect((dst, p["port"]))
            row["sport"] = s.getsockname()[1]
            if "connections" not in p:
                s.sendall(bytes.fromhex(p["hex"]) if "hex" in p else p["text"].encode())
                time.sleep(0.4)
            row["result"] = "open"
        except OSError as e:
            row["result"] = type(e).__name__
        s.close()
        out.append(row)
print(json.dumps(out))
"""

# In the outside host's namespace: accept on each port, keep what each connection sent, by
# its source port; print it all as JSON on SIGTERM.
LISTENER = r"""
import json, signal, socket, sys, threading
got = {}
def serve(srv):
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=read, args=(conn, peer[1]), daemon=True).start()
def read(conn, sport):
    conn.settimeout(5)
    data = b""
    try:
        while len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    got[sport] = data.hex()
    conn.close()
for port in map(int, sys.argv[1].split(",")):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port)); srv.listen(64)
    threading.Thread(target=serve, args=(srv,), daemon=True).start()
def stop(*_):
    print(json.dumps(got), flush=True); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
signal.pause()
"""

# In the honeypot: echo requests that all keep one echo id (what `ping -f` sends), paced 5 ms.
ICMP_FLOOD = r"""
import socket, struct, sys, time
def csum(d):
    s = sum(struct.unpack("!%dH" % (len(d) // 2), d)); s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
n = int(sys.argv[2])
for seq in range(n):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + b"VHN-ONE-ID-FLOOD"
    ic.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], (sys.argv[1], 0))
    time.sleep(0.005)
print(n)
"""


def payloads() -> dict:
    return json.loads(files("vhoneynet").joinpath("data", "rules", "payloads.json").read_text())


@pytest.fixture(scope="module")
def honeynet(tmp_path_factory):
    with honeynet_up(tmp_path_factory, honeypots=[HONEYPOT]) as h:
        yield h


def test_the_gateway_suricata_accepts_the_rules_it_loads(honeynet: Honeynet):
    r = honeynet.exec("gateway", "/bin/sh", "/run/vhn/config/check-rules.sh", timeout=120)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    r = honeynet.exec("gateway", "suricata", "-T", "-c", "/run/vhn/config/suricata-outbound.yaml", "-q", "0",
                      "-k", "none", "-l", "/tmp", "-S", "/run/vhn/config/honeynet.rules", timeout=120)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_an_icmp_flood_of_one_echo_id_is_bound_by_the_limit(honeynet: Honeynet, tmp_path):
    sent = 300
    pcap = str(tmp_path / "icmp.pcap")
    cap = subprocess.Popen(["ip", "netns", "exec", honeynet.netns("attacker"), "timeout", "60", "tcpdump", "-i", "eth0",
                            "-n", "-U", "-w", pcap, "icmp"], stderr=subprocess.PIPE, text=True)
    try:
        assert cap.stderr is not None
        cap.stderr.readline()  # "listening on eth0"
        r = honeynet.exec(HONEYPOT["name"], "python3", "-c", ICMP_FLOOD, ATTACKER, str(sent), timeout=60)
        assert r.returncode == 0, r.stderr
        time.sleep(2)
    finally:
        cap.terminate()
        cap.wait(10)
    seen = subprocess.run(["tcpdump", "-r", pcap, "-n", f"src host {HONEYPOT['address']} and icmp[icmptype] == icmp-echo"],
                          capture_output=True, text=True).stdout.splitlines()
    counters = json.loads(vhn("control", honeynet.hid, "--json").stdout)["honeypots"][HONEYPOT["name"]]["icmp"]
    print(f"icmp one-id flood: sent {sent}, passed {len(seen)}, limit {ICMP_LIMIT}/hour, counters {counters}")
    assert 0 < len(seen) <= ICMP_LIMIT, len(seen)  # the limit binds, and the probe is not a dead gateway
    # `control` reads it right: every request counted, those over the limit counted as limited
    assert counters["new"] >= sent and counters["limited"] >= sent - ICMP_LIMIT and counters["limit"] == ICMP_LIMIT


def test_every_exploit_class_is_dropped_or_crippled_and_benign_traffic_passes(honeynet: Honeynet):
    doc = payloads()
    batch = [{**p, "cls": cls} for cls, items in doc["classes"].items() for p in items]
    batch += [{**p, "cls": "benign"} for p in doc["benign"]]
    ports = sorted({p["port"] for p in batch})
    listener = subprocess.Popen(["ip", "netns", "exec", honeynet.netns("attacker"), "python3", "-c", LISTENER,
                                 ",".join(map(str, ports))], stdout=subprocess.PIPE, text=True)
    try:
        vhn("control", honeynet.hid, "set", "tcp=1000")  # one connection per payload: room for all of them
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        r = honeynet.exec(HONEYPOT["name"], "python3", "-c", SENDER, ATTACKER, json.dumps(batch), timeout=300)
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        time.sleep(6)  # the listener's reads time out after 5 s of silence
        listener.send_signal(signal.SIGTERM)
        received = {int(k): bytes.fromhex(v) for k, v in json.loads(listener.communicate(timeout=30)[0]).items()}
    finally:
        listener.kill()
        vhn("control", honeynet.hid, "set", "tcp=3")
    by_payload = {(p["cls"], p["name"]): p for p in batch}
    intact, blocked, benign_lost = [], {}, []
    brute = 0
    for row in rows:
        p = by_payload[(row["cls"], row["name"])]
        if "connections" in p:
            brute += row.get("sport") in received
            continue
        sent = bytes.fromhex(p["hex"]) if "hex" in p else p["text"].encode()
        got = received.get(row.get("sport"), b"")
        if row["cls"] == "benign":
            if got != sent:
                benign_lost.append(row["name"])
        elif sent in got:
            intact.append(f"{row['cls']}: {row['name']}")
        else:
            blocked.setdefault(row["cls"], []).append(row["name"])
    classes = set(doc["classes"]) - {"ssh-telnet-brute-force"}
    print(f"exploit classes sent {len(classes) + 1}, blocked {len(blocked) + (brute <= BRUTE_FORCE_ALLOWED)}; "
          f"payloads blocked {sum(map(len, blocked.values()))}; brute-force connections accepted {brute}")
    assert not intact, intact
    assert not benign_lost, benign_lost
    assert set(blocked) == classes
    assert 0 < brute <= BRUTE_FORCE_ALLOWED, brute  # the first few pass, the burst does not


def test_a_rule_file_suricata_rejects_fails_up_naming_the_field_and_line(tmp_path):
    hid = unique_id()
    rules = tmp_path / "mine.rules"
    rules.write_text('alert tcp any any -> any 7 (msg:"fine"; sid:8000001;)\n'
                     'drop tcp any any -> any 8 (msg:"typo"; content:"x"; nocasex; sid:8000002;)\n')
    topo = json.loads(topology_text(hid, tmp_path / "captures", admin_octet=free_admin_octet(hid), honeypots=[HONEYPOT]))
    topo["gateway"]["data_control"]["ips"] = {"rule_files": [str(rules)]}
    path = tmp_path / "topology.yml"
    path.write_text(json.dumps(topo))
    try:
        r = vhn("up", str(path), check=False)
    finally:
        vhn("down", hid, check=False)
    out = " ".join((r.stdout.decode() + r.stderr.decode()).split())  # as one line, whatever the terminal wrapped
    assert r.returncode != 0, out
    assert "gateway.data_control.ips.rule_files[0] at line 2" in out and "nocasex" in out, out


def test_verify_reports_the_one_id_flood_and_the_exploit_classes(honeynet: Honeynet):
    r = vhn("verify", honeynet.hid, "--json", check=False, timeout=900)
    layers = {layer["layer"]: layer for layer in json.loads(r.stdout)["layers"]}
    for layer in layers.values():
        print(f"verify: {layer['layer']}: sent {layer['sent']}, arrived {layer['arrived']}, limit {layer['limit']}, "
              f"{layer['verdict']} ({layer['detail']})")
    flood, exploits = layers["icmp: one-id echo flood"], layers["inline IPS: exploit classes"]
    assert flood["verdict"] == "pass" and 0 < flood["arrived"] <= ICMP_LIMIT < flood["sent"], flood
    assert exploits["verdict"] == "pass" and exploits["sent"] == len(payloads()["classes"]), exploits
