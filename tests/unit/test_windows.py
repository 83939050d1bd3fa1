"""windows-iis: the answer file and the domain XML render, parse and validate; no ISO, clear error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.test_render import virt_xml_validate
from vhoneynet import windows
from vhoneynet.errors import WindowsIsoMissing
from vhoneynet.images import ImageStore, Recipe
from vhoneynet.plan import Nic

RECIPE = REPO / "images" / "windows-iis"
NS = {"u": "urn:schemas-microsoft-com:unattend"}


def guest_settings() -> windows.AnswerSettings:
    return windows.AnswerSettings(
        hostname="IIS01", admin_password="S3cret<&>pw", mac="52-54-00-12-34-56", address=IPv4Address("203.0.113.90"),
        prefixlen=24, router=IPv4Address("203.0.113.1"), domain="corp.example",
        resolvers=(IPv4Address("203.0.113.53"),), shutdown=False,
    )


def test_answer_file_is_well_formed_and_installs_iis(golden):
    text = windows.answer_file(RECIPE, guest_settings())
    golden("windows-iis-Autounattend.xml", text)
    root = ET.fromstring(text)
    passes = [s.get("pass") for s in root.findall("u:settings", NS)]
    assert passes == ["windowsPE", "specialize", "oobeSystem"]
    commands = [c.text for c in root.iter("{urn:schemas-microsoft-com:unattend}CommandLine")]
    assert any("Install-WindowsFeature Web-Server" in c for c in commands)
    # both boot tasks read the answer disk: the image names no honeypot, address or log host
    assert any("ONSTART" in c and "vhn-eventlog-forward.ps1" in c for c in commands)
    assert any("ONSTART" in c and "vhn-apply-config.ps1" in c for c in commands)
    assert not any("sysprep" in c for c in commands)  # a guest's answer file does not power off
    assert root.find(".//u:ComputerName", NS).text == "IIS01"
    assert root.find(".//u:UnicastIpAddresses/u:IpAddress", NS).text == "203.0.113.90/24"
    assert root.find(".//u:AdministratorPassword/u:Value", NS).text == "S3cret<&>pw"  # escaped, not broken


def test_build_answer_file_uses_dhcp_and_ends_with_sysprep():
    root = ET.fromstring(windows.answer_file(RECIPE, windows.AnswerSettings()))
    assert root.find(".//u:UnicastIpAddresses", NS) is None
    commands = [c.text for c in root.iter("{urn:schemas-microsoft-com:unattend}CommandLine")]
    assert "sysprep.exe /generalize /oobe /shutdown" in commands[-1]


@pytest.mark.parametrize("install", [False, True])
def test_windows_domain_xml_validates(install, golden, tmp_path):
    xml = windows.domain_xml(
        RECIPE, name="vhn-lab1-iis", hid="lab1", guest="iis", image="windows-iis", address="203.0.113.90",
        disk=Path("/var/lib/vhoneynet/honeynets/lab1/disks/iis.qcow2"),
        nvram=Path("/var/lib/vhoneynet/honeynets/lab1/disks/iis.nvram.fd"),
        console_log=Path("/var/lib/vhoneynet/captures/lab1/consoles/iis.log"), accel="kvm",
        nics=(Nic("int", "vhnlab1-int", "52:54:00:12:34:56", "vhnlab1-n01"),),
        iso=Path("/srv/iso/windows-server-2022.iso") if install else None,
        answer_disk=Path("/tmp/answer.img") if install else None,
    )
    golden(f"windows-iis-domain{'-install' if install else ''}.xml", xml)
    virt_xml_validate(tmp_path, xml, "domain")
    root = ET.fromstring(xml)
    assert root.find("os/type").get("machine") == "q35"
    assert root.find("os/loader").text.endswith("OVMF_CODE_4M.fd") and root.find("os/nvram") is not None
    assert root.find("features/hyperv/relaxed").get("state") == "on"
    assert root.find("devices/disk/target").get("bus") == "sata"
    assert root.find("devices/interface/model").get("type") == "e1000e"
    assert (root.find("devices/disk[@device='cdrom']") is not None) == install


def test_windows_recipe_loads():
    recipe = Recipe.load("windows-iis")
    assert recipe.builder == "windows-iso" and recipe.parent is None and recipe.suite is None
    assert [s.name for s in recipe.services] == ["http"]


def test_build_without_iso_says_what_is_missing(tmp_path):
    store = ImageStore(root=tmp_path)
    with pytest.raises(WindowsIsoMissing, match=r"no installation ISO given.*--iso /path/to/windows-server.iso"):
        store.build("windows-iis")
    with pytest.raises(WindowsIsoMissing, match=r"/nowhere/ws2022.iso does not exist"):
        store.build("windows-iis", iso=Path("/nowhere/ws2022.iso"))
    assert not any(tmp_path.glob("windows-iis*")), "nothing is made before the ISO is there"
