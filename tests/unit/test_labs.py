"""Labs without guests: collisions between honeynets, service probes, topology graphs, overlay chains,
and reset/checkpoint over the in-memory backends of tests/fakes.py."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from ipaddress import IPv4Address

import pytest

from tests.conftest import REPO
from tests.fakes import HID, fake_backends, topology
from vhoneynet import graph, labs, lifecycle, naming, probe_client, probes, warm
from vhoneynet.backend.disks import backing_file, virtual_size, write_qcow2_overlay
from vhoneynet.capture.sessions import HANG_UP
from vhoneynet.errors import (
    CheckpointExists,
    CheckpointNotFound,
    GuestNotFound,
    GuestNotReady,
    HoneynetExists,
    HoneynetNotFound,
    InvalidName,
    SubnetCollision,
    VhoneynetError,
)
from vhoneynet.images import Service
from vhoneynet.labs import _base_of
from vhoneynet.neighbours import check_neighbours
from vhoneynet.plan import service_probe_address
from vhoneynet.rundir import CaptureFolder, RunDir, saved_topologies
from vhoneynet.topology import load
from vhoneynet.topology.model import Topology


def topo(hid: str, admin: str = "10.254.0.0/29", cidr: str = "203.0.113.0/24", bridge: str | None = None) -> Topology:
    internet = {"mode": "bridge", "bridge": bridge} if bridge else {"mode": "isolated"}
    return Topology.model_validate({
        "id": hid,
        "networks": {"internet": internet, "honeynet": {"cidr": cidr}, "admin": {"cidr": admin}},
        "honeypots": [{"name": "web", "image": "linux-web", "address": cidr.replace("0/24", "80")}],
        "outside": [],
    })


def test_admin_subnet_of_a_running_honeynet_is_refused_by_field():
    with pytest.raises(SubnetCollision, match=r"networks\.admin\.cidr 10\.254\.0\.0/28 collides with .*'lab1'"):
        check_neighbours(topo("lab2", admin="10.254.0.0/28"), {"lab1": topo("lab1")})


def test_isolated_honeynets_may_share_the_honeynet_subnet():
    check_neighbours(topo("lab2", admin="10.254.1.0/29"), {"lab1": topo("lab1")})


def test_honeynet_subnet_collides_on_a_shared_internet_bridge():
    with pytest.raises(SubnetCollision, match=r"networks\.honeynet\.cidr .* same internet bridge br0"):
        check_neighbours(topo("lab2", admin="10.254.1.0/29", bridge="br0"), {"lab1": topo("lab1", bridge="br0")})
    check_neighbours(topo("lab2", admin="10.254.1.0/29", bridge="br1"), {"lab1": topo("lab1", bridge="br0")})


def test_same_id_is_refused():
    with pytest.raises(HoneynetExists):
        check_neighbours(topo("lab1", admin="10.254.9.0/29"), {"lab1": topo("lab1")})


def test_saved_topologies_skip_unreadable(tmp_path):
    (tmp_path / "honeynets" / "lab1").mkdir(parents=True)
    (tmp_path / "honeynets" / "lab1" / "topology.json").write_text(topo("lab1").model_dump_json())
    (tmp_path / "honeynets" / "bad").mkdir()
    (tmp_path / "honeynets" / "bad" / "topology.json").write_text("{")
    assert list(saved_topologies(tmp_path)) == ["lab1"]


def test_probes_follow_the_service_metadata():
    services = (Service("dns", 53, "udp"), Service("dns-tcp", 53), Service("http", 80), Service("ssh", 22),
                Service("smb", 445), Service("snmp", 161, "udp"))
    kinds = [(p.service, p.kind) for p in probes.probes_for("pot", "203.0.113.5", services)]
    assert kinds == [("dns", "dns"), ("dns-tcp", "connect"), ("http", "http"), ("ssh", "banner"), ("smb", "connect")]


def test_probe_host_takes_a_free_address():
    t = Topology.model_validate({"id": "lab1", "networks": {"honeynet": {"cidr": "203.0.113.0/24"}},
                                 "honeypots": [{"name": "a", "image": "x", "address": "203.0.113.254"}],
                                 "outside": [{"name": "o", "address": "203.0.113.253"}]})
    assert service_probe_address(t).ip == IPv4Address("203.0.113.252")
    # never the log host (by default the subnet's last address), whose ARP the gateway keeps off the internet side
    t = Topology.model_validate({"id": "lab1", "honeypots": [{"name": "a", "image": "x", "address": "203.0.113.5"}]})
    assert service_probe_address(t).ip == IPv4Address("203.0.113.253")


@pytest.fixture
def tcp_server():
    """A local TCP server that sends `reply` to each client, then closes."""
    sock = socket.create_server(("127.0.0.1", 0))
    reply = {"data": b""}

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                if reply["data"].startswith(b"HTTP"):
                    conn.recv(1024)
                conn.sendall(reply["data"])

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1], reply
    sock.close()


def test_probe_clients_against_real_sockets(tcp_server):
    port, reply = tcp_server
    reply["data"] = b"SSH-2.0-OpenSSH_9.2\r\n"
    assert probe_client.main(["banner", "127.0.0.1", str(port)]) == 0
    assert probe_client.main(["connect", "127.0.0.1", str(port)]) == 0
    reply["data"] = b"HTTP/1.1 200 OK\r\n\r\n"
    assert probe_client.main(["http", "127.0.0.1", str(port)]) == 0
    reply["data"] = b""
    assert probe_client.main(["banner", "127.0.0.1", str(port)]) == 1  # closed without a banner
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    assert probe_client.main(["connect", "127.0.0.1", str(closed_port)]) == 1


def test_dns_probe_wants_a_response():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def answer():
        query, peer = server.recvfrom(512)
        server.sendto(query[:2] + bytes([query[2] | 0x80]) + query[3:], peer)

    threading.Thread(target=answer, daemon=True).start()
    try:
        assert probe_client.main(["dns", "127.0.0.1", str(server.getsockname()[1])]) == 0
    finally:
        server.close()


def test_mermaid_graph_shows_every_node():
    text = graph.draw(load(REPO / "topologies" / "demo.yml"), "mermaid").decode()
    assert text.startswith("flowchart LR")
    for node in ("vhndemo-ext", "vhndemo-int", "vhndemo-adm", "gateway (honeywall)", "hp_dns", "hp_web",
                 "out_attacker", "10.254.0.0/29", "203.0.113.0/24"):
        assert node in text


def test_svg_graph_through_graphviz():
    demo = load(REPO / "topologies" / "demo.yml")
    if shutil.which("dot") is None:
        with pytest.raises(VhoneynetError, match="apt-get install graphviz"):
            graph.draw(demo, "svg")
        pytest.skip("graphviz is not installed")
    svg = graph.draw(demo, "svg").decode()
    assert "<svg" in svg and "vhndemo&#45;int" in svg and "gateway (honeywall)" in svg


def test_unknown_graph_format():
    with pytest.raises(VhoneynetError, match="--format must be one of"):
        graph.draw(load(REPO / "topologies" / "demo.yml"), "jpeg")


def test_pristine_base_is_the_bottom_of_the_backing_chain(tmp_path):
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    base, checkpoint, overlay = tmp_path / "base.qcow2", tmp_path / "cp.qcow2", tmp_path / "ov.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(checkpoint)], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "cp.qcow2", str(overlay)], check=True)
    assert backing_file(base) is None
    assert backing_file(overlay) == checkpoint  # relative names resolve next to the overlay
    assert _base_of(overlay) == base
    with pytest.raises(VhoneynetError, match="no backing image"):
        _base_of(base)


@pytest.mark.parametrize(("fmt", "size"), [("qcow2", 64 << 20), ("qcow2", 10 << 30), ("qcow2", (3 << 40) + 512),
                                           ("raw", 64 << 20)])
def test_overlay_written_without_qemu_img_is_what_qemu_reads(tmp_path, fmt, size):
    base, overlay = tmp_path / f"base.{fmt}", tmp_path / "ov.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(base), str(size)], check=True)
    subprocess.run(["qemu-io", "-f", fmt, "-c", "write -P 0xab 0 64k", str(base)], check=True, capture_output=True)
    overlay.write_bytes(b"a guest's old writes")
    write_qcow2_overlay(overlay, base)

    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(overlay)],
                                     check=True, capture_output=True, text=True).stdout)
    assert (info["virtual-size"], info["backing-filename"], info["backing-filename-format"]) == (size, str(base), fmt)
    assert (virtual_size(overlay), backing_file(overlay), backing_file(base)) == (size, base, None)
    subprocess.run(["qemu-img", "check", "-q", str(overlay)], check=True)
    io = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0xab 0 64k", "-c", "write -P 0xcd 32M 128k",
                         "-c", "read -P 0xcd 32M 128k", str(overlay)], capture_output=True, text=True)
    assert io.returncode == 0 and "Pattern verification failed" not in io.stdout, io.stdout
    subprocess.run(["qemu-img", "check", "-q", str(overlay)], check=True)  # refcounts right after a write
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([base.name, "ov.qcow2"])  # no temporary left


def test_console_watch_waits_through_a_kernel_panic_but_not_through_three(tmp_path):
    from vhoneynet.readiness import MAX_PANICS, ConsoleWatch

    log = tmp_path / "web.log"
    log.write_text("an earlier boot\nKernel panic - not syncing: old\n")
    watch = ConsoleWatch.from_now(log, "honeypot")  # what was there before the start does not count
    assert watch.poll() is None and watch.panics == []
    panic = ("[  184.3] Kernel panic - not syncing: Fatal exception in interrupt\n"
             "[  184.4] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\n")
    with log.open("a") as f:
        f.write(panic)
    assert watch.poll() is None  # panic=10: the guest restarts itself
    assert watch.panics == ["Kernel panic - not syncing: Fatal exception in interrupt"]
    with log.open("a") as f:
        f.write("Cloud-init v. 25.1 finished at Sun, 29 Nov 2026 05:00:00 +0000. Datasource DataSourceNoCloud.\n")
    assert watch.poll() == "ready"
    again = ConsoleWatch.from_now(log, "honeypot")
    with log.open("a") as f:
        f.write(panic * MAX_PANICS)
    assert again.poll().startswith(f"failed: kernel panicked {MAX_PANICS} times")


# --- reset and checkpoints over the fake backends ----------------------------------------


@pytest.fixture
def lab(tmp_path):
    """A honeynet (gateway, dns, web) up on the fake backends: (backends, topology)."""
    b = fake_backends(tmp_path / "images")
    topology_ = topology(tmp_path / "storage")
    lifecycle.up(topology_, b)
    b.hv.events.clear()
    b.hv.executed.clear()
    return b, topology_


def stopped(b) -> list[str]:
    return [domain for what, domain in b.hv.events if what == "stop"]


def used(path) -> None:
    """What a guest's writes do to its overlay: it grows past the empty one."""
    with open(path, "ab") as f:
        f.write(b"written by the intruder" * 1000)


def test_reset_of_one_honeypot_gives_it_a_fresh_overlay_and_leaves_the_others(lab):
    b, topo = lab
    run = RunDir.of(topo)
    console = CaptureFolder.of(topo).console("web")
    for guest in ("web", "dns"):
        used(run.disk(guest))
    size = run.disk("dns").stat().st_size

    result = labs.reset(HID, b, ["web"], storage=topo.host.storage, timeout=5, warm_start=False)

    assert stopped(b) == [naming.domain(HID, "web")]
    assert b.hv.domain_state(naming.domain(HID, "web")) == "running"
    assert backing_file(run.disk("web")) == b.images.get("linux-web").disk
    assert run.disk("web").stat().st_size < size == run.disk("dns").stat().st_size
    archived = list(console.parent.glob("web.before-reset-*.log"))
    assert len(archived) == 1 and console.is_file()  # the previous life's console kept beside the new one
    assert result["to"] == "pristine" and list(result["guests"]) == ["web"]
    assert set(result["guests"]["web"]) == {"how", "stop", "disk_revert", "start", "until_ready"}
    assert result["guests"]["web"]["how"] == "boot"


def test_reset_of_every_honeypot_hangs_up_their_sessions_first(lab):
    b, topo = lab
    result = labs.reset(HID, b, storage=topo.host.storage, timeout=5)
    pots = [naming.domain(HID, g) for g in ("dns", "web")]
    assert sorted(stopped(b)) == pots and sorted(result["guests"]) == ["dns", "web"]
    assert sorted(d for d, argv in b.hv.executed if argv == ["/bin/sh", "-c", HANG_UP]) == pots
    for domain in pots:
        assert b.hv.events.index(("guest-exec", domain)) < b.hv.events.index(("stop", domain))
    assert b.hv.domain_state(naming.domain(HID, "gateway")) == "running"  # never touched


def test_reset_names_an_unknown_guest_before_anything_stops(lab):
    b, topo = lab
    with pytest.raises(GuestNotFound, match="'nope'.*guests: dns, web"):
        labs.reset(HID, b, ["web", "nope"], storage=topo.host.storage)
    with pytest.raises(GuestNotFound):  # the gateway is not a honeypot to reset
        labs.reset(HID, b, ["gateway"], storage=topo.host.storage)
    assert stopped(b) == []


def test_reset_of_an_unknown_honeynet(tmp_path):
    b = fake_backends(tmp_path / "images")
    with pytest.raises(HoneynetNotFound):
        labs.reset(HID, b, storage=tmp_path)
    with pytest.raises(InvalidName):
        labs.reset("", b, storage=tmp_path)


def test_reset_fails_by_name_when_a_honeypot_does_not_come_back(lab):
    b, topo = lab
    b.hv.never_ready.add("dns")
    with pytest.raises(GuestNotReady, match="'dns'.*timed out"):
        labs.reset(HID, b, storage=topo.host.storage, timeout=0.2, warm_start=False)


def test_reset_when_a_honeypots_agent_does_not_answer(lab, monkeypatch):
    b, topo = lab
    monkeypatch.setattr(warm, "SETTLE_SECONDS", 0.1)  # its clock cannot be set: said, not waited for long
    b.hv.agent_times_out.add("web")
    labs.reset(HID, b, ["web"], storage=topo.host.storage, timeout=5)
    assert stopped(b) == [naming.domain(HID, "web")]
    assert [d for d, _ in b.hv.executed if d != naming.domain(HID, "gateway")] == []


def test_checkpoint_then_reset_to_it(lab):
    b, topo = lab
    run = RunDir.of(topo)
    used(run.disk("web"))
    saved = labs.checkpoint(HID, "infected", b, ["web"], storage=topo.host.storage)
    web = naming.domain(HID, "web")
    assert [e for e in b.hv.events if e[1] == web] == [
        ("guest-fsfreeze-freeze", web), ("pause", web), ("resume", web), ("guest-fsfreeze-thaw", web)]
    assert list(saved["guests"]) == ["web"]
    assert [c["name"] for c in labs.checkpoints(HID, topo.host.storage)] == ["infected"]
    with pytest.raises(CheckpointExists):
        labs.checkpoint(HID, "infected", b, ["web"], storage=topo.host.storage)

    result = labs.reset(HID, b, ["web"], to="infected", storage=topo.host.storage, timeout=5)
    assert result["to"] == "infected"
    assert backing_file(run.disk("web")) == run.checkpoint("infected") / "web.qcow2"
    assert list(CaptureFolder.of(topo).consoles.glob("web.before-reset-*-to-infected.log"))


def test_reset_to_a_checkpoint_a_guest_lacks_stops_nothing(lab):
    b, topo = lab
    labs.checkpoint(HID, "one", b, ["web"], storage=topo.host.storage)
    b.hv.events.clear()
    with pytest.raises(CheckpointNotFound, match="checkpoints of 'dns': none"):
        labs.reset(HID, b, to="one", storage=topo.host.storage)
    with pytest.raises(InvalidName):
        labs.reset(HID, b, to="../one", storage=topo.host.storage)
    assert stopped(b) == []


def test_a_checkpoint_without_an_answering_agent_is_taken_paused(lab):
    b, topo = lab
    b.hv.agent_times_out.add("dns")
    labs.checkpoint(HID, "quiet", b, ["dns"], storage=topo.host.storage)
    dns = naming.domain(HID, "dns")
    assert [e for e in b.hv.events if e[1] == dns] == [("pause", dns), ("resume", dns)]
