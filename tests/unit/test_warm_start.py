"""Warm `up` over the fake backends: the warm states `up` saves are kept past `down` (warmstore.py),
and the next `up` of the same topology, images and host restores its honeypots from them; with
anything changed they boot and say why. `prune` removes kept states and unused image builds."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.fakes import HID, fake_backends, topology
from vhoneynet import artifacts, labs, lifecycle, naming
from vhoneynet.backend.disks import backing_file, write_qcow2_overlay
from vhoneynet.errors import InvalidName, VhoneynetError
from vhoneynet.images import ImageStore
from vhoneynet.permissions import TRAVERSE
from vhoneynet.prune import prune, unused_builds
from vhoneynet.rundir import RunDir
from vhoneynet.warm import WarmState
from vhoneynet.warmstore import META, WarmStore

DNS, WEB, GATEWAY = (naming.domain(HID, g) for g in ("dns", "web", "gateway"))


class Said(list):
    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.fixture
def upped_once(tmp_path):
    """A honeynet brought up and down once: its honeypots' warm states are kept."""
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")
    first = lifecycle.up(topo, b)
    lifecycle.down(HID, b, topo.host.storage)
    b.hv.events.clear()
    b.hv.attached.clear()
    return b, topo, first


def test_down_keeps_the_warm_states_and_list_shows_them(upped_once):
    b, topo, first = upped_once
    assert first["started"] == {"gateway": "booted", "dns": "booted", "web": "booted"}
    kept = WarmStore(topo.host.storage).all()
    assert sorted((k.hid, k.guest) for k in kept) == [(HID, "dns"), (HID, "gateway"), (HID, "web")]
    assert all(k.state.exists() for k in kept) and not RunDir.of(topo).path.exists()
    row = next(r for r in lifecycle.overview(b, topo.host.storage) if r["id"] == HID)
    assert row["state"] == "down" and row["warm_states"] == ["dns", "gateway", "web"]


def test_the_same_topology_comes_up_restored_not_booted(upped_once):
    b, topo, _ = upped_once
    said = Said()
    b.hv.console["dns"] = b.hv.console["web"] = []  # a restored guest prints nothing
    result = lifecycle.up(topo, b, progress=said, timeout=5)
    assert result["started"] == {"gateway": "restored", "dns": "restored", "web": "restored"}
    for domain in (DNS, WEB, GATEWAY):
        assert ("restore", domain) in b.hv.events and ("start", domain) not in b.hv.events
        assert ("save", domain) not in b.hv.events  # its state is the kept one
        assert ("guest-set-time", domain) in b.hv.events  # the clock jumps to now at once
    # the restored gateway waits for its share; it gets it once its clock is right
    assert b.hv.events.index(("guest-get-time", GATEWAY)) < b.hv.events.index(("attach", GATEWAY))
    assert [d for d, _ in b.hv.attached] == [GATEWAY]
    run = RunDir.of(topo)
    assert backing_file(run.disk("web")) == WarmState.of(run, "web").layer
    assert run.warm.stat().st_mode & 0o777 == TRAVERSE  # qemu's user walks through to the layer
    assert any("web: restored from its kept warm state" in line for line in said)
    # its resets restore the same state
    assert labs.reset(HID, b, ["web"], storage=topo.host.storage, timeout=5)["guests"]["web"]["how"] == "restore"


def test_a_restored_honeypots_clock_is_set_before_the_wait_for_readiness(upped_once):
    b, topo, _ = upped_once
    seen_at_ready: list = []

    def progress(line: str) -> None:  # the first guest said ready: what had happened by then
        if " ready after " in line and not seen_at_ready:
            seen_at_ready.extend(b.hv.events)

    lifecycle.up(topo, b, progress=progress, timeout=5)
    assert ("guest-set-time", DNS) in seen_at_ready and ("guest-set-time", WEB) in seen_at_ready


@pytest.mark.parametrize("change, reason", [
    ("topology", "the topology or a file it names changed"),
    ("machine", "its virtual machine's definition changed"),
    ("image", "its image changed"),
    ("host", "the host changed"),
])
def test_anything_changed_boots_and_says_why(upped_once, monkeypatch, change, reason):
    b, topo, _ = upped_once
    if change == "topology":
        topo = topo.model_copy(update={"honeypots": [topo.honeypots[0].model_copy(update={"memory": 640}),
                                                     *topo.honeypots[1:]]})
    elif change == "machine":  # what a newer vhoneynet renders for the same topology
        rendered = artifacts.domain_xml
        monkeypatch.setattr(artifacts, "domain_xml", lambda *a: rendered(*a).replace("</devices>", "<watchdog model='i6300esb'/></devices>"))
    elif change == "image":
        b.images.built["linux-dns"] = replace(b.images.built["linux-dns"], digest="1" * 64)
    else:
        monkeypatch.setattr(lifecycle, "host_identity", lambda accel: "qemu 99; kvm; another CPU")
    said = Said()
    result = lifecycle.up(topo, b, progress=said, timeout=5)
    assert result["started"]["dns"] == "booted" and ("start", DNS) in b.hv.events
    assert f"guest dns: boots (its kept warm state is stale: {reason})" in said
    kept = WarmStore(topo.host.storage).get(HID, "dns")
    assert kept is not None and json.loads((kept.folder / META).read_text())["origin"] == {
        "topology": kept.origin.topology, "image": kept.origin.image, "host": kept.origin.host,
        "machine": kept.origin.machine}
    # the state saved by this boot replaced the stale one: the next `up` restores
    lifecycle.down(HID, b, topo.host.storage)
    assert lifecycle.up(topo, b, timeout=5)["started"]["dns"] == "restored"


def test_a_changed_rule_file_boots_the_gateway_and_the_honeypots_still_restore(tmp_path):
    rules = tmp_path / "local.rules"
    rules.write_text('alert tcp any any -> any 4444 (msg:"first"; sid:9000001; rev:1;)\n')
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage", gateway={"data_control": {"ips": {"rule_files": [str(rules)]}}})
    lifecycle.up(topo, b)
    lifecycle.down(HID, b, topo.host.storage)
    rules.write_text('alert tcp any any -> any 4444 (msg:"second"; sid:9000001; rev:2;)\n')  # same topology
    said = Said()
    result = lifecycle.up(topo, b, progress=said, timeout=5)
    assert result["started"] == {"gateway": "booted", "dns": "restored", "web": "restored"}
    assert "guest gateway: boots (its kept warm state is stale: the topology or a file it names changed)" in said


def test_a_state_libvirt_refuses_boots_from_the_image_instead(upped_once):
    b, topo, _ = upped_once
    b.hv.restore_fails.add("web")
    said = Said()
    result = lifecycle.up(topo, b, progress=said, timeout=5)
    assert result["started"] == {"gateway": "restored", "dns": "restored", "web": "booted"}
    assert any("web: cannot restore its kept warm state, booting instead" in line for line in said)
    run = RunDir.of(topo)
    assert backing_file(WarmState.of(run, "web").layer) == b.images.get("linux-web").disk  # saved anew from a boot
    assert b.hv.domain_state(WEB) == "running"


def test_cold_up_boots_every_honeypot(upped_once):
    b, topo, _ = upped_once
    result = lifecycle.up(topo, b, timeout=5, warm_start=False)
    assert result["started"] == {"gateway": "booted", "dns": "booted", "web": "booted"}
    assert all(("start", d) in b.hv.events for d in (DNS, WEB, GATEWAY))


def test_without_warm_state_nothing_is_kept(tmp_path):
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")
    lifecycle.up(topo, b, warm_state=False)
    assert WarmStore(topo.host.storage).all() == []


def test_prune_removes_kept_states_and_a_running_honeynet_still_restores(upped_once):
    b, topo, _ = upped_once
    lifecycle.up(topo, b, timeout=5)
    removed = prune(topo.host.storage, [HID])
    assert sorted(k["guest"] for k in removed["warm_states"]) == ["dns", "gateway", "web"] and removed["bytes"] > 0
    assert WarmStore(topo.host.storage).all() == []
    assert labs.reset(HID, b, ["dns"], storage=topo.host.storage, timeout=5)["guests"]["dns"]["how"] == "restore"
    lifecycle.down(HID, b, topo.host.storage)
    assert lifecycle.up(topo, b, timeout=5)["started"]["dns"] == "booted"


def test_prune_refuses_a_path_for_an_id(tmp_path):
    (tmp_path / "keep").mkdir()
    with pytest.raises(InvalidName):
        prune(tmp_path / "storage", ["../keep"])
    assert (tmp_path / "keep").is_dir()


def test_a_half_written_kept_state_is_ignored(upped_once):
    b, topo, _ = upped_once
    (WarmStore(topo.host.storage).folder(HID, "web") / META).write_text("{not json")
    assert [k.guest for k in WarmStore(topo.host.storage).all()] == ["dns", "gateway"]
    assert lifecycle.up(topo, b, timeout=5)["started"] == {"gateway": "restored", "dns": "restored", "web": "booted"}


def test_a_gateway_whose_state_libvirt_refuses_boots_and_waits_for_its_share(upped_once):
    b, topo, _ = upped_once
    b.hv.restore_fails.add("gateway")
    said = Said()
    result = lifecycle.up(topo, b, progress=said, timeout=5)
    assert result["started"]["gateway"] == "booted" and ("start", GATEWAY) in b.hv.events
    assert any("gateway: cannot restore its kept warm state, booting instead" in line for line in said)
    assert b.hv.events.index(("start", GATEWAY)) < b.hv.events.index(("attach", GATEWAY))


def test_a_share_that_cannot_be_attached_fails_up_and_down_removes_it_all(tmp_path, monkeypatch):
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")

    def refuse(name: str, xml: str) -> None:
        raise VhoneynetError("unable to execute QEMU command 'device_add'")

    monkeypatch.setattr(b.hv, "attach_device", refuse)
    with pytest.raises(VhoneynetError, match="gateway: its capture share could not be attached: unable to execute"):
        lifecycle.up_or_undo(topo, b, timeout=5)
    assert b.hv.domains == {} and not RunDir.of(topo).path.exists()


def test_prune_images_removes_earlier_builds_no_disk_uses(tmp_path):
    storage = tmp_path / "storage"
    store = ImageStore(storage / "images", recipes_dir=tmp_path / "recipes")
    (tmp_path / "recipes").mkdir()
    builds = {name: storage / "images" / name for name in ("web-aaaaaaaaaaaa", "web-bbbbbbbbbbbb", "dns-cccccccccccc")}
    for folder in builds.values():
        folder.mkdir(parents=True)
        (folder / "disk.qcow2").write_bytes(b"raw disk" * 100)
    # a running honeynet's overlay sits on one of them
    run = RunDir(storage, "vused")
    run.disks.mkdir(parents=True)
    write_qcow2_overlay(run.disk("web"), builds["web-bbbbbbbbbbbb"] / "disk.qcow2")
    assert unused_builds(storage, store) == [builds["dns-cccccccccccc"].resolve(), builds["web-aaaaaaaaaaaa"].resolve()]
    result = prune(storage, images=True, store=store)
    assert sorted(b["path"] for b in result["images"]) == sorted(
        str(builds[n].resolve()) for n in ("dns-cccccccccccc", "web-aaaaaaaaaaaa"))
    assert builds["web-bbbbbbbbbbbb"].is_dir() and not builds["web-aaaaaaaaaaaa"].exists()
