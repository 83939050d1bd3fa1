"""Windows honeypots (recipe `windows-iis`): the answer file, a domain suited to Windows, the build.

Windows cannot be debootstrapped: the user brings a Windows Server ISO, and the build runs
Setup unattended in a UEFI guest until it shuts itself down (IIS installed, event-log
forwarding registered, sysprep'd). The answer file and the domain XML are jinja2 templates
in the recipe folder (images/windows-iis/), rendered here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

from vhoneynet import naming
from vhoneynet.backend.disks import make_vfat
from vhoneynet.backend.process import run
from vhoneynet.errors import ImageBuildFailed, WindowsIsoMissing
from vhoneynet.hardware import OVMF_CODE, OVMF_VARS
from vhoneynet.permissions import TRAVERSE, make_folder
from vhoneynet.render import render_recipe

DEFAULT_EDITION = "Windows Server 2022 SERVERSTANDARD"
# The image's boot tasks (images/windows-iis/files/): both read the honeypot's answer disk
# (vhoneynet/answerdisk.py) at every boot, so one image serves every honeypot.
FORWARDER = "vhn-eventlog-forward.ps1"
APPLY_CONFIG = "vhn-apply-config.ps1"
BUILD_HOURS = 6


@dataclass(frozen=True)
class AnswerSettings:
    """What the answer file sets; `address` None means DHCP (the build itself)."""

    hostname: str = "WIN-IIS01"
    admin_password: str = "Winter2019!"
    image_name: str = DEFAULT_EDITION
    organization: str = "Corp"
    locale: str = "en-US"
    product_key: str | None = None
    mac: str = "52-54-00-00-00-01"
    address: IPv4Address | None = None
    prefixlen: int = 24
    router: IPv4Address | None = None
    domain: str = "honeynet.example"
    resolvers: tuple[IPv4Address, ...] = field(default_factory=tuple)
    shutdown: bool = True  # the build ends with sysprep and power-off


def first_logon_commands(s: AnswerSettings) -> list[dict[str, str]]:
    """The commands of the single auto-logon: IIS, the start page, event-log forwarding, the end."""
    ps = "powershell -NoProfile -ExecutionPolicy Bypass -Command "
    commands = [
        {"description": "Install IIS", "command": ps + '"Install-WindowsFeature Web-Server -IncludeManagementTools"'},
        {"description": "IIS start page", "command": ps + '"Set-Content -Path C:\\inetpub\\wwwroot\\iisstart.htm '
                                                        f"-Value '<html><head><title>{s.organization} intranet</title></head>"
                                                        f"<body><h1>{s.organization} intranet</h1><p>Sign in to continue.</p>"
                                                        "</body></html>'\""},
        {"description": "Copy the boot scripts",
         "command": ps + f"\"New-Item -ItemType Directory -Force C:\\vhn; Get-PSDrive -PSProvider FileSystem | "
                         f"ForEach-Object {{ foreach ($f in '{FORWARDER}', '{APPLY_CONFIG}') "
                         f"{{ Copy-Item -ErrorAction SilentlyContinue ($_.Root + $f) C:\\vhn\\ }} }}\""},
        *({"description": description,
           "command": f'schtasks /Create /F /RU SYSTEM /SC ONSTART /TN {script.removesuffix(".ps1")} /TR "powershell '
                      f'-NoProfile -ExecutionPolicy Bypass -File C:\\vhn\\{script}"'}
          for description, script in (("Take name and address from the answer disk at boot", APPLY_CONFIG),
                                      ("Forward event logs to the syslog sink the answer disk names", FORWARDER))),
        {"description": "Audit logons and process creation",
         "command": 'auditpol /set /subcategory:"Logon" /success:enable /failure:enable'},
    ]
    if s.shutdown:
        commands.append({"description": "Generalize and power off (end of the image build)",
                         "command": "C:\\Windows\\System32\\Sysprep\\sysprep.exe /generalize /oobe /shutdown /quiet"})
    return commands


def answer_file(recipe_dir: Path, s: AnswerSettings) -> str:
    """Autounattend.xml for these settings."""
    return render_recipe(
        recipe_dir, "Autounattend.xml.j2",
        hostname=s.hostname, admin_password=s.admin_password, image_name=s.image_name,
        organization=s.organization, locale=s.locale, product_key=s.product_key, mac=s.mac,
        address=s.address, prefixlen=s.prefixlen, router=s.router, domain=s.domain,
        resolvers=[str(r) for r in s.resolvers], first_logon=first_logon_commands(s),
    )


def domain_xml(recipe_dir: Path, *, name: str, hid: str, guest: str, image: str, disk: Path, nvram: Path,
               console_log: Path, memory: int = 2048, vcpus: int = 2, accel: str = "kvm", nics: tuple = (),
               address: str | None = None, iso: Path | None = None, answer_disk: Path | None = None) -> str:
    """A domain for a Windows guest: q35, OVMF, Hyper-V enlightenments, SATA disk, e1000e NICs."""
    return render_recipe(
        recipe_dir, "domain.xml.j2",
        name=name, hid=hid, guest=guest, role="honeypot", image=image, address=address, ns=naming.METADATA_NS,
        memory=memory, vcpus=vcpus, accel=accel, loader=OVMF_CODE, nvram_template=OVMF_VARS, nvram=nvram,
        install=iso is not None, iso=iso, answer_disk=answer_disk, disk=disk, nics=nics, console_log=console_log,
    )


def check_iso(recipe: str, iso: Path | None) -> Path:
    """The ISO to install from. Raises WindowsIsoMissing saying exactly what is missing."""
    if iso is None:
        raise WindowsIsoMissing(recipe, "no installation ISO given")
    if not iso.is_file():
        raise WindowsIsoMissing(recipe, f"{iso} does not exist or is not a file")
    for firmware in (OVMF_CODE, OVMF_VARS):
        if not firmware.is_file():
            raise WindowsIsoMissing(recipe, f"UEFI firmware {firmware} is missing (apt-get install ovmf)")
    return iso


def build(recipe, final: Path, digest: str, iso: Path | None, hv, settings: AnswerSettings | None = None,
          progress=lambda _: None) -> Path:
    """Install Windows from `iso` into final/disk.qcow2 unattended; returns `final`.

    Raises WindowsIsoMissing before anything is made, ImageBuildFailed when Setup fails or times out.
    """
    iso = check_iso(recipe.name, iso)
    settings = settings or AnswerSettings()
    work = final.with_name(f".build-{final.name}-{os.getpid()}")
    make_folder(work, TRAVERSE)  # qemu installs into it, under umask 077 too
    started = time.monotonic()
    try:
        disk = work / "disk.qcow2"
        run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), recipe.size])
        scripts = {name: (recipe.files_dir / name).read_text() for name in (FORWARDER, APPLY_CONFIG)}
        make_vfat(work / "answer.img", "VHNANSWER",
                  {"Autounattend.xml": answer_file(recipe.path, settings), **scripts}, size_kib=4096)
        xml = domain_xml(recipe.path, name=f"vhn-build-{recipe.name}-{os.getpid()}", hid="build", guest=recipe.name,
                         image=recipe.name, disk=disk, nvram=work / "nvram.fd", console_log=work / "console.log",
                         iso=iso, answer_disk=work / "answer.img")
        progress(f"{recipe.name}: Windows Setup running unattended (up to {BUILD_HOURS} h)")
        if not hv.run_until_shutoff(xml, timeout=BUILD_HOURS * 3600):
            raise ImageBuildFailed(recipe.name, "Windows Setup", f"still running after {BUILD_HOURS} h")
        (work / "answer.img").unlink()
        meta = {"recipe": recipe.name, "digest": digest, "kind": recipe.kind, "builder": "windows-iso",
                "boot": recipe.boot, "tpm": recipe.tpm, "services": [s.__dict__ for s in recipe.services],
                "build_seconds": round(time.monotonic() - started, 1)}
        (work / "image.json").write_text(json.dumps(meta, indent=2) + "\n")
        disk.chmod(0o444)
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
