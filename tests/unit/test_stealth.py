"""The hardware catalogue and the judging of what a honeypot reports about itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_render import fake_image
from vhoneynet import hardware
from vhoneynet.errors import TopologyInvalid
from vhoneynet.guestxml import domain_xml
from vhoneynet.images import BuiltImage
from vhoneynet.plan import plan
from vhoneynet.tells import judge, parse_facts
from vhoneynet.topology import loads

QEMU_FACTS = """dmi.sys_vendor\tQEMU
dmi.product_name\tStandard PC (i440FX + PIIX, 1996)
dmi.bios_vendor\tSeaBIOS
cpu.model\tQEMU TCG CPU version 2.5+
cpu.flag\thypervisor
detect-virt\tqemu
pci\t0x8086:0x1237
pci\t0x1af4:0x1000
mac\teth0 52:54:00:12:34:56
disk\tvda
label\tcidata
process\tqemu-ga
file\t/usr/local/sbin/vhn-audit
syslog-answers\t203.0.113.254 514
acpi\tDSDT BOCHS BXPC    
fw-cfg\t/sys/firmware/qemu_fw_cfg
chassis\t1
package\tqemu-guest-agent
disk-rev\tsda 2.5+
"""
PC_FACTS = """dmi.sys_vendor\tDell Inc.
dmi.product_name\tOptiPlex 7070
cpu.model\tIntel(R) Core(TM) i5-9500 CPU @ 3.00GHz
detect-virt\tnone
pci\t0x8086:0x3e92
mac\teth0 d8:9e:f3:01:02:03
disk\tsda ATA Samsung SSD 860
clocksource\ttsc
cmdline\tBOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet
acpi\tDSDT DELL  CBX3    
chassis\t3
disk-rev\tsda RVT04B6Q
"""


def test_every_tell_of_a_plain_qemu_guest_is_found():
    checks = [t.check for t in judge(parse_facts(QEMU_FACTS))]
    for check in ("dmi", "cpu", "detect-virt", "pci", "mac", "disk", "seed", "agent", "name", "loghost", "acpi",
                  "firmware"):
        assert check in checks, check
    assert checks.count("pci") == 2 and checks.count("cpu") == 2


def test_an_ordinary_pc_has_no_tells():
    assert judge(parse_facts(PC_FACTS)) == []


def test_a_flood_of_facts_is_bounded_and_odd_lines_ignored():
    facts = parse_facts("no tab here\n" + "file\t/x\n" * 10_000 + "k\t" + "v" * 10_000)
    assert len(facts) <= 2000 and all(len(v) <= 300 for _, v in facts)


def test_profiles_are_stable_per_honeypot_and_differ_between_honeypots():
    p = hardware.CATALOGUE["dell-optiplex-7070"]
    assert p.serial("lab1", "web") == p.serial("lab1", "web") != p.serial("lab1", "db")
    assert len(p.serial("lab1", "web")) == 7 and p.serial("lab1", "web").isalnum()
    assert hardware.profile("lab1", "web") == hardware.profile("lab1", "web")
    assert hardware.profile("lab1", "web", "virtual") is None
    assert {hardware.profile("lab1", f"pot{i}").name for i in range(40)} == set(hardware.CATALOGUE)


def test_mac_comes_from_the_profile_vendor_and_virtual_keeps_qemus():
    for name, p in hardware.CATALOGUE.items():
        assert hardware.mac("lab1", "web", name)[:8] in p.ouis
    assert hardware.mac("lab1", "web", "virtual").startswith("52:54:00:")


def test_topology_picks_hardware_and_rejects_unknown_profiles():
    topo = loads("id: t1\ndefaults: {hardware: hp-prodesk-600-g6}\nhoneypots:\n"
                 "  - {name: web, image: linux-web, address: 203.0.113.10}\n"
                 "  - {name: db, image: linux-web, address: 203.0.113.11, hardware: virtual}\n")
    assert [h.hardware for h in topo.honeypots] == ["hp-prodesk-600-g6", "virtual"]
    with pytest.raises(TopologyInvalid, match="hardware"):
        loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.10, hardware: cray-1}\n")


def test_disguised_domain_has_profile_smbios_no_hypervisor_bit_and_cpu_name():
    topo = loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.10, hardware: dell-optiplex-7070}\n"
                 "  - {name: db, image: linux-web, address: 203.0.113.11, hardware: virtual}\n")
    p = plan(topo)
    web, db = (domain_xml(topo, g, fake_image("linux-web"), "tcg", Path("/x.qcow2"), Path("/s.img"), Path("/c.log"))
               for g in p.honeypots)
    assert '<entry name="manufacturer">Dell Inc.</entry>' in web and '<smbios mode="sysinfo"/>' in web
    assert "file=/var/lib/vhoneynet/hardware/dell-optiplex-7070.smbios" in web and "<bios>" not in web
    assert '<feature policy="disable" name="hypervisor"/>' in web
    assert "max-x86_64-cpu.model-id=Intel(R) Core(TM) i5-9500 CPU @ 3.00GHz" in web
    assert p.honeypots[0].nics[0].mac[:8] in hardware.CATALOGUE["dell-optiplex-7070"].ouis
    assert "sysinfo" not in db and "hypervisor" not in db and p.honeypots[1].nics[0].mac.startswith("52:54:00")
    # a PC's machine: q35, SATA, e1000e on the root complex, no virtio device, the seed in the initrd
    assert 'machine="q35"' in web and 'bus="sata"' in web and '<model type="e1000e"/>' in web
    assert "virtio" not in web and 'device="cdrom"' not in web and "<initrd>/s.img</initrd>" in web
    assert 'x-oem-id=DELL  ,x-oem-table-id=CBX3    ' in web and 'value="TOSHIBA KSG60ZMV256G"' in web
    assert 'machine="pc"' in db and 'bus="virtio"' in db and '<model type="virtio"/>' in db
    assert '<target type="isa-serial" port="1">' in web and '<target type="isa-serial" port="1">' in db


def test_a_honeypot_with_its_own_boot_loader_gets_its_seed_as_a_cd_with_a_profile_s_drive():
    topo = loads("id: t1\nhoneypots:\n  - {name: web, image: linux-web, address: 203.0.113.10, hardware: dell-optiplex-7070}\n")
    brought = BuiltImage("file", "0" * 60, "honeypot", Path("/srv/cloud.qcow2"), None, None)
    xml = domain_xml(topo, plan(topo).honeypots[0], brought, "tcg", Path("/x.qcow2"), Path("/s.iso"), Path("/c.log"))
    assert '<disk type="file" device="cdrom">' in xml and '<source file="/s.iso"/>' in xml and "<kernel>" not in xml
    assert '<qemu:device alias="ua-seed">' in xml and 'value="HL-DT-ST DVD+-RW GU90N"' in xml


def test_bios_table_is_a_type_0_structure_without_the_virtual_machine_bit(tmp_path):
    p = hardware.CATALOGUE["dell-optiplex-7070"]
    table = p.bios_table()
    assert table[0] == 0 and table[1] == 0x18 and not table[0x13] & 0x10
    assert table[0x18:].split(b"\0")[:3] == [b"Dell Inc.", b"1.21.0", b"07/12/2023"] and table.endswith(b"\0\0")
    hardware.write_bios_tables(tmp_path)
    path = hardware.bios_table_path(tmp_path, p)
    assert path.read_bytes() == table and path.stat().st_mode & 0o777 == 0o644


def test_chassis_table_is_a_type_3_structure_with_the_profile_s_chassis_type(tmp_path):
    p = hardware.CATALOGUE["lenovo-thinkcentre-m720q"]
    table = p.chassis_table()
    assert table[0] == 3 and table[1] == 0x16 and table[5] == 35  # a mini PC, not qemu's 1 (Other)
    assert table[0x16:].split(b"\0")[:2] == [b"LENOVO", b"ThinkCentre M720q"] and table.endswith(b"\0\0")
    hardware.write_bios_tables(tmp_path)
    assert [path.read_bytes() for path in hardware.table_paths(tmp_path, p)] == [p.bios_table(), table]
