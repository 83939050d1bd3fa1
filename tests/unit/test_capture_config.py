"""What the gateway and honeypots are told for capture: the log sink, its rsyslog files, the seed."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from vhoneynet import hardware, seed
from vhoneynet.errors import TopologyInvalid
from vhoneynet.gateway.config import capture
from vhoneynet.render import render
from vhoneynet.seed import documents
from vhoneynet.topology import loads

KNOWN = {"honeywall", "linux-dns", "linux-web"}
TOPO = ("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.80}\n"
        "  - {name: dns, image: linux-dns, address: 203.0.113.53}\n")


def test_log_sink_defaults_to_the_last_usable_address():
    topo = loads(TOPO, known_images=KNOWN)
    files = capture.config_files(topo)
    assert 'address="203.0.113.254"' in files["loghost.conf"]
    assert "ip daddr 203.0.113.254 udp dport 514" in files["capture.nft"] and 'fwd to "vlog"' in files["capture.nft"]
    assert "ip -n log addr add 203.0.113.254/32 dev sink" in files["capture.sh"]


def test_the_log_sink_never_answers_and_the_honeypots_never_ask_for_it():
    """Layer 2 capture: the sink is on no bridge, has ARP off and the honeypots' pinned MAC;
    whatever is not a honeypot's datagram for it is dropped at ingress, ARP included."""
    topo = loads(TOPO, known_images=KNOWN)
    files = capture.config_files(topo)
    mac = capture.sink_mac(topo)
    assert f"link set sink address {mac} arp off" in files["capture.sh"] and "master br0" not in files["capture.sh"]
    assert "ip daddr 203.0.113.254 drop" in files["capture.nft"] and "arp daddr ip 203.0.113.254 drop" in files["capture.nft"]
    assert mac[:8] in {oui for p in hardware.CATALOGUE.values() for oui in p.ouis}  # a vendor's, not qemu's
    user_data = YAML(typ="safe").load(documents(topo, topo.honeypots[0])["user-data"])
    neighbour = {f["path"]: f["content"] for f in user_data["write_files"]}[seed.LOG_NEIGHBOUR]
    assert f"Address=203.0.113.254\nLinkLayerAddress={mac}" in neighbour
    assert f"ip neigh replace 203.0.113.254 lladdr {mac} dev eth0 nud permanent" in user_data["runcmd"]


def test_one_syslog_file_per_honeypot_chosen_by_address_not_by_claimed_hostname():
    conf = capture.config_files(loads(TOPO, known_images=KNOWN))["loghost.conf"]
    assert '$fromhost-ip == "203.0.113.80"' in conf and "/syslog/web.log" in conf
    assert '$fromhost-ip == "203.0.113.53"' in conf and "/syslog/dns.log" in conf
    assert "%hostname%" not in conf.split("template(name=\"line\"")[0]  # no attacker-chosen names in paths


def test_honeypots_forward_syslog_and_audit_sessions_at_every_boot():
    topo = loads(TOPO + "networks:\n  honeynet: {loghost: 203.0.113.250}\n", known_images=KNOWN)
    user_data = YAML(typ="safe").load(documents(topo, topo.honeypots[0])["user-data"])
    files = {f["path"]: f for f in user_data["write_files"]}
    assert 'target="203.0.113.250" port="514" protocol="udp"' in files[seed.SYSLOG_FORWARD]["content"]
    assert files[seed.AUDIT_SCRIPT]["permissions"] == "0755"
    assert files[seed.AUDIT_SCRIPT]["content"].splitlines()[0] == "#!/usr/bin/python3"  # the kernel runs it by this line
    unit = files[f"/etc/systemd/system/{seed.AUDIT_UNIT}"]["content"]
    assert f"ExecStart={seed.AUDIT_SCRIPT}" in unit and "Restart=always" in unit and "WantedBy=multi-user.target" in unit
    assert f"systemctl enable --now {seed.AUDIT_UNIT}" in user_data["runcmd"]  # enabled: every boot, not only the first
    # keystrokes: pam_tty_audit in the session stack of ssh and console logins, added once
    assert seed.TTY_AUDIT_PAM in user_data["runcmd"] and "pam_tty_audit.so enable=*" in seed.TTY_AUDIT_PAM
    assert "bootcmd" not in user_data


def _audit_module() -> dict:
    scope = {"__name__": "vhn_audit"}
    exec(compile(render("cloudinit/audit.py.j2", loghost="127.0.0.1", port=601), "vhn-audit", "exec"), scope)  # noqa: S102 - our own template
    return scope


def test_audit_forwarder_keeps_records_in_the_kernel_log_form():
    lines = _audit_module()["lines"]
    execve = 'audit(1795925225.496:18): argc=2 a0="uname" a1="-a"'
    assert lines(1309, execve) == [f"audit: type=1309 {execve}"]
    short = 'audit(1795925302.936:84): tty pid=632 uid=0 auid=0 ses=3 major=136 minor=0 comm="bash" data=6C730A'
    assert lines(1319, short) == [f"audit: type=1319 {short}"]


def test_audit_forwarder_cuts_long_keystroke_records_into_pieces():
    module = _audit_module()
    typed = bytes(range(32, 127)) * 30  # 2850 bytes: three pieces
    record = f'audit(1795925302.936:84): tty pid=632 uid=0 auid=0 ses=3 major=136 minor=0 comm="bash" data={typed.hex().upper()}'
    pieces = module["lines"](1319, record)
    assert len(pieces) == 3 and all(len(p) < 2 * module["PIECE"] + 200 for p in pieces)
    assert [p.split(" part=")[1].split(" ")[0] for p in pieces] == ["1/3", "2/3", "3/3"]
    assert b"".join(bytes.fromhex(p.rsplit("data=", 1)[1]) for p in pieces) == typed
    assert all(p.startswith('audit: type=1319 audit(1795925302.936:84): tty pid=632') for p in pieces)


def test_loghost_on_a_honeypot_address_is_refused():
    with pytest.raises(TopologyInvalid, match="loghost"):
        loads(TOPO + "networks:\n  honeynet: {loghost: 203.0.113.80}\n", known_images=KNOWN)
