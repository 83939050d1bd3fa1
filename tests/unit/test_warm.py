"""Warm state over the fake backends: saved by `up` once the honeypots are ready, restored by
`reset` instead of a boot (see vhoneynet/warm.py)."""

from __future__ import annotations

import pytest

from tests.fakes import HID, fake_backends, topology
from vhoneynet import labs, lifecycle, naming
from vhoneynet import warm as warm_module
from vhoneynet.backend.disks import backing_file
from vhoneynet.errors import AgentUnavailable
from vhoneynet.plan import plan
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.warm import WarmState

DNS, WEB, GATEWAY = (naming.domain(HID, g) for g in ("dns", "web", "gateway"))


@pytest.fixture
def lab(tmp_path):
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")
    result = lifecycle.up(topo, b)
    return b, topo, result


def test_up_saves_each_honeypot_once_ready_and_lets_it_run_on(lab):
    b, topo, result = lab
    run = RunDir.of(topo)
    for guest, domain in (("dns", DNS), ("web", WEB)):
        warm = WarmState.of(run, guest)
        assert warm.exists()
        assert backing_file(run.disk(guest)) == warm.layer  # runs on over the frozen disk
        assert warm.layer.stat().st_mode & 0o777 == 0o444
        assert b.hv.events.index(("save", domain)) < b.hv.events.index(("restore", domain))
        assert ("guest-set-time", domain) in b.hv.events  # its clock, after the pause
        assert b.hv.domain_state(domain) == "running"
    assert "warm_state" in result["timings"]


def test_up_saves_the_gateway_waiting_for_its_share_then_gives_it_the_share(lab):
    b, topo, _ = lab
    run = RunDir.of(topo)
    events = [e for e in b.hv.events if e[1] == GATEWAY]
    assert events[:5] == [("start", GATEWAY), ("save", GATEWAY), ("restore", GATEWAY), ("guest-set-time", GATEWAY),
                          ("guest-get-time", GATEWAY)]
    assert events.index(("attach", GATEWAY)) > events.index(("guest-get-time", GATEWAY))  # captures the right time
    assert WarmState.of(run, "gateway").exists()  # saved without its share: a save cannot carry one
    (domain, xml), = b.hv.attached
    assert domain == GATEWAY and 'driver type="virtiofs"' in xml and str(CaptureFolder.of(topo).share) in xml
    # saved before a single honeypot was: it waits for its share before any traffic crosses
    assert b.hv.events.index(("save", GATEWAY)) < min(b.hv.events.index(("save", d)) for d in (DNS, WEB))


def test_without_warm_state_the_gateway_gets_its_share_unsaved(tmp_path):
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")
    lifecycle.up(topo, b, warm_state=False, timeout=5)
    assert ("save", GATEWAY) not in b.hv.events and [d for d, _ in b.hv.attached] == [GATEWAY]


def test_reset_restores_the_warm_state_instead_of_a_boot(lab):
    b, topo, _ = lab
    run = RunDir.of(topo)
    fresh = run.disk("web").stat().st_size
    with open(run.disk("web"), "ab") as f:
        f.write(b"written by the intruder" * 1000)
    console = CaptureFolder.of(topo).console("web")
    b.hv.events.clear()
    b.hv.console["web"] = []  # a restored guest prints nothing: readiness must not wait on its console

    result = labs.reset(HID, b, ["web"], storage=topo.host.storage, timeout=5)

    assert result["guests"]["web"]["how"] == "restore"
    assert [e for e in b.hv.events if e[1] == WEB and e[0] in ("stop", "start", "restore")] == [
        ("stop", WEB), ("restore", WEB)]
    assert backing_file(run.disk("web")) == WarmState.of(run, "web").layer
    assert run.disk("web").stat().st_size == fresh  # a fresh overlay: the intruder's writes are gone
    assert ("guest-set-time", WEB) in b.hv.events
    assert console.is_file() or list(console.parent.glob("web.before-reset-*.log"))
    assert b.hv.domain_state(DNS) == "running" and ("stop", DNS) not in b.hv.events


def test_a_cold_reset_boots_from_the_image_not_the_frozen_layer(lab):
    b, topo, _ = lab
    run = RunDir.of(topo)
    result = labs.reset(HID, b, ["dns"], storage=topo.host.storage, timeout=5, warm_start=False)
    assert result["guests"]["dns"]["how"] == "boot"
    assert backing_file(run.disk("dns")) == b.images.get("linux-dns").disk
    assert WarmState.of(run, "dns").exists()  # kept for the next warm reset


def test_a_reset_to_a_checkpoint_boots_from_it(lab):
    b, topo, _ = lab
    labs.checkpoint(HID, "infected", b, ["web"], storage=topo.host.storage)
    result = labs.reset(HID, b, ["web"], to="infected", storage=topo.host.storage, timeout=5)
    assert result["guests"]["web"]["how"] == "boot"
    assert backing_file(RunDir.of(topo).disk("web")).parent.name == "infected"


def test_a_honeypot_whose_state_cannot_be_saved_runs_on_and_boots_at_reset(tmp_path):
    b = fake_backends(tmp_path / "images")
    b.hv.save_fails.add("web")
    topo = topology(tmp_path / "storage")
    lifecycle.up(topo, b)
    run = RunDir.of(topo)
    assert not WarmState.of(run, "web").exists() and WarmState.of(run, "dns").exists()
    assert b.hv.domain_state(WEB) == "running"
    result = labs.reset(HID, b, storage=topo.host.storage, timeout=5)
    assert result["guests"]["web"]["how"] == "boot" and result["guests"]["dns"]["how"] == "restore"


def test_up_without_warm_state_saves_nothing(tmp_path):
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage")
    lifecycle.up(topo, b, warm_state=False)
    assert not RunDir.of(topo).warm.exists()
    assert not [e for e in b.hv.events if e[0] == "save"]


def test_down_removes_the_warm_states_with_the_run_folder(lab):
    b, topo, _ = lab
    lifecycle.down(HID, b, topo.host.storage)
    assert not RunDir.of(topo).warm.exists()


def test_a_honeypot_without_its_state_file_boots_at_reset(lab):
    b, topo, _ = lab
    WarmState.of(RunDir.of(topo), "dns").state.unlink()
    result = labs.reset(HID, b, ["dns"], storage=topo.host.storage, timeout=5)
    assert result["guests"]["dns"]["how"] == "boot"


def test_a_memory_checkpoint_is_restored_by_reset_to_it(lab):
    b, topo, _ = lab
    run = RunDir.of(topo)
    result = labs.checkpoint(HID, "running", b, ["web"], storage=topo.host.storage, memory=True)
    kept = WarmState.at(run.checkpoint("running"), "web")
    assert result["memory"] and kept.exists()
    assert kept.layer.stat().st_mode & 0o777 == 0o444
    assert backing_file(run.disk("web")) == WarmState.of(run, "web").layer  # the guest ran on, on its own disk
    assert b.hv.domain_state(WEB) == "running"

    b.hv.events.clear()
    reset = labs.reset(HID, b, ["web"], to="running", storage=topo.host.storage, timeout=5)
    assert reset["guests"]["web"]["how"] == "restore"
    assert backing_file(run.disk("web")) == kept.layer
    assert ("restore", WEB) in b.hv.events and ("start", WEB) not in b.hv.events
    # a disk-only checkpoint of the same guest still boots
    labs.checkpoint(HID, "disk", b, ["web"], storage=topo.host.storage)
    assert labs.reset(HID, b, ["web"], to="disk", storage=topo.host.storage, timeout=5)["guests"]["web"]["how"] == "boot"


def test_a_memory_checkpoint_that_cannot_be_saved_leaves_no_checkpoint(lab):
    b, topo, _ = lab
    b.hv.save_fails.add("web")
    with pytest.raises(Exception, match="saving the state"):
        labs.checkpoint(HID, "running", b, ["web"], storage=topo.host.storage, memory=True)
    assert not RunDir.of(topo).checkpoint("running").exists()
    assert b.hv.domain_state(WEB) == "running"


def test_a_state_libvirt_cannot_restore_falls_back_to_a_boot(lab):
    b, topo, _ = lab
    b.hv.restore_fails.add("web")
    result = labs.reset(HID, b, ["web"], storage=topo.host.storage, timeout=5)
    assert result["guests"]["web"]["how"] == "boot"
    assert backing_file(RunDir.of(topo).disk("web")) == b.images.get("linux-web").disk
    assert b.hv.domain_state(WEB) == "running"


def test_a_restored_guests_clock_is_set_once_its_agent_answers(lab, monkeypatch):
    """Right after a restore the agent may not answer yet: settle asks again until it does."""
    b, topo, _ = lab
    monkeypatch.setattr(warm_module.time, "sleep", lambda _s: None)
    answers = iter([AgentUnavailable(WEB, "not connected"), AgentUnavailable(WEB, "timed out")])
    real = b.hv.agent

    def agent(domain, command, arguments=None, timeout=10):
        if command == "guest-set-time" and (failure := next(answers, None)) is not None:
            raise failure
        return real(domain, command, arguments, timeout)

    monkeypatch.setattr(b.hv, "agent", agent)
    web = next(g for g in plan(topo).honeypots if g.name == "web")
    warm_module.settle(b, web)
    assert next(answers, None) is None  # both failures were asked through


def test_a_clock_set_whose_rtc_write_failed_counts_once_the_clock_reads_right(lab, monkeypatch):
    """qemu-ga answers guest-set-time with an error when it cannot write the RTC (no hwclock in
    the image), after setting the clock: settle checks the clock instead of asking again."""
    b, topo, _ = lab
    asked: list[str] = []
    monkeypatch.setattr(warm_module.time, "sleep", lambda _s: pytest.fail("settle waited"))
    real = b.hv.agent

    def agent(domain, command, arguments=None, timeout=10):
        asked.append(command)
        if command == "guest-set-time":
            raise AgentUnavailable(domain, "guest-set-time: the agent answered with an error (GenericError)", answered=True)
        return real(domain, command, arguments, timeout)

    monkeypatch.setattr(b.hv, "agent", agent)
    warm_module.settle(b, next(g for g in plan(topo).honeypots if g.name == "web"))
    assert asked == ["guest-set-time", "guest-get-time"]
