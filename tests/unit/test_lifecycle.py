"""up / down / status / wait_ready over the in-memory backends of tests/fakes.py: no host touched
beyond the test's own storage folder."""

from __future__ import annotations

import json
from ipaddress import IPv4Interface
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.fakes import CLOUD_INIT_DONE, HID, FakeHypervisor, fake_backends, topology
from vhoneynet import cli, lifecycle, naming
from vhoneynet.backends import Backends
from vhoneynet.capture.sessions import HANG_UP
from vhoneynet.cli import base as cli_base
from vhoneynet.cli import honeynet as cli_honeynet
from vhoneynet.errors import (
    BroughtDiskUnreachable,
    GuestNotReady,
    HoneynetExists,
    HoneynetNotFound,
    ResourceConflict,
    VhoneynetError,
)
from vhoneynet.gateway.config.disk import (
    FAILED_MARK,
    PARKED_MARK,
    READY_MARK,
    STOP_COMMAND,
)
from vhoneynet.plan import plan
from vhoneynet.probes import Probe
from vhoneynet.readiness import ConsoleWatch, GatewayStart
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology.model import Topology


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "storage"


@pytest.fixture
def b(tmp_path: Path) -> Backends:
    return fake_backends(tmp_path / "images")


def hv(b: Backends) -> FakeHypervisor:
    return b.hv  # type: ignore[return-value]


def leftovers(b: Backends, hid: str = HID) -> dict[str, list]:
    """What the fake host still holds of honeynet `hid`."""
    return {
        "domains": [n for n in hv(b).domains if n.startswith(naming.domain_prefix(hid))],
        "pools": b.hv.pools(naming.pool(hid)),
        "links": b.net.links(naming.link_prefix(hid)),
        "netns": b.net.netns(naming.netns_prefix(hid)),
        "nft": [t for t in b.fw.tables() if t == naming.nft_table(hid)],
        "mounts": [m for m in b.capture.mounted if hid in m.parts],  # type: ignore[attr-defined]
        "followers": [f for f in b.capture.following if f == hid],  # type: ignore[attr-defined]
    }


NOTHING = {"domains": [], "pools": [], "links": [], "netns": [], "nft": [], "mounts": [], "followers": []}


# --- up ------------------------------------------------------------------------------


def test_up_creates_what_the_plan_says_and_returns_timings(b, storage):
    topo = topology(storage)
    p = plan(topo)
    result = lifecycle.up(topo, b)

    assert sorted(hv(b).domains) == sorted(g.domain for g in p.guests)
    assert all(hv(b).domain_state(g.domain) == "running" for g in p.guests)
    assert b.hv.pools(naming.pool(HID)) == [p.pool]
    assert b.net.links(naming.link_prefix(HID)) == sorted([*(br.name for br in p.bridges), *(o.veth for o in p.outside)])
    assert b.net.netns(naming.netns_prefix(HID)) == [o.netns for o in p.outside]
    assert b.fw.tables() == [naming.nft_table(HID)]
    assert b.capture.mounted == {CaptureFolder.of(topo).share}  # type: ignore[attr-defined]
    assert b.capture.following == {HID}  # type: ignore[attr-defined]
    assert sorted(b.images.ensured) == sorted(p.images)  # type: ignore[attr-defined]
    run = RunDir.of(topo)
    assert run.saved() == topo
    assert all(run.disk(g.name).is_file() for g in p.guests)

    assert result["state"] == "running"
    assert [g["name"] for g in result["guests"]] == ["gateway", "dns", "web"]
    assert set(result["timings"]) == {"images", "orchestration", "boot", "domain_start", "warm_state"}
    assert all(isinstance(v, float) and v >= 0 for v in result["timings"].values())


def test_without_outside_hosts_services_are_probed_from_a_temporary_one(b, storage):
    topo = Topology.model_validate({**json.loads(topology(storage).model_dump_json()), "outside": []})
    lifecycle.up(topo, b)
    assert b.net.made == [naming.netns(HID, "probe")]  # type: ignore[attr-defined]
    assert b.net.netns(naming.netns_prefix(HID)) == []  # gone again once every guest is ready
    assert b.net.links(naming.link_prefix(HID)) == sorted(br.name for br in plan(topo).bridges)


def test_up_of_an_existing_honeynet_is_refused_before_anything_is_made(b, storage):
    lifecycle.up(topology(storage), b)
    before = leftovers(b)
    with pytest.raises(HoneynetExists):
        lifecycle.up(topology(storage), b)
    assert leftovers(b) == before


def test_up_refuses_a_bridge_that_is_there_already(b, storage):
    topo = topology(storage)
    b.net.ensure_bridge(plan(topo).bridge("int").name)
    with pytest.raises(ResourceConflict, match="already exists"):
        lifecycle.up(topo, b)
    assert hv(b).domains == {} and b.fw.tables() == []


def test_up_refuses_an_admin_subnet_the_host_uses(b, storage):
    topo = topology(storage)
    b.net.host_addresses.append(IPv4Interface("10.254.0.9/24"))  # type: ignore[attr-defined]  # holds 10.254.0.0/29
    with pytest.raises(ResourceConflict, match="overlaps"):
        lifecycle.up(topo, b)


def test_up_refuses_a_brought_disk_qemu_cannot_reach(b, storage, tmp_path):
    disk = tmp_path / "mine.qcow2"
    topo = Topology.model_validate({**json.loads(topology(storage).model_dump_json()),
                                    "honeypots": [{"name": "own", "image": f"file:{disk}", "address": "203.0.113.9"}]})
    hv(b).unreachable.add(disk)
    with pytest.raises(BroughtDiskUnreachable):
        lifecycle.up(topo, b)
    assert hv(b).domains == {}


def test_a_failure_in_the_middle_of_up_leaves_what_down_removes(b, storage):
    hv(b).start_fails.add("web")
    topo = topology(storage)
    with pytest.raises(VhoneynetError, match="starting"):
        lifecycle.up(topo, b)
    assert leftovers(b)["domains"] and leftovers(b)["links"]  # it got that far

    result = lifecycle.down(HID, b, storage)
    assert leftovers(b) == NOTHING
    assert not RunDir.of(topo).path.exists()
    assert Path(result["capture_dir"]).is_dir()  # captures are kept


def test_an_interrupt_in_the_middle_of_up_leaves_what_down_removes(b, storage):
    def interrupt(guest: str) -> None:
        if guest == "dns":
            raise KeyboardInterrupt

    hv(b).on_start = interrupt
    with pytest.raises(KeyboardInterrupt):
        lifecycle.up(topology(storage), b)
    lifecycle.down(HID, b, storage)
    assert leftovers(b) == NOTHING


def test_an_undo_goes_on_when_its_progress_output_is_gone(b, storage):
    def progress(line: str) -> None:  # the pipe that read stderr closed (its reader was killed)
        if line.startswith("up failed"):
            raise BrokenPipeError(32, "Broken pipe")

    hv(b).start_fails.add("web")
    with pytest.raises(VhoneynetError, match="the fake refuses it"):
        lifecycle.up_or_undo(topology(storage), b, progress=progress, timeout=5)
    assert leftovers(b) == NOTHING


def test_a_guest_that_never_becomes_ready_fails_up_by_name(b, storage):
    hv(b).never_ready.add("web")
    with pytest.raises(GuestNotReady, match="'web'.*timed out; console: \\(no console output\\)"):
        lifecycle.up(topology(storage), b, timeout=0.3)
    assert b.capture.following == set()  # type: ignore[attr-defined]  # followers start only once ready


# --- down ----------------------------------------------------------------------------


def test_down_removes_by_prefix_and_labels_without_the_saved_topology(b, storage):
    topo = topology(storage)
    lifecycle.up(topo, b)
    RunDir.of(topo).topology_file.unlink()
    hv(b).define_orphan(naming.domain(HID, "half"))

    result = lifecycle.down(HID, b, storage)
    assert leftovers(b) == NOTHING
    assert naming.domain(HID, "half") in result["removed"]["domains"]
    assert result["removed"]["nft"] == [naming.nft_table(HID)]
    assert result["removed"]["pools"] == [naming.pool(HID)]


def test_down_keeps_the_capture_folder(b, storage):
    topo = topology(storage)
    lifecycle.up(topo, b)
    kept = CaptureFolder.of(topo).share / "2026-12-06" / "pcap"
    kept.mkdir(parents=True)
    result = lifecycle.down(HID, b, storage)
    assert kept.is_dir() and result["capture_dir"] == str(CaptureFolder.of(topo).root)


def test_down_leaves_other_honeynets_alone(b, storage):
    lifecycle.up(topology(storage, "vother", honeypots=("web",)), b)
    topo = topology(storage)
    topo = Topology.model_validate({**json.loads(topo.model_dump_json()), "networks": {"admin": {"cidr": "10.254.1.0/29"}}})
    lifecycle.up(topo, b)
    lifecycle.down(HID, b, storage)
    assert sorted(leftovers(b, "vother")["domains"]) == [naming.domain("vother", g) for g in ("gateway", "web")]
    assert lifecycle.honeynets(b) == ["vother"]


def test_down_of_nothing_is_honeynet_not_found(b, storage):
    with pytest.raises(HoneynetNotFound):
        lifecycle.down(HID, b, storage)


def test_down_flushes_a_running_gateways_capture_and_hangs_up_honeypot_sessions(b, storage):
    lifecycle.up(topology(storage), b)
    lifecycle.down(HID, b, storage)
    ran = hv(b).executed
    assert (naming.domain(HID, "gateway"), STOP_COMMAND) in ran
    assert {d for d, argv in ran if argv == ["/bin/sh", "-c", HANG_UP]} == {naming.domain(HID, n) for n in ("dns", "web")}
    # each guest goes after what it had to say
    events = hv(b).events
    for domain, _ in ran:
        assert events.index(("remove", domain)) > events.index(("guest-exec", domain))


def test_down_does_not_flush_a_stopped_gateway_nor_ask_stopped_honeypots(b, storage):
    lifecycle.up(topology(storage), b)
    for guest in ("gateway", "web"):
        b.hv.stop_domain(naming.domain(HID, guest))
    lifecycle.down(HID, b, storage)
    assert [d for d, _ in hv(b).executed] == [naming.domain(HID, "dns")]
    assert leftovers(b) == NOTHING


def test_down_goes_on_when_the_gateways_agent_times_out(b, storage):
    lifecycle.up(topology(storage), b)
    hv(b).agent_times_out.update({"gateway", "dns", "web"})
    lifecycle.down(HID, b, storage)
    assert hv(b).executed == [] and leftovers(b) == NOTHING


def test_a_remove_that_fails_once_is_finished_by_the_next_down(b, storage):
    lifecycle.up(topology(storage), b)
    hv(b).remove_fails_once.add(naming.domain(HID, "web"))
    with pytest.raises(VhoneynetError, match="refuses it once"):
        lifecycle.down(HID, b, storage)
    assert leftovers(b)["domains"] == [naming.domain(HID, "web")]
    lifecycle.down(HID, b, storage)
    assert leftovers(b) == NOTHING


def test_down_with_only_an_outside_host_left(b, storage):
    b.net.ensure_bridge(naming.bridge(HID, "ext"))
    b.net.add_outside_host(naming.netns(HID, "attacker"), naming.bridge(HID, "ext"), naming.veth(HID, 0),
                           IPv4Interface("203.0.113.66/24"))
    result = lifecycle.down(HID, b, storage)
    assert result["removed"]["netns"] == [naming.netns(HID, "attacker")]
    assert leftovers(b) == NOTHING


# --- status ----------------------------------------------------------------------------


def test_status_of_a_partially_present_honeynet(b, storage):
    topo = topology(storage)
    lifecycle.up(topo, b)
    b.hv.stop_domain(naming.domain(HID, "web"))
    b.net.delete_link(plan(topo).bridge("adm").name)
    b.net.delete_netns(naming.netns(HID, "attacker"))

    s = lifecycle.status(HID, b, storage)
    assert s["state"] == "degraded"
    assert {g["name"]: g["state"] for g in s["guests"]} == {"gateway": "running", "dns": "running", "web": "shut-off"}
    assert {n: v["present"] for n, v in s["networks"].items()} == {"internet": True, "honeynet": True, "admin": False}
    assert s["outside"][0]["present"] is False


def test_status_with_the_saved_topology_only_is_partial(b, storage):
    topo = topology(storage)
    RunDir.of(topo).save(topo)
    s = lifecycle.status(HID, b, storage)
    assert s["state"] == "partial" and s["guests"] == []
    assert not any(v["present"] for v in s["networks"].values())


def test_status_without_the_saved_topology_lists_the_guests(b, storage):
    topo = topology(storage)
    lifecycle.up(topo, b)
    RunDir.of(topo).topology_file.unlink()
    s = lifecycle.status(HID, b, storage)
    assert s["state"] == "running" and "networks" not in s and len(s["guests"]) == 3


def test_status_of_nothing_is_honeynet_not_found(b, storage):
    with pytest.raises(HoneynetNotFound):
        lifecycle.status(HID, b, storage)


def test_overview_lists_honeynets_with_guests_or_a_saved_topology(b, storage):
    lifecycle.up(topology(storage), b)
    saved = topology(storage, "vsaved")
    RunDir.of(saved).save(saved)
    assert [row["id"] for row in lifecycle.overview(b, storage)] == ["vfake", "vsaved"]


# --- wait_ready ------------------------------------------------------------------------


class Source:
    """A probe source whose probes answer after `tries` attempts (never, with None)."""

    def __init__(self, tries: int | None):
        self.tries, self.asked = tries, 0

    def answers(self, probe: Probe) -> bool:
        self.asked += 1
        return self.tries is not None and self.asked >= self.tries


def booting(b: Backends, tmp_path: Path, lines: dict[str, list[str]], role: str = "honeypot",
            dies: tuple[str, ...] = ()) -> dict[str, ConsoleWatch]:
    """Guests started with `lines` on their consoles; their watches."""
    fake = hv(b)
    fake.console.update(lines)
    fake.dies.update(dies)
    watches = {}
    for name in lines:
        log = tmp_path / f"{name}.log"
        log.write_text("earlier life: " + CLOUD_INIT_DONE + "\n")  # a previous boot's output is not read
        watches[name] = ConsoleWatch.from_now(log, role)
        meta = f'<vhn:honeynet xmlns:vhn="{naming.METADATA_NS}" id="{HID}" guest="{name}" role="{role}" image="x"/>'
        fake.start_domain(f"<domain><name>{naming.domain(HID, name)}</name><metadata>{meta}</metadata>"
                          f"<devices><serial><log file='{log}'/></serial></devices></domain>")
    return watches


def test_wait_ready_returns_the_seconds_of_each_guest(b, tmp_path):
    watches = booting(b, tmp_path, {"dns": [CLOUD_INIT_DONE], "web": ["x", CLOUD_INIT_DONE]})
    ready = lifecycle.wait_ready(HID, watches, b, lambda _: None, timeout=5)
    assert set(ready) == {"dns", "web"} and all(0 <= s < 1 for s in ready.values())


def test_wait_ready_times_out_with_the_last_console_line(b, tmp_path):
    watches = booting(b, tmp_path, {"web": ["Starting Apache…"]})
    with pytest.raises(GuestNotReady, match="'web' not ready .*timed out; console: Starting Apache…"):
        lifecycle.wait_ready(HID, watches, b, lambda _: None, timeout=0.2)


UNSEEDED_DONE = CLOUD_INIT_DONE.replace(". Up", ". Datasource DataSourceNone.  Up")


def test_a_guest_whose_cloud_init_missed_its_seed_is_reset_once_and_then_ready(b, tmp_path):
    watches = booting(b, tmp_path, {"cloud": ["sr 1:0:0:0: [sr0] scsi3-mmc drive", UNSEEDED_DONE]})
    said: list[str] = []
    ready = lifecycle.wait_ready(HID, watches, b, said.append, timeout=5)
    assert "cloud" in ready and ("reset", naming.domain(HID, "cloud")) in hv(b).events
    assert any("without its seed" in line and "resetting it once" in line for line in said), said


def test_a_guest_whose_cloud_init_misses_its_seed_twice_fails_naming_the_seed(b, tmp_path):
    watches = booting(b, tmp_path, {"cloud": [UNSEEDED_DONE]})
    hv(b).after_reset["cloud"] = [UNSEEDED_DONE]
    with pytest.raises(GuestNotReady, match="twice without its seed .*cidata"):
        lifecycle.wait_ready(HID, watches, b, lambda _: None, timeout=5)
    assert [e for e in hv(b).events if e[0] == "reset"] == [("reset", naming.domain(HID, "cloud"))]


def test_cloud_init_s_closing_line_counts_only_once_whole(tmp_path):
    """Read while cloud-init writes it, the line's end (its datasource) is not there yet."""
    log = tmp_path / "cloud.log"
    log.write_text("")
    watch = ConsoleWatch.from_now(log, "honeypot")
    cut = UNSEEDED_DONE.index("DataSourceNone")
    with open(log, "a") as f:
        f.write(UNSEEDED_DONE[:cut])
    assert watch.poll() is None
    with open(log, "a") as f:
        f.write(UNSEEDED_DONE[cut:] + "\r\n")
    assert watch.poll() == "unseeded"
    watch.rearm()
    with open(log, "a") as f:
        f.write("Booting from Hard Disk...\r\n")
    assert watch.poll() is None


def test_a_guest_that_dies_while_booting_is_not_waited_for(b, tmp_path):
    watches = booting(b, tmp_path, {"web": ["Loading initial ramdisk"]}, dies=("web",))
    with pytest.raises(GuestNotReady, match="domain stopped; console: Loading initial ramdisk"):
        lifecycle.wait_ready(HID, watches, b, lambda _: None, timeout=60)


def test_a_gateway_that_reports_failure_fails_at_once(b, tmp_path):
    watches = booting(b, tmp_path, {"gateway": [f"{FAILED_MARK}: suricata did not start"]}, role="gateway")
    with pytest.raises(GuestNotReady, match="failed: vhn-gateway: failed: suricata did not start"):
        lifecycle.wait_ready(HID, watches, b, lambda _: None, timeout=60)


def test_the_gateway_is_handed_its_share_once_when_it_waits_for_it_even_a_mark_split_in_two(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("earlier life: " + PARKED_MARK + "\n")  # a previous start's wait is not this one's
    handed: list[str] = []
    watch = GatewayStart(ConsoleWatch.from_now(log, "gateway"), lambda: handed.append("share"))
    with open(log, "a") as f:
        f.write("vhn-gateway: data control loaded\n" + PARKED_MARK[:20])
    assert watch.poll() is None and handed == []
    with open(log, "a") as f:
        f.write(PARKED_MARK[20:] + "\n" + "x" * 5000 + "\n")  # the mark scrolls out of the tail at once
    assert watch.poll() is None and handed == ["share"]
    with open(log, "a") as f:
        f.write(PARKED_MARK + "\n" + READY_MARK + "\n")
    assert watch.poll() == "ready" and handed == ["share"]  # once


def test_a_gateway_whose_start_unit_fails_fails_at_once(b, tmp_path):
    unit_failed = ("\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39mvhn-gateway.servic…\x1b[0mW config disk "
                   "and run its start.sh.")
    watches = booting(b, tmp_path, {"gateway": [f"{PARKED_MARK}", unit_failed]}, role="gateway")
    with pytest.raises(GuestNotReady, match="its start unit failed .*last line from the gateway: vhn-gateway: waiting"):
        lifecycle.wait_ready(HID, watches, b, lambda _: None, timeout=60)


def test_kernel_panics_are_reported_then_given_up_on(b, tmp_path):
    panic = "Kernel panic - not syncing: VFS: Unable to mount root fs"
    said: list[str] = []
    watches = booting(b, tmp_path, {"web": [panic]})
    with pytest.raises(GuestNotReady, match="timed out"):
        lifecycle.wait_ready(HID, watches, b, said.append, timeout=0.2)
    assert any("kernel panic" in s and "restarts itself" in s for s in said)
    watches = booting(b, tmp_path, {"dns": [panic] * 3})
    with pytest.raises(GuestNotReady, match="kernel panicked 3 times"):
        lifecycle.wait_ready(HID, watches, b, said.append, timeout=60)


def test_a_booted_guest_waits_for_its_services_to_answer(b, tmp_path):
    watches = booting(b, tmp_path, {"web": [CLOUD_INIT_DONE]})
    probe = Probe("web", "http", "http", "203.0.113.11", 80)
    source = Source(tries=2)
    said: list[str] = []
    ready = lifecycle.wait_ready(HID, watches, b, said.append, 10, {"web": [probe]}, source)  # type: ignore[arg-type]
    assert source.asked == 2 and "web" in ready
    assert any("http answers" in s for s in said)


def test_a_service_that_never_answers_times_out_naming_it(b, tmp_path):
    watches = booting(b, tmp_path, {"web": [CLOUD_INIT_DONE]})
    probe = Probe("web", "http", "http", "203.0.113.11", 80)
    with pytest.raises(GuestNotReady, match="no answer from http 203.0.113.11:80"):
        lifecycle.wait_ready(HID, watches, b, lambda _: None, 0.2, {"web": [probe]}, Source(None))  # type: ignore[arg-type]


def test_probes_are_skipped_without_a_source(b, tmp_path):
    watches = booting(b, tmp_path, {"web": [CLOUD_INIT_DONE]})
    probe = Probe("web", "http", "http", "203.0.113.11", 80)
    assert "web" in lifecycle.wait_ready(HID, watches, b, lambda _: None, 5, {"web": [probe]}, None)


# --- the command: `up` removes what a failed `up` made ---------------------------------------


def run_up(monkeypatch, b: Backends, topo: Topology, *args: str):
    monkeypatch.setattr(cli_honeynet, "load", lambda _path: topo)
    monkeypatch.setattr(cli_base, "backends", lambda _uri="": b)
    path = topo.host.storage.parent / "topology.yml"  # read by `load` in the command, not here
    path.touch()
    return CliRunner().invoke(cli.app, ["up", str(path), "--json", *args])


def test_a_failed_up_command_removes_what_it_made_and_keeps_the_captures(monkeypatch, b, storage):
    topo = topology(storage)
    hv(b).never_ready.add("dns")
    result = run_up(monkeypatch, b, topo, "--timeout", "0.2")
    assert result.exit_code == 5 and "not ready" in result.output
    assert leftovers(b) == NOTHING
    assert CaptureFolder.of(topo).consoles.is_dir()


def test_an_interrupted_up_command_removes_what_it_made(monkeypatch, b, storage):
    def interrupt(guest: str) -> None:
        if guest == "web":
            raise KeyboardInterrupt

    hv(b).on_start = interrupt
    result = run_up(monkeypatch, b, topology(storage))
    assert result.exit_code == 130 and leftovers(b) == NOTHING  # 128 + SIGINT, as a shell reports it


def test_a_failed_up_command_keeps_everything_on_request(monkeypatch, b, storage):
    hv(b).start_fails.add("web")
    result = run_up(monkeypatch, b, topology(storage), "--keep-on-failure")
    assert result.exit_code == 7 and leftovers(b)["domains"]


def test_an_up_command_refused_for_an_existing_honeynet_removes_nothing_of_it(monkeypatch, b, storage):
    lifecycle.up(topology(storage), b)
    before = leftovers(b)
    result = run_up(monkeypatch, b, topology(storage))
    assert result.exit_code == 6 and "already" in result.output
    assert leftovers(b) == before


class Updates(list):
    """A progress callback that also takes GuestProgress updates, as the live table does."""

    def __call__(self, line: str) -> None:
        pass

    def guest(self, event: lifecycle.GuestProgress) -> None:
        self.append(event)


def test_wait_ready_reports_each_guests_state_to_a_callback_that_takes_them(b, tmp_path):
    watches = booting(b, tmp_path, {"web": ["Starting Apache…", CLOUD_INIT_DONE]})
    probe = Probe("web", "http", "http", "203.0.113.11", 80)
    updates = Updates()
    lifecycle.wait_ready(HID, watches, b, updates, 10, {"web": [probe]}, Source(tries=2))  # type: ignore[arg-type]
    states = [e.state for e in updates]
    assert states[0] == "starting" and states[-1] == "ready" and "probing http 203.0.113.11:80" in states
    assert {e.guest for e in updates} == {"web"} and updates[-1].console_line == CLOUD_INIT_DONE


def test_a_guest_that_fails_is_reported_failed(b, tmp_path):
    watches = booting(b, tmp_path, {"web": ["Loading initial ramdisk"]}, dies=("web",))
    updates = Updates()
    with pytest.raises(GuestNotReady):
        lifecycle.wait_ready(HID, watches, b, updates, timeout=60)
    assert updates[-1].state == "failed" and updates[-1].console_line == "Loading initial ramdisk"
