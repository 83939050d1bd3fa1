"""Labs end to end: the honeypot catalogue answers real clients, reset and checkpoints, two honeynets at once.

One honeynet of this module (gateway + linux-ssh, linux-mail, linux-db, linux-smb + an outside
host) runs next to the session's honeynet (linux-dns, linux-web): same xdist group, so the two
are up at the same time on one worker, and traffic in each must reach only its own capture.
"""

from __future__ import annotations

import glob
import json
import time
from pathlib import Path

import pytest

from tests.conftest import unique_id
from tests.integration.conftest import (
    Honeynet,
    honeynet_up,
    in_netns,
    leftovers,
    topology_text,
    vhn,
)
from vhoneynet.errors import CONFLICT, NOT_FOUND

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet")]

CATALOGUE = [
    {"name": "ssh", "image": "linux-ssh", "address": "203.0.113.22"},
    {"name": "mail", "image": "linux-mail", "address": "203.0.113.25"},
    {"name": "db", "image": "linux-db", "address": "203.0.113.33"},
    {"name": "smb", "image": "linux-smb", "address": "203.0.113.45"},
]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory):
    """A running honeynet with one honeypot of each recipe the session honeynet lacks."""
    with honeynet_up(tmp_path_factory, CATALOGUE, admin_octets=range(230, 250)) as h:
        yield h


def banner(ns: str, address: str, port: int) -> str:
    script = (f"import socket; s = socket.create_connection(('{address}', {port}), 20); s.settimeout(20); "
              "print(s.recv(200).decode(errors='replace'))")
    r = in_netns(ns, "python3", "-c", script, timeout=40)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_every_recipe_answers_a_real_client_from_outside(catalogue: Honeynet, honeynet: Honeynet):
    out = catalogue.netns("attacker")
    assert banner(out, "203.0.113.22", 22).startswith("SSH-2.0-OpenSSH")
    # the weak account: password logins are offered (BatchMode makes ssh give up instead of asking)
    r = in_netns(out, "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "ConnectTimeout=20", "admin@203.0.113.22", "true", timeout=60)
    assert "password" in r.stderr, r.stderr
    smtp = banner(out, "203.0.113.25", 25)
    assert smtp.startswith("220 mail.corp.example ESMTP Postfix"), smtp
    r = in_netns(out, "mariadb", "-h", "203.0.113.33", "-u", "crm", "-pcrm2019", "--connect-timeout=20", "crm",
                 "-N", "-e", "SELECT COUNT(*) FROM customers", timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "3", r.stderr
    # the share listing (srvsvc over IPC$: samba-dcerpcd, started at boot, see images/linux-smb). smbd
    # answers on 445 (what `up` probes) before samba-dcerpcd has its helpers up (~36 s of boot under
    # TCG, over ten minutes on a host busy with other honeynets): until then the listing is empty, so
    # ask until a deadline
    deadline = time.monotonic() + 1500
    while True:
        r = in_netns(out, "smbclient", "-L", "//203.0.113.45", "-N", "-t", "60", timeout=120)
        shares = {line.split()[0] for line in r.stdout.splitlines() if line.startswith("\t") and "Disk" in line}
        if {"public", "office"} <= shares or time.monotonic() > deadline:
            break
        time.sleep(15)
    assert {"public", "office"} <= shares, r.stdout + r.stderr
    r = in_netns(out, "smbclient", "//203.0.113.45/public", "-N", "-t", "60", "-c", "ls", timeout=120)
    assert "holiday-calendar.txt" in r.stdout and "wifi-guest.txt" in r.stdout, r.stdout + r.stderr
    # the session honeynet holds the other two recipes
    web = in_netns(honeynet.netns("attacker"), "curl", "-sS", "-m", "20", "http://203.0.113.80/")
    dns = in_netns(honeynet.netns("attacker"), "dig", "+short", "+time=5", "@203.0.113.53", "web.corp.example")
    assert "intranet" in web.stdout.lower() and dns.stdout.strip() == "203.0.113.80"


def pcaps(h: Honeynet) -> dict[str, int]:
    return {f: Path(f).stat().st_size for f in glob.glob(str(h.capture / h.hid / "gateway" / "*" / "pcap" / "*.pcap*"))}


def test_reset_discards_and_checkpoint_restores_a_file_captures_kept(catalogue: Honeynet):
    marker = f"/root/vhn-marker-{catalogue.hid}"
    assert catalogue.sh("ssh", f"echo compromised > {marker} && sync").returncode == 0
    vhn("checkpoint", catalogue.hid, "compromised", "ssh")
    assert catalogue.sh("ssh", f"rm {marker}; echo later > /root/after-checkpoint; sync").returncode == 0
    before = pcaps(catalogue)
    assert before, "no capture before the reset"

    result = json.loads(vhn("reset", catalogue.hid, "ssh", "--json").stdout)
    assert set(result["guests"]) == {"ssh"} and result["to"] == "pristine"
    assert result["guests"]["ssh"]["how"] == "restore"  # from the warm state `up` saved: no boot
    assert catalogue.sh("ssh", f"test -e {marker} || test -e /root/after-checkpoint").returncode == 1
    after = pcaps(catalogue)
    assert all(after.get(f, -1) >= size for f, size in before.items()), "captured data lost by reset"
    consoles = catalogue.capture / catalogue.hid / "consoles"
    assert list(consoles.glob("ssh.before-reset-*.log")), "console of the guest's previous life not archived"
    status = json.loads(vhn("status", catalogue.hid, "--json").stdout)
    assert all(g["state"] == "running" for g in status["guests"])  # gateway and the others stayed up

    result = json.loads(vhn("reset", catalogue.hid, "ssh", "--to", "compromised", "--json").stdout)
    assert result["guests"]["ssh"]["disk_revert"] < 2 and result["guests"]["ssh"]["how"] == "boot"
    r = catalogue.sh("ssh", f"cat {marker}; test -e /root/after-checkpoint")
    assert r.stdout.decode().strip() == "compromised" and r.returncode == 1
    # a checkpoint with memory: a process started before it runs again after `reset --to` it
    assert catalogue.sh("ssh", "nohup sleep 86400 > /dev/null 2>&1 &").returncode == 0
    vhn("checkpoint", catalogue.hid, "running", "ssh", "--memory")
    assert catalogue.sh("ssh", "pkill -x sleep; echo later > /root/after-running").returncode == 0
    result = json.loads(vhn("reset", catalogue.hid, "ssh", "--to", "running", "--json").stdout)
    assert result["guests"]["ssh"]["how"] == "restore", result
    r = catalogue.sh("ssh", f"cat {marker}; pgrep -x sleep > /dev/null && ! test -e /root/after-running")
    assert r.stdout.decode().strip() == "compromised" and r.returncode == 0, r
    r = vhn("reset", catalogue.hid, "ssh", "--to", "nonesuch", check=False)
    assert r.returncode == NOT_FOUND and b"no checkpoint 'nonesuch'" in r.stderr


def test_two_honeynets_capture_only_their_own_traffic(catalogue: Honeynet, honeynet: Honeynet):
    mine, theirs = f"vhn-mine-{catalogue.hid}".encode(), f"vhn-theirs-{honeynet.hid}".encode()
    in_netns(catalogue.netns("attacker"), "bash", "-c", f"printf '{mine.decode()}\\r\\n' | nc -w 3 203.0.113.22 22")
    in_netns(honeynet.netns("attacker"), "curl", "-s", "-m", "10", f"http://203.0.113.80/{theirs.decode()}")

    def captured(h: Honeynet) -> bytes:
        return b"".join(Path(f).read_bytes() for f in pcaps(h))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (mine in captured(catalogue) and theirs in captured(honeynet)):
        time.sleep(1)
    assert mine in captured(catalogue) and theirs in captured(honeynet)
    assert theirs not in captured(catalogue) and mine not in captured(honeynet)
    listed = {row["id"]: row for row in json.loads(vhn("list", "--json").stdout)}
    assert listed[catalogue.hid]["state"] == listed[honeynet.hid]["state"] == "running"
    assert listed[catalogue.hid]["guests"] == 5


def test_topology_colliding_with_a_running_honeynet_is_refused_before_anything_exists(catalogue: Honeynet, tmp_path):
    hid = unique_id()
    admin = json.loads(catalogue.topology.read_text())["networks"]["admin"]["cidr"]
    text = json.loads(topology_text(hid, tmp_path / "captures", admin_octet=0))
    text["networks"]["admin"]["cidr"] = admin
    topology = tmp_path / "collides.yml"
    topology.write_text(json.dumps(text))
    try:
        r = vhn("up", str(topology), check=False, timeout=120)
        assert r.returncode == CONFLICT
        assert f"networks.admin.cidr {admin} collides with the admin network {admin} of honeynet '{catalogue.hid}'" \
            in r.stderr.decode().replace("\n", " ").replace("  ", " ")
        assert not any(leftovers(hid).values()), leftovers(hid)
        assert not (tmp_path / "captures").exists()
        assert json.loads(vhn("status", catalogue.hid, "--json").stdout)["state"] == "running"
    finally:
        vhn("down", hid, check=False)
