"""Warm `up` on real guests: the honeynet brought up a second time from the same topology file
restores its gateway and its honeypot from the warm states the first `up` kept (no boot: the
honeypot answers an outside host through the gateway at once, both clocks are right, its syslog,
the packets and the IDS logs reach the capture); kept states libvirt cannot read make both boot
instead; `down` leaves nothing of the honeynet but the kept states, which `prune` removes."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import unique_id
from tests.integration.conftest import (
    REAL_GUESTS,
    free_admin_octet,
    in_netns,
    leftovers,
    topology_text,
    vhn,
)
from vhoneynet.topology.model import DEFAULT_STORAGE
from vhoneynet.warmstore import WarmStore

pytestmark = REAL_GUESTS

ONE_HONEYPOT = [{"name": "dns", "image": "linux-dns", "address": "203.0.113.53"}]
ADMIN_OCTETS = range(250, 254)  # its own: no other test takes the subnet while it is down between two `up`s


def _up(topology) -> tuple[dict, str]:
    r = vhn("up", str(topology), "--json")
    return json.loads(r.stdout), r.stderr.decode()


def test_the_same_honeynet_comes_up_again_restored_and_a_broken_state_boots(tmp_path_factory: pytest.TempPathFactory):
    hid = unique_id()
    work = tmp_path_factory.mktemp(hid)
    topology = work / "topology.yml"
    topology.write_text(topology_text(hid, work / "captures", free_admin_octet(hid, ADMIN_OCTETS), honeypots=ONE_HONEYPOT))
    store = WarmStore(DEFAULT_STORAGE)
    try:
        cold, _ = _up(topology)
        assert cold["started"] == {"gateway": "booted", "dns": "booted"}
        vhn("down", hid)
        assert not any(leftovers(hid).values()), leftovers(hid)  # the honeynet is gone …
        assert store.get(hid, "dns") is not None  # … but for the states kept with the images
        listed = {row["id"]: row for row in json.loads(vhn("list", "--json").stdout)}
        assert listed[hid]["state"] == "down" and listed[hid]["warm_states"] == ["dns", "gateway"]
        images = {row["name"]: row for row in json.loads(vhn("image", "list", "--json").stdout)}
        assert hid in [k["id"] for k in images["linux-dns"]["warm_states"]]

        warm_started = time.time()
        warm, said = _up(topology)
        assert warm["started"] == {"gateway": "restored", "dns": "restored"}, said
        assert "guest dns: restored from its kept warm state" in said
        assert "guest gateway: restored from its kept warm state" in said
        # at "ready" at once: it answers an outside host, its clock is now, it logs to the capture
        answer = in_netns(f"vhn-{hid}-attacker", "dig", "+short", "+time=5", "+tries=1", "@203.0.113.53", "dns.corp.example")
        assert answer.returncode == 0 and answer.stdout.strip(), answer
        for guest in ("dns", "gateway"):
            guest_now = int(vhn("exec", hid, guest, "--", "date", "+%s").stdout)
            assert abs(guest_now - time.time()) < 3, guest
        # the restored gateway captures into this life's share: packets, and its IPS's logs
        day = work / "captures" / hid / "gateway" / time.strftime("%Y-%m-%d", time.gmtime())
        pcaps = [f for f in (day / "pcap").glob("*.pcap*") if f.stat().st_mtime >= warm_started]
        assert pcaps and max(f.stat().st_size for f in pcaps) > 24, sorted(day.rglob("*"))
        assert "Engine started" in (day / "ids" / "suricata-outbound.log").read_text()
        marker = f"warm-{time.time_ns() % 10**9}"
        vhn("exec", hid, "dns", "--", "logger", "-t", "vhn-test", marker)
        deadline = time.monotonic() + 120
        while marker not in vhn("events", hid, "--json", "--type", "syslog").stdout.decode():
            assert time.monotonic() < deadline, "the restored honeypot's syslog never reached the capture"
            time.sleep(3)
        print(f"up: cold {cold['up_seconds']} s (boot {cold['timings']['boot']} s), "
              f"warm {warm['up_seconds']} s (boot {warm['timings']['boot']} s)")
        vhn("down", hid)

        for guest in ("dns", "gateway"):
            kept = store.get(hid, guest)
            assert kept is not None
            with open(kept.state.state, "r+b") as f:  # a state file qemu cannot read back
                f.truncate(4096)
        broken, said = _up(topology)
        assert broken["started"] == {"gateway": "booted", "dns": "booted"}, said
        assert "guest gateway: cannot restore its kept warm state" in said, said
        answer = in_netns(f"vhn-{hid}-attacker", "dig", "+short", "+time=5", "+tries=1", "@203.0.113.53", "dns.corp.example")
        assert answer.returncode == 0 and answer.stdout.strip(), answer
        vhn("down", hid)

        pruned = json.loads(vhn("prune", hid, "--json").stdout)
        assert sorted(k["guest"] for k in pruned["warm_states"]) == ["dns", "gateway"] and pruned["bytes"] > 0
        assert store.get(hid, "dns") is None and not (store.root / hid).exists()
    finally:
        vhn("down", hid, check=False)
        store.prune([hid])
