"""The hardware disguise on real guests, on the session's honeynet: its dns honeypot wears a
profile (the default), its web honeypot keeps qemu's identity (`hardware: virtual`).
`verify --stealth` must find qemu's tells on the second and not on the first."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Honeynet, vhn
from vhoneynet import hardware

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet")]


def test_verify_stealth_lists_the_tells_of_a_plain_guest_and_not_the_disguised_ones(honeynet: Honeynet):
    proc = vhn("verify", honeynet.hid, "--stealth-only", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["ok"] is False  # the agent and virtio devices remain tells
    found = {r["honeypot"]: {t["check"] for t in r["tells"]} for r in report["stealth"]}
    assert {"dmi", "cpu", "mac", "pci", "detect-virt"} <= found["web"], report["stealth"]
    disguised = [t for r in report["stealth"] if r["honeypot"] == "dns" for t in r["tells"]]
    assert not {"dmi", "cpu", "mac", "detect-virt"} & found["dns"], disguised


def test_a_disguised_honeypot_reads_its_profile_and_still_serves(honeynet: Honeynet):
    proc = honeynet.sh("dns", "systemd-detect-virt; cat /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name; "
                              "sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1; cat /sys/class/net/eth0/address")
    virt, vendor, product, cpu, mac = proc.stdout.decode().splitlines()
    profile = hardware.profile(honeynet.hid, "dns")
    assert virt == "none"
    assert (vendor, product, cpu) == (profile.manufacturer, profile.product, profile.cpu.model_id)
    assert mac[:8] in profile.ouis and mac == hardware.mac(honeynet.hid, "dns")
    answer = vhn("exec", honeynet.hid, "attacker", "--", "dig", "+short", "+time=5", "+tries=2", "@203.0.113.53",
                 "web.corp.example")
    assert answer.stdout.strip(), answer
