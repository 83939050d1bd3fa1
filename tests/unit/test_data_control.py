"""Data control rendering and parsing: ruleset variants, live-change transaction, IPS config, verify addresses."""

from __future__ import annotations

import json
import re
import subprocess
from importlib.resources import files

import pytest
from ruamel.yaml import YAML

from vhoneynet import hardware, naming
from vhoneynet.errors import BadLimitChange
from vhoneynet.gateway.config import ips, reject, rulefiles
from vhoneynet.gateway.config.disk import (
    config_files,
    limits_context,
    rate_bytes,
    ruleset,
    size_bytes,
)
from vhoneynet.gateway.live.control import parse_changes
from vhoneynet.plan import (
    SERVICE_PROBE_VETH,
    VERIFY_PROBE_VETH,
    VERIFY_SINK_VETH,
    plan,
    verify_addresses,
)
from vhoneynet.render import render
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology import loads

BASE = "id: t1\nhoneypots: [{name: web, image: linux-web, address: 203.0.113.80}]\n"


def topo(data_control: str = ""):
    return loads(BASE + ("gateway:\n  data_control:\n" + data_control if data_control else ""))


def test_defaults_follow_the_honeynet_project():
    dc = topo().gateway.data_control
    assert (dc.limits.tcp, dc.limits.udp, dc.limits.icmp, dc.limits.other, dc.limits.window) == (20, 20, 50, 10, "hour")
    assert dc.mode == "limit" and dc.icmp == "limit" and dc.ips.enabled and dc.throttle.rate == "1mbit"


@pytest.mark.parametrize(("text", "expected"), [("1mbit", 125000), ("8kbit", 1000), ("2mbps", 2000000), ("100 bit", 12)])
def test_rates_are_bytes_per_second(text, expected):
    assert rate_bytes(text) == expected


def test_sizes_are_bytes():
    assert size_bytes("64kb") == 65536 and size_bytes("1mb") == 1048576 and size_bytes("10b") == 10


def test_every_layer_in_the_default_ruleset_in_order():
    text = ruleset(topo())
    order = ["goto spoofed", "@lockdown goto lockdown", "ct state invalid", "@fence goto fenced", "jump icmp_policy",
             "update @throttle { ip saddr limit rate over 125000 bytes/second burst 65536 bytes }",
             "jump counted", "queue num 0"]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert "bypass" not in text  # fail-closed
    assert "icmp type echo-request ip length > 1500 goto ping-of-death" in text
    assert "ip daddr { 255.255.255.255, 203.0.113.255 } goto smurf" in text
    assert 'counter web_tcp_new' in text and '203.0.113.80 : "web_tcp_new"' in text


def test_each_echo_request_counts_and_other_flows_count_once():
    counted = ruleset(topo()).split("chain counted {")[1].split("}")[0].split("\n")
    rules = [line.strip() for line in counted if line.strip()]
    # one echo id is one conntrack flow: counting flows would let a flood of it pass whole
    assert rules == ["icmp type echo-request goto new_flow", "ct state new ct status ! confirmed goto new_flow"]


def test_roach_motel_icmp_block_fence_allow_and_no_ips():
    text = ruleset(topo("    mode: roach-motel\n    icmp: block\n    fence: [192.0.2.0/24]\n"
                        "    allow: [198.51.100.53/32]\n    ips: {enabled: false}\n    throttle: {enabled: false}\n"))
    assert "ct state new goto roach-motel" in text and "jump new_flow" not in text.split("chain outbound")[1]
    assert "ct state new goto icmp-blocked" in text
    assert "elements = { 192.0.2.0/24 }" in text and "elements = { 198.51.100.53/32 }" in text
    assert "queue" not in text and "update @throttle" not in text


def test_ips_files_only_when_enabled_and_home_net_has_the_verify_probe():
    t = topo("    ips: {rules: ['drop tcp any any -> any 6667 (msg:\"irc\"; sid:1;)']}\n")
    files = config_files(t, plan(t))
    conf = YAML(typ="safe").load(files["suricata-outbound.yaml"])
    assert conf["vars"]["address-groups"]["HOME_NET"] == "[203.0.113.80,203.0.113.253]"
    assert conf["rule-files"] == ["honeynet.rules", "custom.rules"]
    assert conf["nfq"]["fail-open"] is False
    assert "sid:1" in files["custom.rules"] and "sid:9100001" in files["honeynet.rules"]
    web = t.honeypot("web")
    assert ips.inbound_bpf(t) == f"not ether src {hardware.mac(t.id, web.name, web.hardware)}"
    off = topo("    ips: {enabled: false}\n")
    assert not any(name.startswith("suricata") for name in config_files(off, plan(off)))


def test_live_change_is_one_transaction_that_keeps_other_state():
    t = topo()
    new = t.gateway.data_control.limits.model_copy(update={"tcp": 5})
    text = render("gateway/limits-update.nft.j2", window_changed=False, changed=["tcp"], **limits_context(t, new))
    assert "flush set bridge vhn limit_tcp" in text and "flush set bridge vhn limit_udp" not in text
    assert "delete table" not in text and "delete set" not in text
    assert "limit rate over 5/hour burst 5 packets" in text
    window = render("gateway/limits-update.nft.j2", window_changed=True, changed=["window"],
                    **limits_context(t, new.model_copy(update={"window": "minute"})))
    assert "delete set bridge vhn limit_udp" in window and "timeout 1m" in window


def test_limit_changes_are_parsed_strictly():
    assert parse_changes(["tcp=5", "window=minute"]) == {"tcp": 5, "window": "minute"}
    for bad in ("tcp", "tcp=-1", "foo=1", "window=week", "tcp=4294967296", "udp=" + "9" * 5000):
        with pytest.raises(BadLimitChange):
            parse_changes([bad])


def test_verify_addresses_are_free_and_distinct():
    t = topo()
    probe, sink, spoofed = verify_addresses(t)
    assert len({probe, sink, spoofed}) == 3
    assert str(probe) == "203.0.113.253" and all(a != t.honeypots[0].address for a in (probe, sink, spoofed))


def test_temporary_hosts_hold_veths_of_their_own_above_every_outside_host():
    held = (SERVICE_PROBE_VETH, VERIFY_SINK_VETH, VERIFY_PROBE_VETH)
    assert len(set(held)) == 3 and min(held) >= naming.MAX_OUTSIDE
    assert all(len(naming.veth("abcdefgh", i)) <= 15 for i in held)  # the kernel's longest interface name

def test_alert_loop_is_valid_bash_and_ignores_the_verify_probe(tmp_path):
    import subprocess

    t = topo()
    script = tmp_path / "alerts.sh"
    script.write_text(config_files(t, plan(t))["alerts.sh"])
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert "203.0.113.253) echo verify" in script.read_text()


def test_alert_follower_delivers_each_new_alert_once_to_the_command_hook(tmp_path):
    from vhoneynet.capture import follower
    from vhoneynet.gateway.live import alerts

    got = tmp_path / "got.jsonl"
    t = loads(BASE + f"host: {{storage: {tmp_path}}}\ngateway:\n  data_control:\n"
              f"    alerts: {{command: 'cat >> {got}; echo >> {got}'}}\n")
    day = CaptureFolder.of(t).share / "2026-01-31"
    day.mkdir(parents=True)
    RunDir.of(t).create()
    (day / "alerts.jsonl").write_text('{"kind": "compromise", "honeypot": "old"}\n')
    rounds = iter([False, False, True])

    def until() -> bool:
        with (day / "alerts.jsonl").open("a") as f:
            f.write('{"kind": "limit-reached", "honeypot": "web"}\n{"kind": "half')  # a line still being written
        return next(rounds)

    alerts.follow(t, poll=0, until=until)
    delivered = [json.loads(line) for line in got.read_text().splitlines() if line]
    assert [a["honeypot"] for a in delivered] == ["web"]  # nothing from before the follower, nothing twice
    assert follower.start_alerts_follower(topo()) is None  # no hook, no process


def test_reject_becomes_a_marked_alert_that_the_ruleset_answers():
    text = reject.gateway_rules('reject tcp $HOME_NET any -> $EXTERNAL_NET 445 (msg:"smb"; flags:S; sid:7;)\n'
                             'drop tcp any any -> any 1 (msg:"reject in a message stays"; sid:8;)\n'
                             '# reject tcp any any -> any any (sid:9;)\n')
    lines = text.splitlines()
    assert lines[0] == ('alert tcp $HOME_NET any -> $EXTERNAL_NET 445 (nfq_set_mark:0x56480000/0xffff0000; '
                        'msg:"smb"; flags:S; sid:7;)')
    assert lines[1].startswith("drop ") and lines[2].startswith("# reject")
    curated = config_files(topo(), plan(topo()))["honeynet.rules"]
    assert "\nreject " not in curated and curated.count("nfq_set_mark:0x56480000/0xffff0000;") == 2
    text = ruleset(topo())
    assert "meta mark & 0xffff0000 == 0x56480000 ct mark set 0x56480000 counter drop" in text
    assert 'iifname "int" ct mark 0x56480000 ip protocol tcp counter reject with tcp reset' in text
    assert "reject" not in ruleset(topo("    ips: {enabled: false}\n"))


def test_rejectdst_and_rejectboth_are_refused_with_field_and_line(tmp_path):
    from vhoneynet.errors import TopologyInvalid

    rules = tmp_path / "extra.rules"
    rules.write_text("alert tcp any any -> any 1 (sid:1;)\nrejectboth tcp any any -> any 2 (sid:2;)\n")
    with pytest.raises(TopologyInvalid) as info:
        loads(BASE + "gateway:\n  data_control:\n    ips:\n"
              "      rules: ['rejectdst tcp any any -> any 3 (sid:3;)']\n"
              f"      rule_files: [{rules}, {tmp_path}/missing.rules]\n", "t.yml")
    found = {f: (line, msg) for f, line, msg in info.value.problems}
    assert found["gateway.data_control.ips.rules[0]"][0] == 6
    assert "rejectdst is not supported" in found["gateway.data_control.ips.rules[0]"][1]
    assert "line 2: rejectboth" in found["gateway.data_control.ips.rule_files[0]"][1]
    assert "cannot read" in found["gateway.data_control.ips.rule_files[1]"][1]


def test_lockdown_in_the_topology_fills_the_lockdown_set():
    locked = ruleset(topo("    lockdown: true\n")).split("set lockdown {")[1].split("}")[0]
    assert "elements = { 203.0.113.0/24 " in locked
    assert "elements" not in ruleset(topo()).split("set lockdown {")[1].split("}")[0]


def test_config_disk_is_rewritten_in_place(tmp_path):
    from vhoneynet.backend.disks import make_vfat, rewrite_vfat

    disk = tmp_path / "config.img"
    make_vfat(disk, "VHNGW", {"ruleset.nft": "old\n"})
    inode, size = disk.stat().st_ino, disk.stat().st_size
    rewrite_vfat(disk, "VHNGW", {"ruleset.nft": "new and longer\n", "start.sh": "true\n"})
    assert (disk.stat().st_ino, disk.stat().st_size) == (inode, size)  # qemu's open file sees the new files
    read = subprocess.run(["mtype", "-i", str(disk), "::ruleset.nft"], capture_output=True, text=True, check=True)
    assert read.stdout == "new and longer\n"


# The exploit classes the curated rules must cover (issue 8), by their metadata name.
EXPLOIT_CLASSES = {
    "web-path-traversal", "php-cgi-injection", "command-injection", "sql-injection", "file-inclusion",
    "ognl-injection", "spring-expression-injection", "log4shell", "shellshock", "smb-eternalblue",
    "shellcode", "ssh-telnet-brute-force", "cryptominer-stratum", "irc-c2",
}
_RULE = re.compile(r"^(drop|alert|reject|pass|rejectsrc)\s+(\S+)\s.*?\((.*)\)\s*$")


def curated_rules() -> list[dict[str, str]]:
    """Each rule of honeynet.rules as {action, proto, msg, sid, classtype, vhn_class, text}."""
    out = []
    for line in ips.curated_rules().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _RULE.match(line)
        assert m, f"not a rule: {line}"
        options = dict(re.findall(r"(\w+):\s*((?:[^;\\]|\\.)*);", m.group(3)))
        meta = dict(part.strip().split(" ", 1) for part in options.get("metadata", "").split(",") if part.strip())
        out.append({"action": m.group(1), "proto": m.group(2), "msg": options.get("msg", "").strip('"'),
                    "sid": options.get("sid", ""), "classtype": options.get("classtype", ""),
                    "vhn_class": meta.get("vhn_class", ""), "text": line})
    return out


def test_curated_rules_have_unique_sids_in_range_a_class_and_a_clear_message():
    rules = curated_rules()
    sids = [int(r["sid"]) for r in rules]
    assert len(sids) == len(set(sids)), sorted(s for s in sids if sids.count(s) > 1)
    assert all(9100000 <= s <= 9100999 for s in sids)
    for r in rules:
        assert r["msg"].startswith("VHN outbound") or r["msg"].startswith("VHN test") or "VHN crippled" in r["msg"], r
        assert r["classtype"] and r["vhn_class"], r["text"]
        assert r["action"] in ("drop", "reject") or "replace:" in r["text"] or r["vhn_class"] == "test-marker", r
        if r["proto"] == "tcp" and "flags:S" not in r["text"]:
            assert "flow:to_server,established" in r["text"] or "flow:established" in r["text"], r["text"]
    assert EXPLOIT_CLASSES <= {r["vhn_class"] for r in rules}


def test_every_rule_class_has_payloads_and_every_payload_a_class():
    payloads = json.loads(files("vhoneynet").joinpath("data", "rules", "payloads.json").read_text())
    classes = {r["vhn_class"] for r in curated_rules()}
    assert set(payloads["classes"]) == classes
    for cls, items in payloads["classes"].items():
        assert items, cls
        for p in items:
            assert p["name"] and 0 < p["port"] < 65536, p
            assert len({"text", "hex", "connections"} & set(p)) == 1, p
    assert any(p["text"].startswith("GET /index.html ") for p in payloads["benign"])


def test_obfuscated_forms_named_by_the_issue_are_among_the_payloads():
    payloads = json.loads(files("vhoneynet").joinpath("data", "rules", "payloads.json").read_text())
    sent = {cls: " ".join(p.get("text", "") for p in items) for cls, items in payloads["classes"].items()}
    for cls, forms in {
        "web-path-traversal": ["../", "%2e%2e", "..%2f", "%252e"],
        "php-cgi-injection": ["?-d+allow_url_include", "%ADd"],
        "command-injection": [";id", "$(", "`", "|nc", "wget+http://"],
        "sql-injection": ["UNION+SELECT", "'+OR+1=1", "SLEEP(", "BENCHMARK(", "UNI/**/ON"],
        "file-inclusion": ["=http://", "php://filter", "/etc/passwd"],
        "ognl-injection": ["%23_memberAccess", "${#context", "Content-Type: %{("],
        "spring-expression-injection": ["class.module.classLoader", "T(java.lang.Runtime)"],
        "log4shell": ["${jndi:", "${${lower:j}ndi:", "${${::-j}${::-n}", "${env:"],
        "shellshock": ["() {", "(){"],
        "cryptominer-stratum": ['"method": "mining.subscribe"', "mining.authorize", "stratum+tcp://"],
        "irc-c2": ["NICK ", "USER ", "JOIN #", "PRIVMSG "],
    }.items():
        for form in forms:
            assert form in sent[cls], (cls, form)


def test_rule_files_are_copied_one_by_one_and_checked_by_suricata_at_boot(tmp_path):
    extra = tmp_path / "et.rules"
    extra.write_text('alert tcp any any -> any 6667 (msg:"irc"; sid:2000001;)\n')
    t = topo(f"    ips:\n      rule_files: [{extra}]\n      rules: ['drop tcp any any -> any 1 (msg:\"x\"; sid:5;)']\n")
    out = config_files(t, plan(t))
    assert "sid:2000001" in out["rule-file-0.rules"] and "sid:2000001" not in out["custom.rules"]
    conf = YAML(typ="safe").load(out["suricata-outbound.yaml"])
    assert conf["rule-files"] == ["honeynet.rules", "rule-file-0.rules", "custom.rules"]
    check = out["check-rules.sh"]
    assert "suricata -T -c /run/vhn/config/suricata-outbound.yaml" in check
    assert "s|/run/vhn/config/rule-file-0.rules|gateway.data_control.ips.rule_files[0]|" in check
    script = tmp_path / "check.sh"
    script.write_text(check)
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    assert "check-rules.sh) || { say \"failed: $why\"; exit 1; }" in out["start.sh"]


def test_rule_files_must_be_absolute_regular_bounded_utf8(tmp_path, monkeypatch):
    from vhoneynet.errors import TopologyInvalid

    big, binary, folder = tmp_path / "big.rules", tmp_path / "bin.rules", tmp_path / "dir.rules"
    big.write_text("# " + "x" * 200 + "\n")
    binary.write_bytes(b"alert \xff\xfe\n")
    folder.mkdir()
    monkeypatch.setattr(rulefiles, "MAX_RULE_FILE_BYTES", 100)
    with pytest.raises(TopologyInvalid) as info:
        loads(BASE + "gateway:\n  data_control:\n    ips:\n"
              f"      rule_files: [relative.rules, {big}, {binary}, {folder}]\n", "t.yml")
    found = {f: msg for f, _, msg in info.value.problems}
    field = "gateway.data_control.ips.rule_files"
    assert "absolute path" in found[f"{field}[0]"]
    assert "more than 100" in found[f"{field}[1]"]
    assert "not UTF-8" in found[f"{field}[2]"]
    assert "not a regular file" in found[f"{field}[3]"]


def test_config_disk_grows_with_rule_files():
    from vhoneynet.gateway.config.disk import CONFIG_DISK_KIB, config_disk_kib

    assert config_disk_kib({"a": "x"}) == CONFIG_DISK_KIB
    assert config_disk_kib({"et.rules": "x" * 40 * 1024**2}) >= 50 * 1024


def test_verify_containment_verdicts_name_what_crossed():
    from vhoneynet.gateway.live.verify import _containment_verdicts

    t = topo()
    batch = [{"cls": "log4shell", "name": "jndi", "port": 80, "text": "${jndi:x}"},
             {"cls": "irc-c2", "name": "nick", "port": 6667, "text": "NICK a\r\n"},
             {"cls": "ssh-telnet-brute-force", "name": "ssh", "port": 22, "connections": 8},
             {"cls": "benign", "name": "index", "port": 80, "text": "GET /index.html"}]
    rows = [{"cls": "log4shell", "name": "jndi", "sport": 1}, {"cls": "irc-c2", "name": "nick", "sport": 2},
            *({"cls": "ssh-telnet-brute-force", "name": "ssh", "sport": 10 + i} for i in range(8)),
            {"cls": "benign", "name": "index", "sport": 3}]
    arrived = {"1": "", "2": b"NICK a\r\n".hex(), "3": b"GET /index.html".hex(), **{str(10 + i): "" for i in range(5)}}
    flood, ips_ = _containment_verdicts(t, {"echo_sent": 80, "echo_arrived": 50, "rows": rows, "batch": batch,
                                             "connections": arrived})
    assert (flood.verdict, flood.sent, flood.arrived, flood.limit) == ("pass", 80, 50, 50)
    assert ips_.verdict == "fail" and ips_.detail == "crossed intact: irc-c2" and (ips_.sent, ips_.arrived) == (3, 1)
    arrived["2"] = ""
    flood, ips_ = _containment_verdicts(t, {"echo_sent": 80, "echo_arrived": 79, "rows": rows, "batch": batch,
                                             "connections": arrived})
    assert flood.verdict == "fail" and ips_.verdict == "pass" and ips_.detail.startswith("3 of 3 classes blocked")
