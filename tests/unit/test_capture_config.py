"""What the gateway and honeypots are told for capture: the log sink, its rsyslog files, the seed."""

from __future__ import annotations

import pytest

from ruamel.yaml import YAML

from vhoneynet import seed
from vhoneynet.errors import TopologyInvalid
from vhoneynet.render import render
from vhoneynet.gateway import capture
from vhoneynet.seed import documents
from vhoneynet.topology import loads

KNOWN = {"honeywall", "linux-dns", "linux-web"}
TOPO = ("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.80}\n"
        "  - {name: dns, image: linux-dns, address: 203.0.113.53}\n")


def test_log_sink_defaults_to_the_last_usable_address():
    topo = loads(TOPO, known_images=KNOWN)
    files = capture.config_files(topo)
    assert 'address="203.0.113.254"' in files["loghost.conf"]
    assert "ip daddr 203.0.113.254 tcp dport 514" in files["capture.nft"] and 'fwd to "vlog"' in files["capture.nft"]
    assert "ip -n log addr add 203.0.113.254/24 dev sink" in files["capture.sh"]


def test_one_syslog_file_per_honeypot_chosen_by_address_not_by_claimed_hostname():
    conf = capture.config_files(loads(TOPO, known_images=KNOWN))["loghost.conf"]
    assert '$fromhost-ip == "203.0.113.80"' in conf and "/syslog/web.log" in conf
    assert '$fromhost-ip == "203.0.113.53"' in conf and "/syslog/dns.log" in conf
    assert "%hostname%" not in conf.split("template(name=\"line\"")[0]  # no attacker-chosen names in paths


def test_honeypots_forward_syslog_and_audit_commands_at_every_boot():
    topo = loads(TOPO + "networks:\n  honeynet: {loghost: 203.0.113.250}\n", known_images=KNOWN)
    user_data = YAML(typ="safe").load(documents(topo, topo.honeypots[0])["user-data"])
    files = {f["path"]: f for f in user_data["write_files"]}
    assert 'target="203.0.113.250" port="514" protocol="tcp"' in files["/etc/rsyslog.d/90-vhn-loghost.conf"]["content"]
    assert files[seed.AUDIT_SCRIPT]["permissions"] == "0755"
    assert any(seed.AUDIT_SCRIPT in c for c in user_data["bootcmd"])  # every boot, not only the first
    assert seed.AUDIT_SCRIPT in user_data["runcmd"]


def test_audit_script_compiles():
    compile(render("cloudinit/audit-commands.py.j2"), "vhn-audit-commands", "exec")


def test_loghost_on_a_honeypot_address_is_refused():
    with pytest.raises(TopologyInvalid, match="loghost"):
        loads(TOPO + "networks:\n  honeynet: {loghost: 203.0.113.80}\n", known_images=KNOWN)
