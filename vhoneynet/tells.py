"""`vhoneynet verify ID --stealth`: what gives a honeypot away as a VM or a honeypot, from inside.

Inside each honeypot a small script (data/probes/tells.sh) collects what pafish, al-khaser,
virt-what, systemd-detect-virt, dmidecode, lscpu and lspci read, plus the honeypot's own traces
(files named after the tool, the seed disk, the log host). It reports facts only; `judge` here
turns them into tells, so a honeypot never decides its own verdict. A honeypot without its
guest agent cannot be looked into this way: it is reported as skipped, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.resources import files

from vhoneynet.backends import Backends, execute
from vhoneynet.errors import AgentUnavailable
from vhoneynet.topology.model import Topology

MAX_FACTS = 2000  # a honeypot's answer is bounded: a lying one cannot flood the report

_VM_WORDS = re.compile(r"qemu|kvm|bochs|seabios|virtual|vmware|virtualbox|xen|hyper-v|red hat|tcg|i440fx|pc-q35|standard pc", re.I)
_TOOL_WORDS = re.compile(r"vhn|vhoneynet|honeynet|honeypot", re.I)
# PCI vendor:device of devices only a virtual machine has: virtio (Red Hat), qemu's own,
# and the i440FX/PIIX3 chipset of qemu's `pc` machine, which no PC made this century has.
_VM_PCI = {"0x1af4": "virtio (Red Hat) device", "0x1b36": "QEMU device", "0x1234": "QEMU/Bochs display"}
_VM_PCI_DEVICES = {"0x8086:0x1237": "Intel 440FX chipset (qemu's pc machine)",
                   "0x8086:0x7000": "PIIX3 ISA bridge (qemu's pc machine)"}
_VM_OUIS = {"52:54:00": "qemu/KVM", "08:00:27": "VirtualBox", "00:0c:29": "VMware", "00:50:56": "VMware",
            "00:16:3e": "Xen", "00:15:5d": "Hyper-V"}


@dataclass
class Tell:
    check: str  # dmi | cpu | detect-virt | pci | mac | disk | seed | dmesg | name | loghost | agent | clock | acpi | firmware
    found: str
    # what stock qemu 7.2 writes where no option reaches (docs/stealth.md, "What still shows"):
    # listed, never hidden, but no failure of a profile that hides all it can
    residual: bool = False


@dataclass
class StealthResult:
    honeypot: str
    verdict: str  # pass | fail | skipped
    tells: list[Tell] = field(default_factory=list)
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def parse_facts(text: str) -> list[tuple[str, str]]:
    """`key<TAB>value` lines, bounded; anything else is ignored."""
    facts = []
    for line in text.splitlines()[:MAX_FACTS]:
        key, sep, value = line.partition("\t")
        if sep:
            facts.append((key[:40], value[:300]))
    return facts


def judge(facts: list[tuple[str, str]]) -> list[Tell]:
    """The tells among a honeypot's facts."""
    tells: list[Tell] = []
    for key, value in facts:
        tell = _JUDGES.get(key.split(".")[0], lambda k, v: None)(key, value)
        if tell is not None:
            tells.append(tell)
    return tells


def _dmi(key: str, value: str) -> Tell | None:
    return Tell("dmi", f"{key.removeprefix('dmi.')}: {value}") if _VM_WORDS.search(value) else None


def _cpu(key: str, value: str) -> Tell | None:
    if key == "cpu.flag":
        return Tell("cpu", "CPUID hypervisor bit set")
    if key == "cpu.model" and _VM_WORDS.search(value):
        return Tell("cpu", f"processor: {value}")
    return None


def _detect_virt(_: str, value: str) -> Tell | None:
    return Tell("detect-virt", f"systemd-detect-virt: {value}") if value and value != "none" else None


def _pci(_: str, value: str) -> Tell | None:
    vendor = value.split(":")[0]
    what = _VM_PCI.get(vendor) or _VM_PCI_DEVICES.get(value)
    return Tell("pci", f"{value} {what}") if what else None


def _mac(_: str, value: str) -> Tell | None:
    address = value.rpartition(" ")[2].lower()
    vendor = _VM_OUIS.get(address[:8])
    return Tell("mac", f"{value} ({vendor} prefix)") if vendor else None


def _disk(_: str, value: str) -> Tell | None:
    name = value.split(" ")[0]
    if name.startswith("vd"):
        return Tell("disk", f"{name}: a virtio disk")
    return Tell("disk", value) if _VM_WORDS.search(value) else None


def _label(_: str, value: str) -> Tell | None:
    return Tell("seed", f"disk labelled {value} (cloud-init seed still attached)") if value.lower() == "cidata" else None


def _seed_left(_: str, value: str) -> Tell:
    return Tell("seed", f"cloud-init seed left at {value}")


# An ACPI table's header as the kernel prints it: qemu 7.2 takes the OEM ids from the profile
# (-machine x-oem-id, x-oem-table-id) but always writes its own creator id, BXPC.
_ACPI_HEADER = re.compile(r"ACPI: [A-Z0-9]{4} 0x[0-9A-F]+ [0-9A-F]+ \(v\d\d (?P<oem>.{6}) (?P<table>.{8}) [0-9A-F]{8} "
                          r"(?P<creator>.{4}) [0-9A-F]{8}\)$")


def _dmesg(_: str, value: str) -> Tell:
    header = _ACPI_HEADER.search(value)
    residual = (header is not None and header["creator"] == "BXPC"
                and not _VM_WORDS.search(header["oem"] + " " + header["table"]) and "BXPC" not in header["table"])
    return Tell("dmesg", value, residual=residual)


def _clock(_: str, value: str) -> Tell | None:
    return Tell("clock", f"clock source {value}") if value.startswith("kvm") else None


def _name(key: str, value: str) -> Tell | None:
    if key == "process" and "qemu-ga" in value:
        return Tell("agent", "qemu guest agent running")
    if key == "cmdline":
        return Tell("name", f"kernel command line: {value}") if _TOOL_WORDS.search(value) else None
    return Tell("name", f"{key}: {value}")


def _acpi(_: str, value: str) -> Tell | None:
    return Tell("acpi", f"ACPI table {value}") if re.search(r"BOCHS|BXPC", value) else None


def _fw_cfg(_: str, value: str) -> Tell:
    return Tell("firmware", f"qemu's firmware configuration device ({value})")


def _chassis(_: str, value: str) -> Tell | None:
    # 1 is "Other", what qemu's own SMBIOS table says; a PC says 3 (desktop), 35 (mini PC), 23 (rack) …
    return Tell("dmi", "chassis type 1 (Other), qemu's own") if value == "1" else None


def _package(_: str, value: str) -> Tell:
    return Tell("agent", f"package {value} installed")


def _disk_rev(_: str, value: str) -> Tell | None:
    return Tell("disk", f"firmware revision {value} (qemu's own)") if value.endswith(" 2.5+") else None


def _hypervisor(_: str, value: str) -> Tell:
    return Tell("dmi", f"/sys/hypervisor/type: {value}")


def _loghost(key: str, value: str) -> Tell | None:
    return Tell("loghost", f"log host answers on the honeynet: {value}") if key == "syslog-answers" else None


_JUDGES: dict[str, Callable[[str, str], Tell | None]] = {
    "dmi": _dmi, "cpu": _cpu, "detect-virt": _detect_virt, "pci": _pci, "mac": _mac, "disk": _disk,
    "label": _label, "dmesg": _dmesg, "clocksource": _clock, "process": _name, "file": _name,
    "mention": _name, "cmdline": _name, "hypervisor": _hypervisor, "syslog-answers": _loghost,
    "acpi": _acpi, "fw-cfg": _fw_cfg, "chassis": _chassis, "package": _package, "disk-rev": _disk_rev,
    "seed-left": _seed_left,
}


def look(topo: Topology, b: Backends) -> list[StealthResult]:
    """Run the checks inside every honeypot of the running honeynet; one result per honeypot."""
    script = files("vhoneynet").joinpath("data", "probes", "tells.sh").read_text()
    results = []
    for pot in topo.honeypots:
        if not pot.agent:
            results.append(StealthResult(pot.name, "skipped", detail="agent: false, nothing can look inside"))
            continue
        try:
            run = execute(topo.id, pot.name, ["/bin/sh", "-c", script], b, timeout=60)
        except AgentUnavailable as e:
            results.append(StealthResult(pot.name, "skipped", detail=str(e)))
            continue
        tells = judge(parse_facts(run.stdout.decode(errors="replace")))
        results.append(StealthResult(pot.name, "fail" if any(not t.residual for t in tells) else "pass", tells))
    return results
