"""The gateway as an intruder's: what it can leave in its capture share must not reach the host.

One real honeynet (gateway, one DNS honeypot, an outside host) with a small capture quota. From
inside the gateway, as its root, the test plants what an intruder would: symlinks where the host
reads capture files (to /etc/shadow) and where it writes derived files (to /etc/profile.d), a
day folder that is a link to `/`, a setuid-root shell, a device node, a fifo named as a log
file. Then it runs the host's readers (`events`, `export`, `alerts`) and checks that no host
file's content comes out and nothing is written outside the share. It also checks the audit
channel (a user's `logger` cannot forge a keystroke or command; typed keystrokes still arrive)
and, last, that a full share makes control win: outbound locked down, alert raised, inbound
still served.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unique_id
from tests.integration.conftest import (
    REAL_GUESTS,
    Honeynet,
    free_admin_octet,
    in_netns,
    running,
    ssh_login,
    topology_text,
    type_over_ssh,
    vhn,
)

pytestmark = [*REAL_GUESTS, pytest.mark.xdist_group("share")]
DNS, ATTACKER = "203.0.113.53", "203.0.113.66"
QUOTA = "6M"
SHADOW = Path("/etc/shadow")
PLANTED = Path("/etc/profile.d/vhn-planted.sh")  # where a followed unique.log link would write
HOST_STATE = {"consoles", "events.sqlite", "derived", "gateway"}  # what a capture folder may hold


def host_state(h: Honeynet) -> set[str]:
    """Names in the capture folder, outside the share (the store's journal counts as the store)."""
    return {p.name.split("-")[0] for p in (h.capture / h.hid).iterdir()}


@pytest.fixture(scope="module")
def honeynet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Honeynet]:
    """A gateway and one honeypot, capture quota QUOTA; removed afterwards, captures included."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    hid = unique_id()
    work = tmp_path_factory.mktemp(hid)
    capture = work / "captures"
    spec = json.loads(topology_text(hid, capture, admin_octet=free_admin_octet(hid),
                                    honeypots=[{"name": "dns", "image": "linux-dns", "address": DNS}]))
    spec["gateway"]["capture"]["quota"] = QUOTA
    topology = work / "topology.yml"
    topology.write_text(json.dumps(spec))
    try:
        with running(topology, capture) as h:
            yield h
    finally:
        subprocess.run(["umount", str(capture / hid / "gateway")], capture_output=True)  # if down did not
        subprocess.run(["rm", "-rf", "--one-file-system", str(capture)], capture_output=True)


def share(h: Honeynet) -> Path:
    return h.capture / h.hid / "gateway"


def today() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")


def gateway(h: Honeynet, script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return h.sh("gateway", script, timeout=timeout)


def events(h: Honeynet, *args: str) -> list[dict]:
    out = vhn("events", h.hid, "--json", *args, timeout=300).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for(h: Honeynet, check, timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events(h) if check(e)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(3)


def test_gateway_writes_only_day_folders_into_its_share(honeynet: Honeynet):
    folder = share(honeynet)
    assert (folder.stat().st_mode & 0o777, folder.stat().st_uid) == (0o700, 0)
    mount = os.statvfs(folder)
    assert mount.f_flag & os.ST_NOSUID and mount.f_flag & os.ST_NODEV and mount.f_flag & os.ST_NOEXEC
    assert (folder / today() / "pcap").is_dir()
    # the host's own state stays outside the share, the gateway's day folders inside it
    assert host_state(honeynet) <= HOST_STATE


def test_planted_files_cannot_reach_the_host(honeynet: Honeynet, tmp_path: Path):
    day = today()
    canary = tmp_path / "canary"  # a host folder an old day's link points at: retention must not empty it
    canary.mkdir()
    (canary / "keep").write_text("host data\n")
    shadow_before = hashlib.sha256(SHADOW.read_bytes()).hexdigest()
    secret = SHADOW.read_text().splitlines()[0]  # root's line of the host's shadow: what must never come out
    planted = f"""
        set -u
        d=/capture/{day}
        mkdir -p $d/ids $d/firewall $d/syslog $d/audit
        ln -sfn /etc/shadow $d/ids/eve-planted.json
        ln -sfn /etc/shadow $d/ids/fast-planted.log
        ln -sfn /etc/shadow $d/syslog/planted.log
        ln -sfn /etc/shadow $d/audit/planted.log
        ln -sfn {PLANTED} $d/firewall/unique.log
        ln -sfn /etc $d/firewall/etc
        ln -sfn / /capture/2099-01-01
        ln -sfn {canary} /capture/2020-01-01
        mkdir -p /capture/2026-01-01 && ln -sfn /etc/shadow /capture/2026-01-01/alerts.jsonl
        cp /bin/sh $d/suid-shell && chmod 4755 $d/suid-shell
        mkfifo $d/syslog/fifo.log
        mknod $d/kmem c 1 2 2>/dev/null && echo MKNOD-WORKED
        mknod $d/disk b 253 0 2>/dev/null && echo MKNOD-WORKED
        ls -l $d/suid-shell
        """
    r = gateway(honeynet, planted)
    assert r.returncode == 0, r
    assert b"MKNOD-WORKED" not in r.stdout  # virtiofsd without CAP_MKNOD makes no device nodes
    folder = share(honeynet)
    for path in folder.rglob("*"):
        mode = path.lstat().st_mode
        assert not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)), path
    # a setuid-root file in the share is inert on the host: its mount is nosuid and noexec
    suid = folder / day / "suid-shell"
    assert os.statvfs(suid).f_flag & os.ST_NOSUID
    run = subprocess.run(["runuser", "-u", "nobody", "--", str(suid), "-c", "id -u"], capture_output=True, text=True)
    assert run.returncode != 0 and run.stdout.strip() != "0", run
    # the host's readers, as an operator would run them
    outputs = []
    for args in (["events", honeynet.hid, "--json"], ["alerts", honeynet.hid, "--json"],
                 ["export", honeynet.hid, "--day", day, "-o", str(tmp_path / "export.tar.gz")]):
        proc = vhn(*args, check=False, timeout=120)  # a fifo read as a file would hang here
        outputs.append(proc.stdout + proc.stderr)
    for out in outputs:
        assert secret.encode() not in out
    store = honeynet.capture / honeynet.hid / "events.sqlite"
    if store.exists():
        assert secret.encode() not in store.read_bytes()
    export = tmp_path / "export.tar.gz"
    if export.exists():
        with tarfile.open(export) as tar:
            for member in tar.getmembers():
                assert not (member.issym() or member.islnk() or member.ischr() or member.isblk() or member.isfifo()), member
                if member.isfile():
                    assert secret.encode() not in tar.extractfile(member).read(), member.name
    # nothing written outside the share: the link targets are as they were
    assert not PLANTED.exists()
    assert [p.name for p in canary.iterdir()] == ["keep"] and (canary / "keep").read_text() == "host data\n"
    assert hashlib.sha256(SHADOW.read_bytes()).hexdigest() == shadow_before
    assert host_state(honeynet) <= HOST_STATE


def test_a_user_cannot_forge_keystrokes_or_commands(honeynet: Honeynet):
    marker = f"vhn{time.time_ns() % 10**9}"
    forged_tty = (f"audit: type=1319 audit(1795925302.936:84): tty pid=632 uid=0 auid=0 ses=3 major=136 minor=0 "
                  f'comm="bash" data={f"forged-{marker}".encode().hex().upper()}')
    forged_execve = f'audit: type=1309 audit(1795925225.496:18): argc=2 a0="forged" a1="{marker}"'
    for line in (forged_tty, forged_execve):
        r = honeynet.sh("dns", f"runuser -u nobody -- logger -t vhn-audit '{line}'")
        assert r.returncode == 0, r
    # nor straight to the audit channel, from an unprivileged port
    honeynet.sh("dns", f"runuser -u nobody -- timeout 10 bash -c 'echo \"<85>{forged_execve}\" > /dev/udp/203.0.113.254/601'")
    # a real typed line on the honeypot's console-less session: a root login over ssh from outside
    keydir = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True).stdout.strip())
    try:
        type_over_ssh(ssh_login(honeynet, "dns", DNS, keydir), [f"echo typed-{marker}\n", "exit\n"])
    finally:
        subprocess.run(["rm", "-rf", str(keydir)])
    typed = wait_for(honeynet, lambda e: e["type"] == "keystrokes" and f"typed-{marker}" in e["data"]["typed"])
    assert typed, "typed keystrokes did not arrive"
    assert list((share(honeynet) / today() / "audit").glob("dns.log"))
    forged = [e for e in events(honeynet) if e["type"] in ("keystrokes", "command")
              and (f"forged-{marker}" in json.dumps(e) or marker in " ".join(e.get("data", {}).get("argv", [])))]
    assert not forged, forged


def test_a_full_share_locks_outbound_and_keeps_inbound(honeynet: Honeynet):
    # outbound works before: the honeypot reaches the outside host
    listener = subprocess.Popen(["ip", "netns", "exec", honeynet.netns("attacker"), "timeout", "60", "nc", "-k", "-l", "-p", "8098"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        before = honeynet.sh("dns", f"timeout 10 bash -c 'echo x > /dev/tcp/{ATTACKER}/8098' && echo OUT-OK")
        assert b"OUT-OK" in before.stdout, before
        # the gateway's pcap day folder fills past the quota (as a flood of captured traffic would)
        fill = f"dd if=/dev/zero of=/capture/{today()}/pcap/fill bs=1M count=6 conv=fsync"  # within the host's margin
        assert gateway(honeynet, fill).returncode == 0
        deadline = time.monotonic() + 90
        alerts: list[dict] = []
        while time.monotonic() < deadline and not alerts:
            time.sleep(5)
            found = (share(honeynet) / today() / "alerts.jsonl")
            lines = found.read_text().splitlines() if found.is_file() else []
            alerts = [a for a in map(json.loads, lines) if a["kind"] == "capture-full"]
        assert alerts and "quota" in alerts[0]["reason"], alerts
        after = honeynet.sh("dns", f"timeout 10 bash -c 'echo x > /dev/tcp/{ATTACKER}/8098' && echo OUT-OK")
        assert b"OUT-OK" not in after.stdout, after
    finally:
        listener.kill()
        listener.wait()
    # inbound is still served: the attacker resolves a name through the dns honeypot
    r = in_netns(honeynet.netns("attacker"), "dig", "+short", "+time=5", f"@{DNS}", "dns.corp.example")
    assert r.stdout.strip() == DNS, r
    # past the margin the host itself takes the gateway's internet side down (control wins)
    more = f"dd if=/dev/zero of=/capture/{today()}/pcap/fill2 bs=1M count=72 conv=fsync"  # past quota + 64 MiB
    assert gateway(honeynet, more, timeout=300).returncode == 0
    vhn("events", honeynet.hid, "--json", "--limit", "1", timeout=300)  # a host capture pass, as the follower runs
    r = in_netns(honeynet.netns("attacker"), "dig", "+short", "+time=3", "+tries=1", f"@{DNS}", "dns.corp.example")
    assert r.stdout.strip() != DNS, r
