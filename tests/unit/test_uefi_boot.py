"""How a recipe boots (kernel, bios, uefi), the UEFI honeypot's domain and its answer disk."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.test_render import virt_xml_validate
from vhoneynet import answerdisk, hardware
from vhoneynet.backend.disks import make_vfat
from vhoneynet.errors import HostNotReady, RecipeInvalid, TopologyInvalid
from vhoneynet.guestxml import domain_xml
from vhoneynet.images import BuiltImage, Recipe
from vhoneynet.lifecycle import check_firmware, guest_image, guest_probes, watch_role
from vhoneynet.plan import plan
from vhoneynet.readiness import ConsoleWatch
from vhoneynet.rundir import RunDir
from vhoneynet.seed import RecipeSeed, documents, resolvers
from vhoneynet.topology import loads

WINDOWS = ("id: t1\nnetworks: {honeynet: {resolver: 203.0.113.53}}\nhoneypots:\n"
           "  - {name: iis, image: windows-iis, address: 203.0.113.20, hardware: HW}\n")


def windows_image(tpm: bool = False) -> BuiltImage:
    root = Path("/var/lib/vhoneynet/images/windows-iis-0123456789ab")
    return BuiltImage("windows-iis", "0" * 64, "honeypot", root / "disk.qcow2", None, None, boot="uefi", tpm=tpm)


def uefi_domain(hardware: str = "dell-optiplex-7070", tpm: bool = False):
    topo = loads(WINDOWS.replace("HW", hardware))
    disks = RunDir.of(topo).disks
    xml = domain_xml(topo, plan(topo).honeypots[0], windows_image(tpm), "kvm", disks / "iis.qcow2",
                     disks / "iis-answer.img", Path("/c.log"))
    return topo, xml


@pytest.mark.parametrize("hardware", ["dell-optiplex-7070", "virtual"])
def test_a_uefi_honeypot_boots_ovmf_on_pc_hardware_with_its_own_nvram_and_answer_disk(hardware, tmp_path):
    topo, xml = uefi_domain(hardware)
    virt_xml_validate(tmp_path, xml, "domain")
    root = ET.fromstring(xml)
    disks = RunDir.of(topo).disks
    assert root.find("os/type").get("machine") == "q35"  # hardware: virtual or not, Windows gets a PC
    assert root.find("os/loader").text == "/usr/share/OVMF/OVMF_CODE_4M.fd"
    assert root.find("os/loader").get("type") == "pflash" and root.find("os/loader").get("readonly") == "yes"
    nvram = root.find("os/nvram")
    assert nvram.text == str(disks / "iis-VARS.fd") and nvram.get("template") == "/usr/share/OVMF/OVMF_VARS_4M.fd"
    assert root.find("os/kernel") is None and root.find("os/initrd") is None and root.find("os/cmdline") is None
    assert root.find("features/smm") is None  # the non-secure-boot OVMF_CODE_4M needs none
    targets = [(d.get("device"), d.find("source").get("file"), d.find("target").get("dev"), d.find("target").get("bus"))
               for d in root.findall("devices/disk")]
    assert targets == [("disk", str(disks / "iis.qcow2"), "sda", "sata"),
                       ("disk", str(disks / "iis-answer.img"), "sdb", "sata")]
    assert [m.get("type") for m in root.findall("devices/interface/model")] == ["e1000e"]
    assert "virtio" not in xml and root.find("devices/tpm") is None


def test_a_tpm_only_when_the_recipe_asks():
    _, xml = uefi_domain(tpm=True)
    tpm = ET.fromstring(xml).find("devices/tpm")
    assert tpm.get("model") == "tpm-crb" and tpm.find("backend").get("type") == "emulator"
    assert tpm.find("backend").get("version") == "2.0"


def test_recipes_declare_their_boot():
    assert Recipe.load("linux-web").boot == "kernel" and Recipe.load("base").boot == "kernel"
    windows = Recipe.load("windows-iis")
    assert (windows.boot, windows.tpm) == ("uefi", False)


@pytest.mark.parametrize("toml, problem", [
    ('builder = "debootstrap"\nsuite = "bookworm"\nboot = "floppy"', "boot must be one of kernel, bios, uefi"),
    ('builder = "debootstrap"\nsuite = "bookworm"\nboot = "uefi"', "a debootstrap image has no boot loader"),
    ('builder = "windows-iso"\nboot = "kernel"', "Windows is installed in a UEFI guest"),
    ('builder = "debootstrap"\nsuite = "bookworm"\ntpm = true', "tpm = true needs boot"),
    ('builder = "windows-iso"\ntpm = "yes"', "tpm must be true or false"),
])
def test_recipe_boot_is_validated_naming_the_field(tmp_path, toml, problem):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "recipe.toml").write_text(f'kind = "honeypot"\n{toml}\n')
    with pytest.raises(RecipeInvalid, match=problem):
        Recipe.load("r", tmp_path)


@pytest.mark.parametrize("meta, boot", [
    ({}, "kernel"), ({"builder": "windows-iso"}, "uefi"), ({"builder": "windows-iso", "boot": "uefi", "tpm": True}, "uefi"),
])
def test_built_images_carry_their_boot_with_a_default_for_older_builds(tmp_path, meta, boot):
    (tmp_path / "image.json").write_text(json.dumps({"recipe": "r", "digest": "d", "kind": "honeypot", **meta}))
    image = BuiltImage.from_dir(tmp_path)
    assert image.boot == boot and (image.kernel is None) == (boot != "kernel") and image.tpm == meta.get("tpm", False)
    assert BuiltImage.brought("file:/srv/disk.qcow2").boot == "bios"


def test_a_brought_disk_may_boot_by_uefi_a_recipe_may_not_be_told(tmp_path):
    disk = tmp_path / "standin.qcow2"
    disk.write_bytes(b"")
    topo = loads(f"id: t1\nhoneypots:\n  - {{name: iis, image: 'file:{disk}', address: 203.0.113.20, boot: uefi, "
                 "services: [{name: http, port: 80}]}\n")
    guest = plan(topo).honeypots[0]
    image = guest_image(topo, guest, {guest.image: BuiltImage.brought(guest.image)})
    assert image.boot == "uefi" and watch_role(guest, image) == "service"
    assert [(s.name, s.port, s.proto) for s in image.services] == [("http", 80, "tcp")]
    assert [str(p) for p in guest_probes(plan(topo), {guest.name: image})["iis"]] == ["http 203.0.113.20:80"]
    with pytest.raises(TopologyInvalid, match="services"):
        loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.20, services: [{name: x, port: 1}]}\n")
    with pytest.raises(TopologyInvalid, match="boot"):
        loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.20, boot: uefi}\n")
    with pytest.raises(TopologyInvalid, match="boot"):
        loads(f"id: t1\nhoneypots:\n  - {{name: iis, image: 'file:{disk}', address: 203.0.113.20, boot: kernel}}\n")


def test_a_uefi_guest_is_ready_when_its_services_answer_not_by_its_console(tmp_path):
    console = tmp_path / "iis.log"
    console.write_text("BdsDxe: starting Boot0001\n")
    assert ConsoleWatch(console, "service").poll() == "ready"
    assert ConsoleWatch(console, "honeypot").poll() is None


def test_answer_disk_names_the_honeypot_its_address_and_the_udp_syslog_sink(tmp_path):
    topo = loads(WINDOWS.replace("HW", "dell-optiplex-7070"))
    pot = topo.honeypots[0]
    config = json.loads(answerdisk.files(topo, pot)[answerdisk.ANSWER_FILE])
    net = topo.networks.honeynet
    assert config["hostname"] == "iis" and config["address"] == "203.0.113.20"
    assert config["prefixlen"] == net.cidr.prefixlen and config["router"] == str(net.router)
    assert config["resolvers"] == ["203.0.113.53"] and config["domain"] == net.domain
    assert config["syslog"]["host"] == str(net.log_sink)
    assert (config["syslog"]["port"], config["syslog"]["proto"]) == (514, "udp")
    assert config["mac"] == plan(topo).honeypots[0].nics[0].mac
    image = tmp_path / "answer.img"
    make_vfat(image, answerdisk.ANSWER_LABEL, answerdisk.files(topo, pot), answerdisk.ANSWER_DISK_KIB)
    label = subprocess.run(["mlabel", "-s", "-i", str(image), "::"], capture_output=True, text=True, check=True)
    assert answerdisk.ANSWER_LABEL in label.stdout
    listed = subprocess.run(["mdir", "-b", "-i", str(image), "::"], capture_output=True, text=True, check=True)
    assert "config.json" in listed.stdout.lower()


def test_the_windows_boot_tasks_read_the_answer_disk_by_its_label():
    files = REPO / "images" / "windows-iis" / "files"
    for script in ("vhn-eventlog-forward.ps1", "vhn-apply-config.ps1"):
        text = (files / script).read_text()
        assert f'$Label = "{answerdisk.ANSWER_LABEL}"' in text and "config.json" in text
    assert "UdpClient" in (files / "vhn-eventlog-forward.ps1").read_text()


def test_seed_extras_come_from_the_recipe_not_from_seed_py():
    assert RecipeSeed.of("linux-dns").resolver and not RecipeSeed.of("linux-web").resolver
    assert RecipeSeed.of("file:/srv/x.qcow2") == RecipeSeed()
    topo = loads("id: t1\nhoneypots:\n  - {name: ns, image: linux-dns, address: 203.0.113.5}\n"
                 "  - {name: mx, image: linux-mail, address: 203.0.113.6}\n")
    assert [str(r) for r in resolvers(topo)] == ["203.0.113.5"]
    mail = documents(topo, topo.honeypots[1])["user-data"]
    assert "postconf -e myhostname=mx.honeynet.example" in mail or "postconf -e myhostname=mx." in mail
    assert "/etc/mailname" in mail
    assert "seed" not in {p.name for p in (REPO / "vhoneynet" / "render" / "templates" / "cloudinit").iterdir()}


def test_a_broken_seed_toml_names_the_recipe(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "seed.toml").write_text("commands = [\"x\"]\nfiles = [{path = \"/etc/x\"}]\n")
    with pytest.raises(RecipeInvalid, match="r.*seed.toml"):
        RecipeSeed.of("r", tmp_path)


def test_up_refuses_a_uefi_guest_on_a_host_without_ovmf_naming_guest_and_package(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "OVMF_CODE", tmp_path / "OVMF_CODE_4M.fd")
    monkeypatch.setattr(hardware, "OVMF_VARS", tmp_path / "OVMF_VARS_4M.fd")
    with pytest.raises(HostNotReady, match="guest iis boots by UEFI.*apt-get install ovmf"):
        check_firmware({"iis": windows_image()})
    (tmp_path / "OVMF_CODE_4M.fd").write_bytes(b"")
    (tmp_path / "OVMF_VARS_4M.fd").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path))
    check_firmware({"iis": windows_image()})
    with pytest.raises(HostNotReady, match="guest iis has a TPM: swtpm is missing"):
        check_firmware({"iis": windows_image(tpm=True)})
