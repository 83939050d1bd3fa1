"""Capture on the host: parsers of each captured format, the local store (idempotent), export, retention."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from datetime import date
from pathlib import Path

import pytest

from vhoneynet.capture import archive, records, session
from vhoneynet.capture.session import since_time
from vhoneynet.capture.store import CaptureStore
from vhoneynet.errors import BadTimeSpec, DayNotCaptured
from vhoneynet.rundir import CaptureFolder, RunDir

HID = "vhnt1"
DAY = "2026-11-29"
EVE_ALERT = json.dumps({
    "timestamp": "2026-11-29T02:10:11.123456+0000", "flow_id": 1, "event_type": "alert",
    "src_ip": "203.0.113.80", "src_port": 40000, "dest_ip": "203.0.113.66", "dest_port": 80, "proto": "TCP",
    "alert": {"action": "blocked", "signature_id": 9000001, "signature": "VHN TEST exploit", "severity": 1},
    "payload": base64.b64encode(b"GET /EXPLOIT-TEST HTTP/1.0\r\n").decode(),
})
EVE_DNS = json.dumps({"timestamp": "2026-11-29T02:10:12.000000+0000", "event_type": "dns", "src_ip": "203.0.113.66",
                      "src_port": 5353, "dest_ip": "203.0.113.53", "dest_port": 53, "proto": "UDP",
                      "dns": {"type": "query", "rrname": "web.corp.example", "rrtype": "A"}})
# As the gateway's Suricata (trixie) writes them: the attacker's query and the dns honeypot's answer
EVE_DNS_ANSWER = (
    '{"timestamp":"2026-11-29T04:09:51.662583+0000","flow_id":2001348922320729,"event_type":"dns","src_ip":"203.0.113.66",'
    '"src_port":36809,"dest_ip":"203.0.113.53","dest_port":53,"proto":"UDP","pkt_src":"wire/pcap","dns":{"version":2,'
    '"type":"answer","id":62873,"flags":"8580","qr":true,"aa":true,"rd":true,"ra":true,"opcode":0,"rrname":"web.corp.example",'
    '"rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"web.corp.example","rrtype":"A","ttl":3600,"rdata":"203.0.113.80"}],'
    '"grouped":{"A":["203.0.113.80"]}}}')
EVE_DNS_V3 = json.dumps({"timestamp": "2026-11-29T02:10:12.000000+0000", "event_type": "dns", "src_ip": "203.0.113.66",
                         "dest_ip": "203.0.113.53", "proto": "UDP",
                         "dns": {"version": 3, "type": "request", "queries": [{"rrname": "mail.corp.example", "rrtype": "MX"}]}})
EVE_HTTP = (
    '{"timestamp":"2026-11-29T04:06:41.083402+0000","flow_id":1471581582745335,"in_iface":"ext","event_type":"http",'
    '"src_ip":"203.0.113.66","src_port":59594,"dest_ip":"203.0.113.80","dest_port":80,"proto":"TCP",'
    '"pkt_src":"stream (flow timeout)","tx_id":0,"http":{"hostname":"203.0.113.80","url":"/","http_method":"GET",'
    '"protocol":"HTTP/1.0","length":0}}')
EVE_FLOW = (
    '{"timestamp":"2026-11-29T04:06:41.087095+0000","flow_id":1471581582745335,"in_iface":"ext","event_type":"flow",'
    '"src_ip":"203.0.113.66","src_port":59594,"dest_ip":"203.0.113.80","dest_port":80,"proto":"TCP","app_proto":"http",'
    '"flow":{"pkts_toserver":5,"pkts_toclient":0,"bytes_toserver":376,"bytes_toclient":0,'
    '"start":"2026-11-29T04:06:21.539237+0000","end":"2026-11-29T04:06:21.962344+0000","age":0,"state":"closed",'
    '"reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1e","syn":true,"state":"closed"}}')
EVE_TLS = json.dumps({"timestamp": "2026-11-29T02:10:14.000000+0000", "event_type": "tls", "src_ip": "203.0.113.80",
                      "src_port": 41000, "dest_ip": "198.51.100.7", "dest_port": 443, "proto": "TCP",
                      "tls": {"sni": "c2.example", "version": "TLS 1.3", "ja3": {"hash": "abc"}}})
EVE_STATS = json.dumps({"timestamp": "2026-11-29T02:10:13.000000+0000", "event_type": "stats", "stats": {}})
FAST = ("11/29/2026-02:10:11.123456  [Drop] [**] [1:9000001:1] VHN TEST exploit [**] "
        "[Classification: Attempted Administrator Privilege Gain] [Priority: 1] {TCP} 203.0.113.80:40000 -> 203.0.113.66:80")
FIREWALL = ("2026-11-29T02:10:11,123456+00:00 vhn vhnt1 outbound IN=int OUT=ext MACSRC=52:54:00:00:00:01 "
            "MACDST=52:54:00:00:00:02 MACPROTO=0800 SRC=203.0.113.80 DST=203.0.113.66 LEN=60 TOS=0x00 PREC=0x00 "
            "TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0")
FIREWALL_LIMIT = FIREWALL.replace(" outbound ", " limit tcp ").replace("SPT=40000", "SPT=40001")
FIREWALL_IN = (FIREWALL.replace(" outbound ", " inbound ").replace("SRC=203.0.113.80 DST=203.0.113.66", "SRC=203.0.113.66 DST=203.0.113.53")
               .replace("IN=int OUT=ext", "IN=ext OUT=int"))
TYPED = b"uname -a\rcat /etc/shadow\r\x1b[Aexit\r"
# the kernel's TTY record as vhn-audit forwards it (and as the kernel log has it when vhn-audit is not running)
TTY = ("2026-11-29T02:11:00.000000+00:00 203.0.113.80 web vhn-audit: audit: type=1319 audit(1764382260.123:57): "
       f"tty pid=812 uid=0 auid=0 ses=2 major=136 minor=0 comm=\"bash\" data={TYPED.hex().upper()}")
TTY_KERNEL_LOG = ('2026-11-29T02:11:00.000000+00:00 203.0.113.80 web kernel: [  196.719101] audit: type=1319 '
                  'audit(1795925302.936:84): tty pid=632 uid=0 auid=0 ses=3 major=136 minor=0 comm="cat" data="hello"')
TTY_PART = TTY.replace('comm="bash" ', 'comm="bash" part=2/3 ')
SYSLOG = "2026-11-29T02:11:01.500000+00:00 203.0.113.80 web vhn-test: hello from web"
EXECVE = ("2026-11-29T02:11:02.000000+00:00 203.0.113.80 web kernel: audit: type=1309 audit(1795918971.459:65): "
          f"argc=4 a0=\"cat\" a1=\"/etc/shadow\" a2={b'/tmp/a b'.hex().upper()} a3_len=6 a3[0]=\"abc\" a3[1]=\"def\"")


def test_eve_alert_keeps_payload_and_addresses():
    e = records.eve(EVE_ALERT, "k")
    assert (e.type, e.src, e.dport, e.proto, e.time) == ("alert", "203.0.113.80", 80, "tcp", "2026-11-29T02:10:11.123456Z")
    assert "EXPLOIT-TEST" in e.data["payload_text"] and "VHN TEST exploit" in e.summary


def test_eve_types_and_stats_skipped():
    assert records.eve(EVE_DNS, "k").summary == "dns query A web.corp.example"
    assert records.eve(EVE_STATS, "k") is None


@pytest.mark.parametrize(("line", "kind", "summary"), [
    (EVE_DNS_ANSWER, "dns", "dns answer A web.corp.example NOERROR 203.0.113.80"),
    (EVE_DNS_V3, "dns", "dns request MX mail.corp.example"),
    (EVE_HTTP, "http", "http GET 203.0.113.80/ "),
    (EVE_FLOW, "flow", "flow http closed 5/0 pkts"),
    (EVE_TLS, "tls", "tls c2.example TLS 1.3"),
])
def test_eve_application_records_and_flows(line: str, kind: str, summary: str):
    e = records.eve(line, "k")
    assert (e.type, e.summary) == (kind, summary)
    assert e.data[kind] == json.loads(line)[kind] and e.src and e.dst


def test_fast_line():
    e = records.fast(FAST, "k")
    assert (e.type, e.src, e.sport, e.dst, e.dport, e.proto) == ("fast", "203.0.113.80", 40000, "203.0.113.66", 80, "tcp")
    assert e.data["action"] == "drop" and e.time == "2026-11-29T02:10:11.123456Z"


@pytest.mark.parametrize(("line", "verdict"), [(FIREWALL, "allowed"), (FIREWALL_LIMIT, "limited"), (FIREWALL_IN, "inbound"),
                                               (FIREWALL.replace(" outbound ", " spoofed "), "spoofed")])
def test_firewall_verdicts(line: str, verdict: str):
    e = records.firewall(line, "k", HID)
    assert e.data["verdict"] == verdict and e.proto == "tcp" and e.dport == 80
    assert e.time == "2026-11-29T02:10:11.123456Z"


def test_firewall_line_of_another_honeynet_is_not_ours():
    assert records.firewall(FIREWALL, "k", "other") is None


def test_keystrokes_decoded_from_tty_audit():
    e = records.audit(TTY, "k", "web")
    assert e.type == "keystrokes" and e.honeypot == "web"
    assert e.data["typed"] == "uname -a\ncat /etc/shadow\nexit" and e.data["comm"] == "bash"
    assert (e.data["pid"], e.data["ses"], e.data["audit_serial"]) == (812, "2", 57) and "part" not in e.data
    quoted = records.audit(TTY_KERNEL_LOG, "k", "web")
    assert (quoted.type, quoted.summary, quoted.data["comm"]) == ("keystrokes", "cat: hello", "cat")
    assert records.audit(TTY_PART, "k", "web").data["part"] == "2/3"


def test_commands_from_execve_audit_records():
    e = records.audit(EXECVE, "k", "web")
    assert e.type == "command" and e.data["argv"] == ["cat", "/etc/shadow", "/tmp/a b", "abcdef"]
    assert e.summary == "cat /etc/shadow /tmp/a b abcdef" and e.time == "2026-11-29T02:11:02.000000Z"


def test_plain_syslog_line():
    e = records.syslog(SYSLOG, "k", "web")
    assert (e.type, e.summary, e.src) == ("syslog", "vhn-test: hello from web", "203.0.113.80")


def _capture(root: Path) -> Path:
    """A capture folder as the gateway fills its share (`gateway/<day>/…`), with one console log."""
    day = CaptureFolder(root).share / DAY
    for sub in ("ids", "firewall", "syslog", "audit", "pcap"):
        (day / sub).mkdir(parents=True)
    (day / "ids" / "eve-outbound.json").write_text(f"{EVE_ALERT}\n{EVE_STATS}\n")
    (day / "ids" / "eve-inbound.json").write_text(f"{EVE_DNS}\n")
    (day / "ids" / "fast-outbound.log").write_text(FAST + "\n")
    (day / "firewall" / "firewall.log").write_text(f"{FIREWALL}\n{FIREWALL}\n{FIREWALL_LIMIT}\n{FIREWALL_IN}\n")
    (day / "syslog" / "web.log").write_text(f"{SYSLOG}\n")
    (day / "audit" / "web.log").write_text(f"{TTY}\n{EXECVE}\n")
    (day / "pcap" / f"{HID}-20261129T020000.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(20))
    (root / "consoles").mkdir()
    (root / "consoles" / "web.log").write_text("console\n")
    return root


def test_store_ingests_every_type_tagged_and_never_twice(tmp_path: Path):
    root = _capture(tmp_path / HID)
    with CaptureStore(root, HID, {"203.0.113.80": "web", "203.0.113.53": "dns"}) as store:
        assert store.ingest() == 10
        assert store.ingest() == 0
        assert store.counts() == {"alert": 1, "command": 1, "dns": 1, "fast": 1, "firewall": 4, "keystrokes": 1,
                                  "syslog": 1}
        assert {e["honeypot"] for e in store.query(types=["firewall"])} == {"web", "dns"}
        assert [e["type"] for e in store.query(honeypot="dns")] == ["dns", "firewall"]
        with (CaptureFolder(root).share / DAY / "syslog" / "web.log").open("a") as f:
            f.write(SYSLOG + "\n" + SYSLOG[:30])  # the same line again, then a partial one
        assert store.ingest() == 1
        with (CaptureFolder(root).share / DAY / "syslog" / "web.log").open("a") as f:
            f.write(SYSLOG[30:] + "\n")
        assert store.ingest() == 1
        assert store.counts()["syslog"] == 3
    with CaptureStore(root, HID) as again:  # a new process: cursors are in the file
        assert again.ingest() == 0


def test_store_since_and_follow_cursor(tmp_path: Path):
    root = _capture(tmp_path / HID)
    with CaptureStore(root, HID) as store:
        store.ingest()
        assert [e["type"] for e in store.query(since=since_time("2026-11-29T02:11:00"))] == ["syslog", "keystrokes", "command"]
        last = store.query()[-1]["seq"]
        assert store.query(after=last) == []


def test_unique_firewall_log(tmp_path: Path):
    root = _capture(tmp_path / HID)
    with CaptureStore(root, HID) as store:
        store.ingest()
    lines = (CaptureFolder(root).derived(DAY) / "firewall-unique.log").read_text().splitlines()[1:]
    assert not (CaptureFolder(root).share / DAY / "firewall" / "unique.log").exists()  # never into the share
    assert len(lines) == 2  # the two identical outbound lines and the limited one share (src, dst, tcp, 80)
    assert sorted(line.split()[2:] for line in lines) == [["1", "203.0.113.66", "203.0.113.53", "tcp", "80"],
                                                          ["3", "203.0.113.80", "203.0.113.66", "tcp", "80"]]


def test_export_tarball_with_manifest(tmp_path: Path):
    root = _capture(tmp_path / HID)
    with CaptureStore(root, HID) as store:
        store.ingest()  # derives the unique firewall log, exported with the day
    result = archive.export(root, HID, DAY, tmp_path / "out.tar.gz")
    with tarfile.open(result["output"]) as tar:
        names = tar.getnames()
        manifest = tar.extractfile(f"{HID}-{DAY}/SHA256SUMS").read().decode().splitlines()
        for line in manifest:
            digest, rel = line.split("  ")
            assert hashlib.sha256(tar.extractfile(f"{HID}-{DAY}/{rel}").read()).hexdigest() == digest
    assert f"{HID}-{DAY}/{DAY}/pcap/{HID}-20261129T020000.pcap" in names
    assert f"{HID}-{DAY}/consoles/web.log" in names
    assert f"{HID}-{DAY}/derived/{DAY}/firewall-unique.log" in names
    assert len(manifest) == result["files"] == 9 and result["skipped"] == []
    with pytest.raises(DayNotCaptured):
        archive.export(root, HID, "2026-01-01", tmp_path / "none.tar.gz")


def test_retention_removes_only_old_days(tmp_path: Path):
    root = tmp_path / HID
    folder = CaptureFolder(root)
    for day in ("2026-10-01", "2026-11-01", "2026-11-29"):
        (folder.share / day).mkdir(parents=True)
        folder.derived(day).mkdir(parents=True)
    (root / "consoles").mkdir()
    assert archive.apply_retention(root, 7, today=date(2026, 11, 29)) == ["2026-10-01", "2026-11-01"]
    assert sorted(p.name for p in folder.share.iterdir()) == ["2026-11-29"]
    assert sorted(p.name for p in (root / "derived").iterdir()) == ["2026-11-29"]
    assert (root / "consoles").is_dir()


def test_since_forms():
    assert since_time("2026-11-29T02:00") == "2026-11-29T02:00:00.000000Z"
    assert since_time("2h").endswith("Z")
    with pytest.raises(BadTimeSpec):
        since_time("yesterday")


def test_follow_yields_only_what_arrives_later(tmp_path: Path):
    root = _capture(tmp_path / HID)
    with CaptureStore(root, HID) as store:
        store.ingest()
        tail = session.follow(session.Captures(CaptureFolder(root), None), store, interval=0, types=["syslog"])
        with (CaptureFolder(root).share / DAY / "syslog" / "web.log").open("a") as f:
            f.write(SYSLOG.replace("hello", "later") + "\n")
        assert next(tail)["summary"] == "vhn-test: later from web"


def test_follower_ingests_in_the_background_and_stops(tmp_path: Path):
    import time

    from vhoneynet.capture import follower
    from vhoneynet.topology import loads

    topo = loads(f"id: {HID}\nhost: {{storage: {tmp_path}}}\n"
                 "honeypots:\n  - {name: web, image: linux-web, address: 203.0.113.80}\n",
                 known_images={"honeywall", "linux-web"})
    run = RunDir.of(topo).create()
    root = _capture(CaptureFolder.of(topo).root)
    pid = follower.start_follower(topo)
    try:
        with CaptureStore(root, HID) as store:
            for _ in range(100):
                if store.counts().get("syslog"):
                    break
                time.sleep(0.1)
            assert store.counts().get("syslog") == 1, run.log_file(follower.FOLLOWER).read_text()
    finally:
        follower.stop_follower(run)
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists() or b"State:\tZ" in Path(f"/proc/{pid}/status").read_bytes():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("follower still running after stop_follower")


class _Agent:
    """A hypervisor whose guest agent answers with `stdout`, or is not there."""

    def __init__(self, stdout: bytes = b"", present: bool = True):
        self.stdout, self.present, self.calls = stdout, present, []

    def agent_ready(self, domain):
        return self.present

    def execute(self, domain, argv, stdin=None, timeout=120):
        from vhoneynet.backend.libvirt import ExecResult
        from vhoneynet.errors import AgentUnavailable

        self.calls.append((domain, argv))
        if not self.present:
            raise AgentUnavailable(domain, "no agent")
        return ExecResult(0, self.stdout, b"")


def test_open_sessions_are_hung_up_through_the_agent():
    import subprocess

    from vhoneynet.capture import sessions

    hv = _Agent(b"pts/0\npts/3\n")
    assert sessions.hang_up(hv, "vhn-t1-web") == ["pts/0", "pts/3"]
    domain, argv = hv.calls[0]
    assert domain == "vhn-t1-web" and argv[:2] == ["/bin/sh", "-c"] and "pkill -HUP -t" in argv[2]
    assert subprocess.run(["sh", "-n", "-c", sessions.HANG_UP]).returncode == 0  # parses (never run on the host)
    assert sessions.hang_up(_Agent(present=False), "vhn-t1-web") == []  # agent off: nothing to ask
