"""End to end: a real honeynet under TCG, real packets through the real gateway.

Every test here shares the session's honeynet (xdist group "honeynet": one worker, one boot).
"""

from __future__ import annotations

import datetime
import glob
import json
import socket
import subprocess
import time

import pytest

from tests.integration.conftest import Honeynet, in_netns, vhn

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet")]

SINK_PORT = 9000


def test_status_json_names_guests_networks_and_capture(honeynet: Honeynet):
    s = json.loads(vhn("status", honeynet.hid, "--json").stdout)
    guests = {g["name"]: g for g in s["guests"]}
    assert set(guests) == {"gateway", "dns", "web"}
    assert all(g["state"] == "running" for g in guests.values())
    assert guests["web"]["address"] == "203.0.113.80"
    nets = s["networks"]
    assert nets["internet"]["bridge"] == f"vhn{honeynet.hid}-ext" and nets["internet"]["present"]
    assert nets["honeynet"]["cidr"] == "203.0.113.0/24"
    assert nets["admin"]["bridge"] == f"vhn{honeynet.hid}-adm"
    assert s["capture_dir"] == str(honeynet.capture / honeynet.hid)
    assert honeynet.hid in [row["id"] for row in json.loads(vhn("list", "--json").stdout)]


def test_outside_host_reaches_the_web_honeypot(honeynet: Honeynet):
    r = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://203.0.113.80/")
    assert r.stdout == "200", r.stderr


def test_outside_host_resolves_names_on_the_dns_honeypot(honeynet: Honeynet):
    r = in_netns(honeynet.netns("attacker"), "dig", "+short", "+time=5", "+tries=2", "@203.0.113.53", "web.corp.example")
    assert r.stdout.strip() == "203.0.113.80", r.stdout + r.stderr


def test_gateway_adds_no_hop_and_keeps_ttl(honeynet: Honeynet):
    r = in_netns(honeynet.netns("attacker"), "traceroute", "-n", "-q", "1", "-w", "3", "-m", "5", "203.0.113.80")
    hops = [ln for ln in r.stdout.splitlines()[1:] if ln.strip()]
    assert len(hops) == 1 and "203.0.113.80" in hops[0], r.stdout
    ping = in_netns(honeynet.netns("attacker"), "ping", "-c", "1", "-W", "5", "203.0.113.80")
    assert "ttl=64" in ping.stdout, ping.stdout  # Linux's initial TTL: nothing on the way decremented it


def test_exec_passes_the_exit_code_through(honeynet: Honeynet):
    r = honeynet.exec("web", "/bin/sh", "-c", "hostname; exit 3")
    assert r.returncode == 3 and r.stdout.decode().strip() == "web"


class Sink:
    """A TCP server on an outside host that counts the connections that reach it."""

    def __init__(self, ns: str, address: str, port: int):
        code = (
            "import socket,sys\n"
            f"s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('{address}', {port})); s.listen(64)\n"
            "s.settimeout(120)\n"
            "n=0\n"
            "try:\n"
            "    while True:\n"
            "        c,_=s.accept(); n+=1; print(n, flush=True); c.close()\n"
            "except socket.timeout: pass\n"
        )
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", code],
                                     stdout=subprocess.PIPE, text=True)

    def stop(self) -> int:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return len(out.split())


def test_outbound_connections_are_limited_per_honeypot(honeynet: Honeynet):
    limit = 3  # tcp limit of the test topology
    sink = Sink(honeynet.netns("attacker"), "203.0.113.66", SINK_PORT)
    try:
        time.sleep(0.5)
        script = (
            f"ok=0; for i in $(seq {limit + 2}); do "
            f"timeout 4 bash -c 'exec 3<>/dev/tcp/203.0.113.66/{SINK_PORT}' 2>/dev/null && ok=$((ok+1)); done; echo $ok"
        )
        r = honeynet.sh("dns", script, timeout=60)
    finally:
        arrived = sink.stop()
    assert r.stdout.decode().strip() == str(limit)
    assert arrived == limit
    # inbound stays open while the honeypot is over its outbound limit
    r = in_netns(honeynet.netns("attacker"), "dig", "+tcp", "+short", "+time=5", "@203.0.113.53", "web.corp.example")
    assert r.stdout.strip() == "203.0.113.80", r.stdout + r.stderr


def test_honeypot_cannot_reach_the_host_or_admin_network(honeynet: Honeynet):
    admin = honeynet.status["networks"]["admin"]
    host_ip, gateway_ip = admin["host_address"].split("/")[0], admin["gateway_address"].split("/")[0]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host_ip, 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        # positive control: the gateway, on the admin network, does reach the host
        gw = honeynet.exec("gateway", "nc", "-z", "-w", "5", host_ip, str(port))
        assert gw.returncode == 0, gw
        # the honeypot, even with a route added as an intruder would, does not
        script = (
            f"ip route add {admin['cidr']} dev eth0 2>/dev/null; "
            f"for ip in {host_ip} {gateway_ip}; do timeout 4 bash -c \"exec 3<>/dev/tcp/$ip/{port}\" 2>/dev/null && echo reached $ip; done; "
            f"ip route del {admin['cidr']} dev eth0 2>/dev/null; true"
        )
        r = honeynet.sh("web", script, timeout=30)
        assert "reached" not in r.stdout.decode(), r.stdout
    finally:
        listener.close()


def test_pcap_on_the_host_holds_inbound_and_outbound_packets(honeynet: Honeynet):
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    files = sorted(glob.glob(str(honeynet.capture / honeynet.hid / "gateway" / day / "pcap" / "*.pcap*")))
    assert files, f"no pcap for {day} in {honeynet.capture}"
    def count(display_filter: str) -> int:
        total = 0
        for f in files:
            r = subprocess.run(["tshark", "-r", f, "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                               capture_output=True, text=True, timeout=60)
            total += len(r.stdout.split())
        return total
    inbound = count("ip.src==203.0.113.66 && ip.dst==203.0.113.80 && tcp.dstport==80")
    outbound = count(f"ip.src==203.0.113.53 && ip.dst==203.0.113.66 && tcp.dstport=={SINK_PORT} && tcp.flags.syn==1")
    dns = count("dns.qry.name==web.corp.example")
    assert inbound > 0 and dns > 0
    assert outbound >= 4  # every attempt is captured, also the ones data control dropped
