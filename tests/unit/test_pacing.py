"""How many guests boot at once (pacing.py), and `up` and `reset` keeping to it over the fake
backends: a guest waits for a slot until one that started before it has booted."""

from __future__ import annotations

import pytest

from tests.fakes import HID, fake_backends, topology
from vhoneynet import labs, lifecycle
from vhoneynet.errors import VhoneynetError
from vhoneynet.lifecycle import GuestProgress
from vhoneynet.pacing import BootQueue, boot_slots

POTS = ("dns", "web", "ssh", "mail", "db")


def test_slots_grow_with_cores_and_are_wider_under_kvm():
    assert boot_slots("tcg", cores=2) == 8 and boot_slots("kvm", cores=2) == 32
    assert boot_slots("tcg", cores=1) == 4 and boot_slots("tcg") >= 4  # this host's own cores


def test_the_queue_starts_in_order_while_slots_are_free():
    started = []
    queue = BootQueue(2, {name: (lambda n=name: started.append(n)) for name in ("a", "b", "c", "d")})
    assert queue.start(booting=1) == ["a"] and queue.start(booting=2) == []
    assert queue.start(booting=0) == ["b", "c"] and "d" in queue and "a" not in queue
    queue.start_all()
    assert started == ["a", "b", "c", "d"] and not queue


class Timeline(list):
    """Starts (from the fake hypervisor) and ready guests (from wait_ready's updates), in order."""

    def __call__(self, line: str) -> None:
        if " at a time " in line:
            self.append(("said", line))

    def guest(self, event: GuestProgress) -> None:
        if event.state == "ready":
            self.append(("ready", event.guest))

    def most_booting(self) -> int:
        booting, most = set(), 0
        for what, name in self:
            if what == "start":
                booting.add(name)
                most = max(most, len(booting))
            elif what == "ready":
                booting.discard(name)
        return most


def test_up_boots_no_more_guests_at_once_than_the_slots(tmp_path, monkeypatch):
    monkeypatch.setattr(lifecycle, "boot_slots", lambda accel: 2)
    b = fake_backends(tmp_path / "images")
    timeline = Timeline()
    b.hv.on_start = lambda guest: timeline.append(("start", guest))  # type: ignore[attr-defined]
    result = lifecycle.up(topology(tmp_path / "storage", honeypots=POTS), b, progress=timeline, timeout=5)
    starts = [name for what, name in timeline if what == "start"]
    assert starts == ["gateway", *POTS]  # the gateway first, then the topology's order
    assert timeline.most_booting() == 2
    assert ("said", "6 guests boot, 2 at a time (tcg on this host's cores)") in timeline
    assert set(result["started"].values()) == {"booted"}


def test_a_warm_up_restores_every_guest_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(lifecycle, "boot_slots", lambda accel: 1)
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage", honeypots=POTS)
    lifecycle.up(topo, b, timeout=5)
    lifecycle.down(HID, b, topo.host.storage)
    timeline = Timeline()
    result = lifecycle.up(topo, b, progress=timeline, timeout=5)
    assert set(result["started"].values()) == {"restored"} and not [e for e in timeline if e[0] == "said"]


def test_a_guest_that_cannot_start_stops_the_queue(tmp_path, monkeypatch):
    monkeypatch.setattr(lifecycle, "boot_slots", lambda accel: 2)
    b = fake_backends(tmp_path / "images")
    b.hv.start_fails.add("ssh")  # type: ignore[attr-defined]
    with pytest.raises(VhoneynetError, match="the fake refuses it"):
        lifecycle.up(topology(tmp_path / "storage", honeypots=POTS), b, timeout=5)
    started = {d for what, d in b.hv.events if what == "start"}  # type: ignore[attr-defined]
    assert not any(d.endswith(("-mail", "-db")) for d in started)  # never started after it


def test_a_cold_reset_boots_no_more_guests_at_once_than_the_slots(tmp_path, monkeypatch):
    b = fake_backends(tmp_path / "images")
    topo = topology(tmp_path / "storage", honeypots=POTS)
    lifecycle.up(topo, b, timeout=5)
    monkeypatch.setattr(labs, "boot_slots", lambda accel: 2)
    timeline = Timeline()
    b.hv.on_start = lambda guest: timeline.append(("start", guest))  # type: ignore[attr-defined]
    result = labs.reset(HID, b, storage=topo.host.storage, progress=timeline, timeout=5, warm_start=False)
    assert {g["how"] for g in result["guests"].values()} == {"boot"}
    assert [name for what, name in timeline if what == "start"] == list(POTS)
    assert timeline.most_booting() == 2
