"""Data collection from real honeynets: two honeynets (one honeypot each) ship their events to one
collector and its PostgreSQL server, through the followers that `up` starts; every record carries
its own honeynet's id, and the counts per id equal each honeynet's local store.

The two run one after the other (a shared host with two cores), the collector throughout."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.conftest import unique_id
from tests.integration import postgres
from tests.integration.conftest import Honeynet, in_netns, running, topology_text, vhn
from tests.integration.test_collector import Collector
from vhoneynet.capture.store import CaptureStore

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet"),
              pytest.mark.skipif(not postgres.available(), reason="needs root and PostgreSQL")]
WEB = {"name": "web", "image": "linux-web", "address": "203.0.113.80"}
DNS = {"name": "dns", "image": "linux-dns", "address": "203.0.113.53"}


@contextmanager
def shipping_honeynet(work: Path, collector: Collector, honeypot: dict, admin_octet: int) -> Iterator[Honeynet]:
    """A running honeynet of one honeypot whose topology names the collector; removed afterwards
    (its capture folder is kept until the test's temporary folder goes)."""
    hid = unique_id()
    topo = json.loads(topology_text(hid, work / "captures", admin_octet=admin_octet, honeypots=[honeypot]))
    topo["collect"] = {"url": collector.url, "token": collector.token(hid), "ca": str(collector.state / "cert.pem")}
    path = work / f"{hid}.yml"
    path.write_text(json.dumps(topo, indent=2))
    with running(path, work / "captures") as h:
        yield h


def remote(dsn: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def wait_remote(dsn: str, hid: str, marker: str, timeout: float = 180) -> list[tuple]:
    """The collector's records of `hid` whose summary holds `marker`, once the follower shipped them."""
    deadline = time.monotonic() + timeout
    while True:
        rows = remote(dsn, "SELECT honeynet, type, honeypot FROM vhn_events WHERE summary LIKE %s", f"%{marker}%")
        if rows or time.monotonic() > deadline:
            assert rows, f"nothing with {marker} reached the collector from {hid} in {timeout} s"
            return rows
        time.sleep(3)


def test_two_real_honeynets_ship_to_one_collector_tagged_with_their_ids(tmp_path: Path):
    with postgres.cluster() as dsn:
        collector = Collector(dsn, tmp_path / "collector")
        collector.start()
        try:
            seen: dict[str, dict] = {}
            for honeypot, octet in ((WEB, 222), (DNS, 224)):
                with shipping_honeynet(tmp_path, collector, honeypot, octet) as h:
                    marker = f"collect-{h.hid}-{time.time_ns()}"
                    assert h.exec(honeypot["name"], "logger", "-t", "vhn-test", marker).returncode == 0
                    if honeypot is WEB:
                        r = in_netns(h.netns("attacker"), "curl", "-s", "-o", "/dev/null", f"http://{WEB['address']}/")
                    else:
                        r = in_netns(h.netns("attacker"), "dig", "+short", "+time=5", f"@{DNS['address']}", "dns.corp.example")
                    assert r.returncode == 0, r
                    # shipped while the honeynet runs, by the follower `up` started
                    assert set(wait_remote(dsn, h.hid, marker)) == {(h.hid, "syslog", honeypot["name"])}
                    seen[h.hid] = {"marker": marker, "honeypot": honeypot["name"], "topology": h.topology}
                # after `down`: what arrived last is ingested and shipped from the kept capture folder
                vhn("events", h.hid, "--topology", str(h.topology), "--capture-dir", str(h.capture), "--counts")
                with CaptureStore(h.capture / h.hid, h.hid) as store:
                    seen[h.hid]["local"] = store.counts()
        finally:
            collector.stop()
        ids = sorted(seen)
        per_id = {hid: dict(remote(dsn, "SELECT type, COUNT(*) FROM vhn_events WHERE honeynet = %s GROUP BY type", hid))
                  for hid in ids}
        assert sorted(r[0] for r in remote(dsn, "SELECT DISTINCT honeynet FROM vhn_events")) == ids
        pots = {hid: {r[0] for r in remote(dsn, "SELECT DISTINCT honeypot FROM vhn_events WHERE honeynet = %s "
                                           "AND honeypot IS NOT NULL", hid)} for hid in ids}
        duplicates = remote(dsn, "SELECT honeynet, key FROM vhn_events GROUP BY honeynet, key HAVING COUNT(*) > 1")
    for hid in ids:
        assert per_id[hid] == seen[hid]["local"], hid  # everything of each honeynet, under its own id
        assert pots[hid] == {seen[hid]["honeypot"]}
        assert {"syslog", "firewall"} <= set(per_id[hid]), per_id[hid]
    assert duplicates == []
