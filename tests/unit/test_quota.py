"""Capture quota: parsing, how it is split between the gateway's writers, the host's decision,
and the share's hardening on the host (mount, virtiofsd wrapper) and in the rendered configs."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO
from vhoneynet.capture import quota, share
from vhoneynet.capture.quota import State
from vhoneynet.errors import TopologyInvalid
from vhoneynet.gateway.config import capture
from vhoneynet.gateway.config.disk import config_files
from vhoneynet.guestxml import capture_share, virtiofsd_wrapper
from vhoneynet.plan import plan
from vhoneynet.render import render
from vhoneynet.rundir import CaptureFolder
from vhoneynet.topology import load, loads

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def with_quota(value: str, **capture_fields: str):
    fields = "".join(f", {k}: {v}" for k, v in capture_fields.items())
    return loads(f"id: q1\ngateway:\n  capture: {{quota: {value!r}{fields}}}\n"
                 "honeypots:\n  - {name: web, image: linux-web, address: 203.0.113.10}\n")


def test_quota_default_and_units():
    assert load(REPO / "topologies" / "demo.yml").gateway.capture.quota_bytes == 10 << 30
    assert with_quota("2M").gateway.capture.quota_bytes == 2 << 20
    assert with_quota("3T").gateway.capture.quota_bytes == 3 << 40


@pytest.mark.parametrize("bad", ["10GB", "0G", "10g", "-1M", "10", "G", "1.5G", "1000000G"])
def test_bad_quota_names_the_field(bad):
    with pytest.raises(TopologyInvalid, match=r"gateway\.capture\.quota"):
        with_quota(bad)


def test_budget_splits_the_quota():
    big = capture.budget(with_quota("10G").gateway.capture, honeypots=4)
    assert (big.pcap_file_mb, big.pcap_files) == (100, 53)  # rotate_mb kept; 53 x 100 MB ~ half of 10 GiB
    assert big.log_file == (10 << 30) // 4 // 8
    tiny = capture.budget(with_quota("2M").gateway.capture, honeypots=1)
    assert (tiny.pcap_file_mb, tiny.pcap_files) == (1, 2)  # tcpdump's smallest ring
    assert tiny.log_file == (2 << 20) // 4 // 2
    assert capture.budget(with_quota("1M").gateway.capture, honeypots=50).log_file == capture.MIN_FILE_BYTES
    # a pcap file is never more than a quarter of the pcap part, whatever rotate_mb says
    assert capture.budget(with_quota("100M", rotate_mb="1000").gateway.capture, 1).pcap_file_mb == 13


def test_state_against_quota_and_margin():
    gib = 1 << 30
    assert quota.state(0, 10 * gib) is State.within
    assert quota.state(10 * gib - 1, 10 * gib) is State.within
    assert quota.state(10 * gib, 10 * gib) is State.full
    assert quota.state(11 * gib - 1, 10 * gib) is State.full
    assert quota.state(11 * gib, 10 * gib) is State.breached
    # a small quota gets the smallest margin: what arrives before the gateway's watcher acts
    assert quota.state((1 << 20) + quota.HOST_MARGIN_MIN - 1, 1 << 20) is State.full
    assert quota.state((1 << 20) + quota.HOST_MARGIN_MIN, 1 << 20) is State.breached


def test_usage_counts_blocks_and_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(os.urandom(1 << 20))
    shared = tmp_path / "share"
    (shared / "2026-12-02" / "pcap").mkdir(parents=True)
    (shared / "2026-12-02" / "pcap" / "a.pcap").write_bytes(os.urandom(64 << 10))
    (shared / "2026-12-02" / "big").symlink_to(outside)
    (shared / "2026-12-02" / "dir").symlink_to(tmp_path)
    with open(shared / "sparse", "wb") as f:
        f.truncate(1 << 30)  # 1 GiB long, nothing in it
    used = quota.usage(shared)
    assert 64 << 10 <= used < 200 << 10


class FakeLinks:
    def __init__(self, up: bool = True):
        self.up = up
        self.calls: list[tuple[str, bool]] = []

    def link_is_up(self, name: str) -> bool:
        return self.up

    def set_link_up(self, name: str, up: bool) -> None:
        self.calls.append((name, up))
        self.up = up


def fill(folder: Path, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fill").write_bytes(os.urandom(size))


def test_host_takes_the_ext_nic_down_only_past_the_margin(tmp_path):
    root = tmp_path / "q1"  # a capture folder is named by its honeynet id
    topo = with_quota("1M")
    ext = next(n.tap for n in plan(topo).gateway.nics if n.role == "ext")
    links = FakeLinks()
    fill(root / "gateway", 1100 << 10)  # over quota, within the margin: the gateway's turn
    result = quota.enforce(root, topo, lambda: links)
    assert result["state"] == "full" and not links.calls and "locked_down" not in result
    fill(root / "gateway" / "more", quota.HOST_MARGIN_MIN)
    result = quota.enforce(root, topo.model_dump(mode="json"), lambda: links)  # as the saved topology
    assert result["state"] == "breached" and result["locked_down"] == ext and links.calls == [(ext, False)]
    assert result["alert"]["kind"] == "capture-full" and result["alert_problems"] == []  # no hook in this topology
    quota.enforce(root, topo, lambda: links)  # already down: left alone
    assert links.calls == [(ext, False)]
    assert quota.enforce(root, None, lambda: links) is None  # captures read after the fact


def test_host_alert_goes_to_the_topologys_hook(tmp_path):
    root = tmp_path / "q1"
    got = tmp_path / "alert.json"
    topo = loads("id: q1\ngateway:\n  capture: {quota: 1M}\n"
                 f"  data_control: {{alerts: {{command: 'cat > {got}'}}}}\n"
                 "honeypots:\n  - {name: web, image: linux-web, address: 203.0.113.10}\n")
    fill(root / "gateway", (1 << 20) + quota.HOST_MARGIN_MIN)
    result = quota.enforce(root, topo, FakeLinks)
    assert result["locked_down"] and result["alert_problems"] == []
    sent = json.loads(got.read_text())
    assert sent["kind"] == "capture-full" and sent["source"] == "host" and sent["honeynet"] == "q1"


def test_gateway_scripts_are_valid_shell(tmp_path):
    topo = with_quota("2M")
    files = config_files(topo, plan(topo))
    for name, shell in (("capture.sh", "sh"), ("start.sh", "sh"), ("stop.sh", "sh"), ("alerts.sh", "bash")):
        (tmp_path / name).write_text(files[name])
        check = subprocess.run([shell, "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert check.returncode == 0, (name, check.stderr)


def test_gateway_configs_carry_the_budget():
    topo = with_quota("2M")
    files = config_files(topo, plan(topo))
    assert "-G 3600 -C 1 -W 2 " in files["start.sh"]
    assert "mount -t virtiofs -o nosuid,nodev,noexec capture /capture" in files["start.sh"]
    watcher = files["capture.sh"]
    assert f"-ge {(2 << 20) // 1024} ]" in watcher and 'nft add element bridge vhn_capture capture_full "{ 203.0.113.0/24 }"' in watcher
    assert '"kind":"capture-full"' in watcher and "pgrep -x tcpdump" in watcher
    assert 'oifname "ext" ip saddr @capture_full ct direction original goto capture-full' in files["capture.nft"]
    cap = capture.budget(topo.gateway.capture, 1).log_file
    assert files["loghost.conf"].count(f"_bytes <= {cap} then") == 4  # syslog and audit, of web and of unknown senders


def test_audit_channel_only_from_privileged_ports():
    topo = with_quota("10G")
    files = config_files(topo, plan(topo))
    nft = files["capture.nft"]
    assert f"udp dport {capture.AUDIT_PORT} udp sport < 1024 limit rate" in nft
    assert "ip daddr 203.0.113.254 drop" in nft  # the rest for the log host goes nowhere
    conf = files["loghost.conf"]
    assert f'input(type="imudp" port="{capture.AUDIT_PORT}"' in conf and 'ruleset="audit"' in conf
    assert "/audit/web.log" in conf and "/syslog/web.log" in conf


@ROOT
def test_audit_forwarder_sends_each_line_as_one_datagram_from_a_privileged_port():
    """The honeypots' audit forwarder (cloudinit/audit.py.j2) against a local log host: each
    queued line leaves as one syslog datagram, from a source port only root can bind."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    scope = {"__name__": "vhn_audit"}
    source = render("cloudinit/audit.py.j2", loghost="127.0.0.1", port=receiver.getsockname()[1])
    exec(compile(source, "audisp-remote", "exec"), scope)  # noqa: S102 - our own template
    pending = queue.Queue()
    threading.Thread(target=scope["send"], args=(pending,), daemon=True).start()
    try:
        for line in ("audit: type=1319 first", "audit: type=1319 second\nline"):
            pending.put(line)
        got = [receiver.recvfrom(65536) for _ in range(2)]
    finally:
        receiver.close()
    assert [data.decode().split(" audisp-remote: ")[1] for data, _ in got] == [
        "audit: type=1319 first", "audit: type=1319 second line"]
    assert all(peer[1] < 1024 for _, peer in got) and got[0][1] == got[1][1]  # one socket, one port


def test_domain_shares_only_the_gateway_folder_through_the_wrapper(tmp_path):
    topo = loads(f"id: q1\nhost: {{storage: {tmp_path}}}\nhoneypots:\n  - {{name: web, image: linux-web, address: 203.0.113.10}}\n")
    assert capture_share(topo) == tmp_path / "captures" / "q1" / "gateway"
    assert virtiofsd_wrapper(topo) == tmp_path / "honeynets" / "q1" / "virtiofsd"
    script = share.wrapper_script(topo)
    assert "-o sandbox=namespace -o no_xattr -o modcaps=-mknod:-setfcap:-fsetid:-chown" in script
    assert '[ "$arg" = --print-capabilities ] && exec /usr/lib/qemu/virtiofsd "$@"' in script


@ROOT
def test_share_is_private_and_mounted_nosuid_nodev_noexec(tmp_path):
    topo = loads(f"id: q1\nhost: {{storage: {tmp_path}}}\nhoneypots:\n  - {{name: web, image: linux-web, address: 203.0.113.10}}\n")
    CaptureFolder.of(topo).create()
    shared = share.prepare(topo)
    try:
        share.prepare(topo)  # twice: still one mount
        mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if line.split()[4] == str(shared)]
        assert len(mounts) == 1 and {"nosuid", "nodev", "noexec"} <= set(mounts[0][5].split(","))
        assert (shared.stat().st_mode & 0o777, shared.stat().st_uid) == (0o700, 0)
        wrapper = virtiofsd_wrapper(topo)
        assert wrapper.stat().st_mode & 0o777 == 0o700
    finally:
        share.release(shared)
    assert not share.is_mounted(shared) and shared.is_dir()
