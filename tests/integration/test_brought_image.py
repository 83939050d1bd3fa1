"""A cloud image the user brings (`image: file:…qcow2`) is personalised through the same NoCloud
path as the recipes: its own boot loader starts it, cloud-init gives it its name and address,
its syslog reaches the capture, and `reset` puts it back to the disk as brought."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import unique_id
from tests.integration.cloud_image import disk_folder, make_cloud_disk
from tests.integration.conftest import (
    REAL_GUESTS,
    Honeynet,
    free_admin_octet,
    honeynet_up,
    in_netns,
    leftovers,
    topology_text,
    vhn,
)
from vhoneynet.errors import HOST_NOT_READY
from vhoneynet.images import ImageStore

pytestmark = REAL_GUESTS

ADDRESS = "203.0.113.90"


@pytest.fixture(scope="module")
def disk() -> Path:
    """The cloud-style disk, in a folder qemu's user can enter (as a user would keep one)."""
    with disk_folder("vhn-cloud-") as folder:
        yield make_cloud_disk(ImageStore().ensure("linux-ssh"), folder / "cloud.qcow2")


@pytest.fixture(scope="module")
def brought(tmp_path_factory: pytest.TempPathFactory, disk: Path) -> Honeynet:
    with honeynet_up(tmp_path_factory, [{"name": "cloud", "image": f"file:{disk}", "address": ADDRESS,
                                                  "services": [{"name": "ssh", "port": 22}]}]) as h:
        yield h


def test_a_disk_qemu_cannot_reach_is_refused_by_field_before_anything_exists(tmp_path: Path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "cloud.qcow2").write_bytes(b"QFI\xfb")
    hid = unique_id()
    topology = tmp_path / "t.yml"
    pots = [{"name": "cloud", "image": f"file:{closed}/cloud.qcow2", "address": ADDRESS}]
    topology.write_text(topology_text(hid, tmp_path / "captures", free_admin_octet(hid), honeypots=pots))
    try:
        r = vhn("up", str(topology), check=False, timeout=120)
        assert r.returncode == HOST_NOT_READY and b"honeypots[0].image" in r.stderr and b"cannot reach" in r.stderr, r.stderr
        assert b"Traceback" not in r.stderr
        assert not any(leftovers(hid).values()), leftovers(hid)
    finally:
        vhn("down", hid, check=False)


def test_brought_disk_boots_by_itself_and_takes_its_name_and_address(brought: Honeynet):
    guest = next(g for g in brought.status["guests"] if g["name"] == "cloud")
    assert guest["state"] == "running" and guest["image"].startswith("file:/")
    assert brought.exec("cloud", "hostname").stdout.decode().strip() == "cloud"
    # no kernel of ours: the guest's own boot loader started the root on its second partition
    cmdline = brought.exec("cloud", "cat", "/proc/cmdline").stdout.decode()
    assert "root=LABEL=rootfs" in cmdline
    banner = in_netns(brought.netns("attacker"), "sh", "-c", f"timeout 10 nc -w 5 {ADDRESS} 22 </dev/null")
    assert banner.stdout.startswith("SSH-2.0-"), banner


def test_brought_disk_logs_to_the_capture(brought: Honeynet):
    marker = f"brought-{time.time_ns() % 10**9}"
    assert brought.exec("cloud", "logger", "-t", "vhn-test", marker).returncode == 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = vhn("events", brought.hid, "--json", "--type", "syslog").stdout.decode()
        found = [e for e in map(json.loads, out.splitlines()) if marker in e["summary"]]
        if found:
            assert found[0]["honeypot"] == "cloud"
            return
        time.sleep(3)
    pytest.fail(f"no syslog event with {marker} from the brought honeypot after 120 s")


def test_reset_puts_the_brought_disk_back_as_it_was(brought: Honeynet):
    disk = Path(next(g for g in brought.status["guests"] if g["name"] == "cloud")["image"].removeprefix("file:"))
    before = disk.stat().st_mtime_ns
    assert brought.sh("cloud", "echo intruder > /root/dropped && sync").returncode == 0
    result = json.loads(vhn("reset", brought.hid, "cloud", "--json").stdout)
    assert set(result["guests"]) == {"cloud"}
    assert brought.sh("cloud", "test -e /root/dropped").returncode == 1
    assert disk.stat().st_mtime_ns == before  # the brought disk itself is never written
