"""What a honeypot's hardware looks like from inside: a small catalogue of real machines.

A guest of qemu tells what it is at every turn: "QEMU" in its SMBIOS tables, the 52:54:00
MAC prefix, the CPUID hypervisor bit, "QEMU TCG CPU" or "QEMU Virtual CPU" as its processor.
A honeypot instead wears one of the profiles below, by qemu's and libvirt's own means (no
patched qemu): SMBIOS types 0-3 from the profile with serial numbers made per honeypot, MAC
addresses from the vendor's own OUIs, the hypervisor bit off, the profile's processor name,
vendor and family. Everything is derived from the honeynet id and the honeypot's name, so it
stays the same across resets and re-ups of the same topology.

`hardware: virtual` on a honeypot keeps qemu's own identity (what a lab may want to show).
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from vhoneynet import naming

AUTO = "auto"
VIRTUAL = "virtual"  # no disguise: qemu's own strings, 52:54:00, the hypervisor bit
# The firmware of a guest that boots by UEFI, as Debian's ovmf package installs it: the 4 MiB
# build without Secure Boot, which needs no SMM; each guest's variable store is its own copy of
# OVMF_VARS (RunDir.nvram).
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
TABLES = "hardware"  # <storage>/hardware/<profile>.smbios: the profiles' BIOS tables, read by qemu

# BIOS characteristics of an ordinary PC firmware: PCI, plug and play, flash upgradeable,
# shadowing, boot from CD, selectable boot, EDD, 8042 keyboard, serial and printer services.
_BIOS_CHARACTERISTICS = sum(1 << bit for bit in (7, 9, 11, 12, 15, 16, 19, 27, 28, 29))
_BIOS_EXTENSION = (0x03, 0x05)  # ACPI, USB legacy; BIOS boot specification, targeted content
# distribution, and (unlike qemu's own table) not bit 4 of the second byte, "this is a virtual
# machine", which systemd-detect-virt and others read.


@dataclass(frozen=True)
class Cpu:
    vendor: str
    model_id: str
    family: int
    model: int
    stepping: int


@dataclass(frozen=True)
class Drive:
    """A SATA drive's identity as `hdparm -I`, `/sys/block/*/device/model` and the kernel's
    boot messages show it (qemu's own is "QEMU HARDDISK" / "QEMU DVD-ROM", firmware "2.5+")."""

    model: str
    firmware: str
    serial_format: str  # as Profile.serial_format


@dataclass(frozen=True)
class Profile:
    """One real machine: its firmware and board strings, NIC vendor prefixes, processor."""

    name: str
    bios_vendor: str
    bios_version: str
    bios_date: str
    manufacturer: str
    product: str
    family: str
    sku: str
    version: str  # system version: qemu puts its machine type (pc-i440fx-7.2) there when it is empty
    board_product: str
    serial_format: str  # letters: 'A' an upper-case letter or digit, '9' a digit, others as they are
    ouis: tuple[str, ...]
    cpu: Cpu
    acpi_oem: tuple[str, str]  # OEM id (6) and OEM table id (8) of the ACPI tables; qemu's are BOCHS, BXPC
    disk: Drive
    optical: Drive
    chassis: int  # SMBIOS chassis type: 3 desktop, 35 mini PC, 23 rack mount (qemu says 1, "Other")

    def serial(self, hid: str, guest: str, part: str = "system") -> str:
        """A serial number in this vendor's form, stable per honeynet, honeypot and part."""
        return _serial(self.serial_format, f"{hid}/{guest}/{part}")

    def drives(self, hid: str, guest: str) -> dict[str, tuple[str, str, str]]:
        """The root disk's and the optical drive's (model, firmware, serial), by role."""
        return {role: (d.model, d.firmware, _serial(d.serial_format, f"{hid}/{guest}/{role}"))
                for role, d in (("disk", self.disk), ("optical", self.optical))}

    def bios_table(self) -> bytes:
        """SMBIOS type 0 (BIOS information), as qemu's `-smbios file=` takes it: qemu's own table
        cannot be told to clear its virtual-machine bit, so the whole structure comes from here."""
        major, _, rest = self.bios_version.partition(".")
        release = (int(major), int(rest.partition(".")[0])) if major.isdigit() and rest[:1].isdigit() else (1, 0)
        header = struct.pack("<BBHBBHBBQBBBBBB", 0, 0x18, 0, 1, 2, 0xF000, 3, 0x3F, _BIOS_CHARACTERISTICS,
                             *_BIOS_EXTENSION, *release, 0xFF, 0xFF)
        strings = (self.bios_vendor, self.bios_version, self.bios_date)
        return header + b"".join(text.encode("ascii") + b"\0" for text in strings) + b"\0"

    def chassis_table(self) -> bytes:
        """SMBIOS type 3 (system enclosure), with the profile's chassis type: libvirt and qemu
        7.2 set only its strings, and leave the type at 1 ("Other")."""
        header = struct.pack("<BBHBBBBBBBBBIBBBBB", 3, 0x16, 0x0300, 1, self.chassis, 2, 0, 0, 3, 3, 3, 3, 0, 0, 1, 0, 0, 0)
        return header + b"".join(text.encode("ascii") + b"\0" for text in (self.manufacturer, self.version)) + b"\0"

    def tables(self) -> dict[str, bytes]:
        """The SMBIOS structures qemu reads from files (`-smbios file=`, one structure a file),
        by the suffix of their file name."""
        return {"": self.bios_table(), "-chassis": self.chassis_table()}

    def smbios(self, hid: str, guest: str) -> dict[str, dict[str, str]]:
        """libvirt <sysinfo type='smbios'> entries, by block (the BIOS block is `bios_table`)."""
        serial = self.serial(hid, guest)
        return {
            "system": {"manufacturer": self.manufacturer, "product": self.product, "version": self.version,
                       "serial": serial, "sku": self.sku, "family": self.family},
            "baseBoard": {"manufacturer": self.manufacturer, "product": self.board_product, "version": "A00",
                          "serial": self.serial(hid, guest, "board")},
        }


def _serial(form: str, seed: str) -> str:
    """A serial number of the form `form` ('A' an upper-case letter or digit, '9' a digit),
    derived from `seed`: the same seed gives the same number."""
    digest = hashlib.sha256(seed.encode()).digest()
    alphabet, digits = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", "0123456789"
    out = []
    for i, c in enumerate(form):
        if c == "A":
            out.append(alphabet[digest[i] % len(alphabet)])
        elif c == "9":
            out.append(digits[digest[i] % 10])
        else:
            out.append(c)
    return "".join(out)


# Drives these machines were sold with.
_DVD = Drive("HL-DT-ST DVD+-RW GU90N", "A1C2", "AAA999AAAAA99")
_SSD_SAMSUNG = Drive("SAMSUNG MZ7LH256HAJD-00000", "HXT7404Q", "S4VSNX0AAAAAAA")
_SSD_TOSHIBA = Drive("TOSHIBA KSG60ZMV256G", "ADHA0101", "99AAA9AAAAAA")
_SSD_MICRON = Drive("Micron_5300_MTFDDAK480TDS", "D3MU001", "9999AAAAAAAA")

_COFFEE_LAKE = Cpu("GenuineIntel", "Intel(R) Core(TM) i5-9500 CPU @ 3.00GHz", 6, 158, 10)
_COMET_LAKE = Cpu("GenuineIntel", "Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz", 6, 165, 5)
_XEON = Cpu("GenuineIntel", "Intel(R) Xeon(R) E-2234 CPU @ 3.60GHz", 6, 158, 10)

CATALOGUE: dict[str, Profile] = {p.name: p for p in (
    Profile("dell-optiplex-7070", "Dell Inc.", "1.21.0", "07/12/2023", "Dell Inc.", "OptiPlex 7070",
            "OptiPlex", "08E1", "Not Specified", "0YNVJG", "AAAAAAA", ("d8:9e:f3", "b8:85:84", "e4:54:e8"), _COFFEE_LAKE,
            ("DELL  ", "CBX3    "), _SSD_TOSHIBA, _DVD, 3),
    Profile("hp-prodesk-600-g6", "HP", "S01 Ver. 02.14.00", "03/08/2023", "HP", "HP ProDesk 600 G6 Small Form Factor PC",
            "103C_53307F HP ProDesk", "1D2F6EA#ABA", "SBKPF", "8715", "CZC999AAAA", ("3c:52:82", "ec:8e:b5", "a0:8c:fd"), _COMET_LAKE,
            ("HPQOEM", "8715    "), _SSD_SAMSUNG, _DVD, 3),
    Profile("lenovo-thinkcentre-m720q", "LENOVO", "M1UKT4BA", "11/06/2023", "LENOVO", "10T7S0AD00",
            "ThinkCentre M720q", "LENOVO_MT_10T7_BU_Think_FM_ThinkCentre M720q", "ThinkCentre M720q", "3136", "PC1AAAAA",
            ("e8:6a:64", "6c:4b:90", "98:fa:9b"), _COFFEE_LAKE, ("LENOVO", "CB-01   "), _SSD_SAMSUNG, _DVD, 35),
    Profile("supermicro-x11scl", "American Megatrends Inc.", "2.6", "11/23/2022", "Supermicro", "SYS-5019C-M",
            "SMC X11", "Default string", "0123456789", "X11SCL-F", "S999999X9999999", ("ac:1f:6b", "3c:ec:ef"), _XEON,
            ("SUPERM", "SMCI--MB"), _SSD_MICRON, _DVD, 23),
)}


def names() -> list[str]:
    """Every value a honeypot's `hardware` field takes."""
    return [AUTO, VIRTUAL, *CATALOGUE]


def profile(hid: str, guest: str, choice: str = AUTO) -> Profile | None:
    """The profile a honeypot wears (None for `virtual`); `auto` picks one by id and name."""
    if choice == VIRTUAL:
        return None
    if choice == AUTO:
        digest = hashlib.sha256(f"{hid}/{guest}/hardware".encode()).digest()
        return list(CATALOGUE.values())[digest[0] % len(CATALOGUE)]
    return CATALOGUE[choice]


def mac(hid: str, guest: str, choice: str = AUTO, nic: int = 0) -> str:
    """The honeypot's MAC: under one of its profile's vendor prefixes (qemu's for `virtual`)."""
    chosen = profile(hid, guest, choice)
    if chosen is None:
        return naming.mac(hid, guest, nic)
    digest = hashlib.sha256(f"{hid}/{guest}/{nic}/oui".encode()).digest()
    return naming.mac(hid, guest, nic, oui=chosen.ouis[digest[0] % len(chosen.ouis)])


def bios_table_path(storage: Path, chosen: Profile, suffix: str = "") -> Path:
    return storage / TABLES / f"{chosen.name}{suffix}.smbios"


def table_paths(storage: Path, chosen: Profile) -> list[Path]:
    """The files of every SMBIOS structure of `chosen` (written by `write_bios_tables`)."""
    return [bios_table_path(storage, chosen, suffix) for suffix in chosen.tables()]


def write_bios_tables(storage: Path) -> None:
    """Write every profile's SMBIOS tables where qemu reads them (world-readable: nothing in
    them is secret, and qemu runs as its own user); unchanged files are left alone."""
    folder = storage / TABLES
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for chosen in CATALOGUE.values():
        for suffix, table in chosen.tables().items():
            path = bios_table_path(storage, chosen, suffix)
            if path.exists() and path.read_bytes() == table:
                continue
            partial = path.with_suffix(".partial")
            partial.write_bytes(table)
            partial.chmod(0o644)
            os.replace(partial, path)
