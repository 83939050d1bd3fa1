"""The Windows honeypot's wiring, up to where Windows itself would start: a brought disk with
`boot: uefi` gets the domain a Windows image gets (OVMF with its own NVRAM in the run folder, q35,
SATA, e1000e, the answer disk), boots under OVMF, and takes its name and address from its answer
disk. No Windows ISO is here: the disk is a Linux stand-in (uefi_standin.py) that reads the answer
disk the way the Windows image's boot task does."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.integration.cloud_image import disk_folder
from tests.integration.conftest import REAL_GUESTS, Honeynet, honeynet_up, in_netns, vhn
from tests.integration.uefi_standin import make_uefi_standin
from vhoneynet import naming
from vhoneynet.hardware import OVMF_CODE
from vhoneynet.images import ImageStore

pytestmark = REAL_GUESTS

ADDRESS = "203.0.113.91"


@pytest.fixture(scope="module")
def disk() -> Path:
    """The stand-in, in a folder qemu's user can enter."""
    if not OVMF_CODE.is_file():
        pytest.skip(f"{OVMF_CODE} is missing (apt-get install ovmf)")
    with disk_folder("vhn-uefi-") as folder:
        yield make_uefi_standin(ImageStore().ensure("linux-ssh"), folder / "standin.qcow2")


@pytest.fixture(scope="module")
def uefi(tmp_path_factory: pytest.TempPathFactory, disk: Path) -> Honeynet:
    # ready when ssh answers from the internet side: a UEFI guest's console has no mark of ours
    pots = [{"name": "win", "image": f"file:{disk}", "address": ADDRESS, "boot": "uefi",
             "services": [{"name": "ssh", "port": 22}]}]
    with honeynet_up(tmp_path_factory, pots) as h:
        yield h


def _domain(h: Honeynet) -> ET.Element:
    xml = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", naming.domain(h.hid, "win")],
                         capture_output=True, text=True, check=True).stdout
    return ET.fromstring(xml)


def test_the_domain_is_a_windows_honeypot_s(uefi: Honeynet):
    root = _domain(uefi)
    assert root.find("os/type").get("machine").startswith("pc-q35")
    assert root.find("os/loader").text == str(OVMF_CODE) and root.find("os/kernel") is None
    assert Path(root.find("os/nvram").text).is_file()
    buses = [(d.get("device"), d.find("target").get("bus")) for d in root.findall("devices/disk")]
    assert buses == [("disk", "sata"), ("disk", "sata")]  # its disk and its answer disk
    assert [m.get("type") for m in root.findall("devices/interface/model")] == ["e1000e"]


def test_it_boots_under_ovmf_and_takes_name_and_address_from_its_answer_disk(uefi: Honeynet):
    console = (uefi.capture / uefi.hid / "consoles" / "win.log").read_text(errors="replace")
    assert "BdsDxe" in console or "UEFI" in console, console[-2000:]  # OVMF's boot manager, on the serial console
    assert f"answer disk: hostname win, address {ADDRESS}/" in console, console[-2000:]
    assert uefi.exec("win", "test", "-d", "/sys/firmware/efi").returncode == 0  # the kernel was started by UEFI
    assert uefi.exec("win", "hostname").stdout.decode().strip() == "win"
    assert ADDRESS in uefi.exec("win", "ip", "-4", "-o", "addr", "show").stdout.decode()


def test_up_was_ready_when_its_service_answered_from_the_internet_side(uefi: Honeynet):
    banner = in_netns(uefi.netns("attacker"), "sh", "-c", f"timeout 10 nc -w 5 {ADDRESS} 22 </dev/null")
    assert banner.stdout.startswith("SSH-2.0-"), banner


def test_down_removes_its_nvram(uefi: Honeynet):
    nvram = Path(_domain(uefi).find("os/nvram").text)
    assert nvram.is_file()
    vhn("down", uefi.hid)
    assert not nvram.exists()
