"""The gateway as seen on the wire: tcpdump's text parsed, and what in it gives a bridge away."""

from __future__ import annotations

from vhoneynet.gateway.live.stealth import (
    MAX_FRAMES,
    judge_gateway,
    parse_frames,
    ping_rtts,
    reply_ttl,
    timing,
)

ATTACKER, POT, GATEWAY, STRAY = "02:aa:bb:cc:dd:01", "00:1b:21:3a:4f:10", "52:54:00:99:88:77", "02:de:ad:be:ef:00"
KNOWN_MACS = {ATTACKER, POT}
KNOWN_ADDRESSES = {"203.0.113.200", "203.0.113.10"}

# tcpdump 4.99.3 -e -n -v, as it prints these frames (a pcap read back with -r)
WIRE = f"""\
22:13:20.123456 {ATTACKER} > {POT}, ethertype IPv4 (0x0800), length 98: (tos 0x0, ttl 64, id 1234, offset 0, flags [DF], proto ICMP (1), length 84)
    203.0.113.200 > 203.0.113.10: ICMP echo request, id 6699, seq 1, length 64
22:13:20.124001 {POT} > {ATTACKER}, ethertype IPv4 (0x0800), length 98: (tos 0x0, ttl 64, id 4321, offset 0, flags [none], proto ICMP (1), length 84)
    203.0.113.10 > 203.0.113.200: ICMP echo reply, id 6699, seq 1, length 64
22:13:22.123456 {ATTACKER} > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Ethernet (len 6), IPv4 (len 4), Request who-has 203.0.113.10 tell 203.0.113.200, length 28
22:13:23.123456 {POT} > {ATTACKER}, ethertype ARP (0x0806), length 42: Ethernet (len 6), IPv4 (len 4), Reply 203.0.113.10 is-at {POT}, length 28
22:13:25.123456 {ATTACKER} > {POT}, ethertype IPv4 (0x0800), length 54: (tos 0x0, ttl 64, id 1234, offset 0, flags [DF], proto TCP (6), length 40)
    203.0.113.200.40000 > 203.0.113.10.22: Flags [S], cksum 0xffe1 (correct), seq 1000, win 64240, length 0
"""
STRAY_RS = (f"22:13:24.123456 {STRAY} > 33:33:00:00:00:02, ethertype IPv6 (0x86dd), length 62: (hlim 255, next-header "
            "ICMPv6 (58) payload length: 8) fe80::de:adff:febe:ef00 > ff02::2: [icmp6 sum ok] ICMP6, router solicitation, length 8\n")
TIME_EXCEEDED = f"""\
22:13:26.123456 {GATEWAY} > {ATTACKER}, ethertype IPv4 (0x0800), length 70: (tos 0x0, ttl 64, id 1234, offset 0, flags [DF], proto ICMP (1), length 56)
    203.0.113.1 > 203.0.113.200: ICMP time exceeded in-transit, length 36
\t(tos 0x0, ttl 1, id 1234, offset 0, flags [DF], proto UDP (17), length 28)
    203.0.113.200.33434 > 8.8.8.8.33434: UDP, length 0
"""


def judge(text: str, **kwargs):
    args = {"known_addresses": KNOWN_ADDRESSES, "honeypot": "203.0.113.10"} | kwargs
    ttl = args.pop("honeypot_ttl", 64)
    return judge_gateway(parse_frames(text), args.pop("known_macs", KNOWN_MACS), [GATEWAY], ttl, **args)


def test_echo_request_and_reply_are_read_with_their_macs_ttl_and_icmp_type():
    request, reply, *_ = parse_frames(WIRE)
    assert (request.src_mac, request.dst_mac, request.ethertype) == (ATTACKER, POT, "IPv4")
    assert (request.ip_src, request.ip_dst, request.ttl, request.icmp) == ("203.0.113.200", "203.0.113.10", 64, "echo request")
    assert (reply.src_mac, reply.ip_src, reply.ttl, reply.icmp) == (POT, "203.0.113.10", 64, "echo reply")


def test_arp_and_a_tcp_syn_are_frames_without_icmp():
    frames = parse_frames(WIRE)
    assert [f.ethertype for f in frames] == ["IPv4", "IPv4", "ARP", "ARP", "IPv4"]
    arp, syn = frames[2], frames[4]
    assert (arp.src_mac, arp.dst_mac, arp.ip_src, arp.ttl) == (ATTACKER, "ff:ff:ff:ff:ff:ff", None, None)
    assert (syn.ip_src, syn.ip_dst, syn.ttl, syn.icmp) == ("203.0.113.200", "203.0.113.10", 64, None)


def test_an_ipv6_router_solicitation_is_read_on_its_one_line():
    (rs,) = parse_frames(STRAY_RS)
    assert (rs.src_mac, rs.ethertype, rs.ip_src, rs.ip_dst, rs.ttl, rs.icmp) == (
        STRAY, "IPv6", "fe80::de:adff:febe:ef00", "ff02::2", 255, "router solicitation")


def test_the_packet_quoted_in_an_icmp_error_is_not_the_frame_s():
    (error,) = parse_frames(TIME_EXCEEDED)
    assert (error.ip_src, error.ip_dst, error.ttl, error.icmp) == ("203.0.113.1", "203.0.113.200", 64, "time exceeded in-transit")


def test_junk_and_overlong_lines_are_ignored_and_frames_are_bounded():
    junk = ("tcpdump: listening on vhn0, link-type EN10MB\n\x1b[31mred\n    203.0.113.9 > 203.0.113.10: ICMP echo reply\n"
            f"22:13:20.1 {ATTACKER} > {POT}, ethertype IPv4 (0x0800), length 98: (tos" + "x" * 5000 + "\n"
            "22:13:20.1 zz:zz > yy, ethertype IPv4\n12 packets captured\n")
    assert parse_frames(junk) == []
    assert len(parse_frames(WIRE + junk + WIRE)) == 10
    many = f"1.0 {ATTACKER} > {POT}, ethertype ARP (0x0806), length 42: Request\n" * (MAX_FRAMES + 10)
    assert len(parse_frames(many)) == MAX_FRAMES


def test_a_clean_wire_raises_no_tell():
    assert judge(WIRE) == []


def test_a_gateway_mac_on_the_wire_is_a_tell():
    tells = judge(WIRE + STRAY_RS.replace(STRAY, GATEWAY), side="internet side")
    assert [t.check for t in tells] == ["wire"] and not tells[0].residual
    assert f"gateway MAC on the wire (internet side): {GATEWAY}" in tells[0].found
    assert "router solicitation" in tells[0].found


def test_an_unknown_mac_is_a_tell_naming_it_unless_strangers_may_be_there():
    (tell,) = judge(WIRE + STRAY_RS)
    assert tell.check == "wire" and f"unknown MAC on the wire: {STRAY}" in tell.found
    assert judge(WIRE + STRAY_RS, known_macs=None) == []


def test_the_log_host_mac_never_sends():
    (tell,) = judge(WIRE + STRAY_RS, log_host_mac=STRAY.upper())
    assert f"log host MAC on the wire: {STRAY}" in tell.found


def test_a_time_exceeded_and_an_address_nobody_has_are_tells():
    tells = judge_gateway(parse_frames(WIRE + TIME_EXCEEDED), KNOWN_MACS | {GATEWAY}, [], 64,
                          known_addresses=KNOWN_ADDRESSES, honeypot="203.0.113.10")
    assert [(t.check, t.found) for t in tells] == [("hop", "ICMP time exceeded from 203.0.113.1")]
    answer = WIRE.replace("203.0.113.10 > 203.0.113.200: ICMP echo reply", "203.0.113.1 > 203.0.113.200: ICMP echo reply")
    (tell,) = judge(answer)
    assert (tell.check, tell.found) == ("address", "an address no host of the honeynet has sends: 203.0.113.1")
    assert judge(answer, known_addresses=None) == []


def test_a_ttl_lower_on_the_internet_side_than_at_the_tap_is_a_hop():
    routed = WIRE.replace("ttl 64, id 4321", "ttl 63, id 4321")
    (tell,) = judge(routed, honeypot_ttl=64)
    assert tell.check == "hop" and "TTL 63" in tell.found and "64 at the honeypot's tap" in tell.found
    assert judge(routed, honeypot_ttl=63) == [] and judge(routed, honeypot_ttl=None) == []
    assert reply_ttl(parse_frames(routed), "203.0.113.10") == 63 and reply_ttl(parse_frames(WIRE), "203.0.113.9") is None


PING = """PING 203.0.113.10 (203.0.113.10) 56(84) bytes of data.
64 bytes from 203.0.113.10: icmp_seq=1 ttl=64 time=2.31 ms
64 bytes from 203.0.113.10: icmp_seq=2 ttl=64 time=1.90 ms
64 bytes from 203.0.113.10: icmp_seq=3 ttl=64 time=1.75 ms

--- 203.0.113.10 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 401ms
rtt min/avg/max/mdev = 1.750/1.986/2.310/0.236 ms
"""

SAME_BRIDGE = PING.replace("time=2.31", "time=0.5").replace("time=1.90", "time=0.7").replace("time=1.75", "time=0.9")


def test_round_trips_are_read_from_ping_and_timing_is_a_residual_tell():
    assert ping_rtts(PING) == [2.31, 1.90, 1.75]
    detail, tell = timing(ping_rtts(PING), [0.5, 0.7, 0.9])
    assert detail == "rtt through gateway 1.9 ms, same bridge 0.7 ms"
    assert tell is not None and tell.check == "timing" and tell.residual and "1.2 ms" in tell.found
    assert timing([0.9, 1.0], [0.5])[1] is None
    assert timing([], [0.5]) == ("no echo reply crossed the gateway", None)


class FakeNet:
    def __init__(self):
        self.calls: list[tuple] = []

    def add_outside_host(self, netns, bridge, veth, address, gateway=None, mac=None):
        self.calls.append(("add", netns, bridge, veth, str(address), mac))

    def delete_netns(self, name):
        self.calls.append(("delete-netns", name))

    def delete_link(self, name):
        self.calls.append(("delete-link", name))


class FakeTcpdump:
    def __init__(self, text: str):
        self.text, self.signalled = text, False

    def poll(self):
        return 0 if self.signalled else None

    def send_signal(self, _):
        self.signalled = True

    def communicate(self, timeout=None):
        return self.text, None

    def kill(self):
        self.signalled = True

    def wait(self):
        return 0


def _watch(monkeypatch, topo, internet: str, honeynet: str, through: str, beside: str):
    """look_at_gateway on fakes: tcpdump prints `internet` on the outside host's veth, `honeynet` on the tap."""
    from types import SimpleNamespace

    from vhoneynet.backend.process import Finished
    from vhoneynet.gateway.live import stealth
    from vhoneynet.plan import plan

    tap = plan(topo).honeypots[0].nics[0].tap
    spawned = []
    monkeypatch.setattr(stealth.time, "sleep", lambda s: None)
    monkeypatch.setattr(stealth, "spawn", lambda argv, ns=None: spawned.append(argv) or
                        FakeTcpdump(honeynet if argv[-1] == tap else internet))
    monkeypatch.setattr(stealth, "run_in_netns", lambda ns, argv, timeout=None: Finished(
        0, (beside if "vprobe" in ns else through).encode(), b""))
    b = SimpleNamespace(net=FakeNet())
    return stealth.look_at_gateway(topo, b), b.net.calls, spawned


def _topology(outside: bool = True):
    from vhoneynet.topology import loads

    return loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.10}\n"
                 + ("outside:\n  - {name: attacker, address: 203.0.113.200}\n" if outside else ""))


def _wire(topo) -> str:
    from vhoneynet.plan import plan

    p = plan(topo)
    attacker = p.outside[0].mac if p.outside else None
    text = WIRE.replace(POT, p.honeypots[0].nics[0].mac)
    return text.replace(ATTACKER, attacker) if attacker else text


def test_a_bridge_that_adds_only_time_passes_with_the_residual_timing_tell(monkeypatch):
    topo = _topology()
    result, calls, spawned = _watch(monkeypatch, topo, _wire(topo), _wire(topo), PING, SAME_BRIDGE)
    assert result.honeypot == "gateway" and result.verdict == "pass", result
    assert [(t.check, t.residual) for t in result.tells] == [("timing", True)]
    assert "rtt through gateway 1.9 ms, same bridge 0.7 ms" in result.detail
    assert [argv[:6] for argv in spawned] == [["tcpdump", "-e", "-n", "-v", "-l", "-c"]] * 2
    added = [c for c in calls if c[0] == "add"]
    assert len(added) == 1 and "vprobe" in added[0][1]  # only the probe: the outside host exists
    assert ("delete-netns", added[0][1]) in calls and ("delete-link", added[0][3]) in calls


def test_a_routing_gateway_fails_and_a_temporary_outside_host_is_removed(monkeypatch):
    topo = _topology(outside=False)
    from vhoneynet.plan import plan

    gateway_mac = plan(topo).gateway.nics[0].mac
    honeynet = _wire(topo)
    internet = honeynet.replace("ttl 64, id 4321", "ttl 63, id 4321") + TIME_EXCEEDED.replace(GATEWAY, gateway_mac)
    result, calls, _ = _watch(monkeypatch, topo, internet, honeynet, PING, PING)
    assert result.verdict == "fail"
    checks = {t.check for t in result.tells}
    assert {"wire", "hop"} <= checks
    added = {c[1] for c in calls if c[0] == "add"}
    assert len(added) == 2 and added == {c[1] for c in calls if c[0] == "delete-netns"}


def test_without_a_honeypot_address_the_gateway_look_is_skipped():
    from types import SimpleNamespace

    from vhoneynet.gateway.live.stealth import look_at_gateway
    from vhoneynet.topology import loads

    result = look_at_gateway(loads("id: t1\n"), SimpleNamespace(net=FakeNet()))
    assert (result.honeypot, result.verdict) == ("gateway", "skipped")
