"""The hardware disguise on real guests, on the session's honeynet: its dns honeypot wears a
profile (the default), its web honeypot keeps qemu's identity (`hardware: virtual`).
`verify --stealth` must find qemu's tells on the second and none but the residual ones on the
first; the log host answers nobody, and the capture goes on (test_capture.py)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.conftest import Honeynet, vhn
from vhoneynet import hardware

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.slow, pytest.mark.xdist_group("honeynet")]


def test_verify_stealth_lists_the_tells_of_a_plain_guest_and_not_the_disguised_ones(honeynet: Honeynet):
    proc = vhn("verify", honeynet.hid, "--stealth-only", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["ok"] is False  # the plain one fails
    verdicts = {r["honeypot"]: r["verdict"] for r in report["stealth"]}
    found = {r["honeypot"]: {t["check"] for t in r["tells"]} for r in report["stealth"]}
    assert {"dmi", "cpu", "mac", "pci", "detect-virt", "disk"} <= found["web"], report["stealth"]
    assert verdicts == {"dns": "pass", "web": "fail", "gateway": "pass"}, report["stealth"]
    disguised = [t for r in report["stealth"] if r["honeypot"] == "dns" for t in r["tells"]]
    assert all(t["residual"] for t in disguised), disguised


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


def test_a_disguised_honeypot_has_no_virtual_device_and_no_seed(honeynet: Honeynet):
    proc = honeynet.sh("dns", "cat /sys/bus/pci/devices/*/vendor | sort -u; echo --; ls /sys/block; echo --; "
                              "ls /dev/disk/by-label; echo --; ls /var/lib/cloud/seed/nocloud /sys/firmware/qemu_fw_cfg 2>&1; "
                              "dpkg -l qemu-guest-agent 2>&1 | tail -n 1; echo --; findmnt -no SOURCE /")
    vendors, blocks, labels, leftovers, root = proc.stdout.decode().split("--\n")
    assert vendors.split() == ["0x8086"], vendors  # Intel alone: the ICH9 chipset and the e1000e NIC
    assert blocks.split() == ["sda"] and labels.split() == ["rootfs"], (blocks, labels)
    assert leftovers.count("No such file or directory") == 2 and "no packages found" in leftovers, leftovers
    assert root.strip() == "/dev/sda"


def test_nothing_answers_at_the_log_hosts_address(honeynet: Honeynet):
    loghost = "203.0.113.254"
    # the honeypot has it pinned, and neither TCP nor ICMP gets an answer from it
    proc = honeynet.sh("dns", f"ip neigh show {loghost}; timeout 3 bash -c 'exec 3<>/dev/tcp/{loghost}/514' "
                              f"&& echo answered; ping -c 2 -W 1 {loghost} > /dev/null 2>&1 && echo pinged; true")
    neighbour, *rest = proc.stdout.decode().splitlines()
    assert "PERMANENT" in neighbour and "answered" not in rest and "pinged" not in rest, proc.stdout
    # from the internet side it does not even answer ARP
    ns = honeynet.netns("attacker")
    subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "2", "-W", "1", loghost], capture_output=True)
    neigh = subprocess.run(["ip", "-n", ns, "neigh", "show", loghost], capture_output=True, text=True).stdout
    assert "lladdr" not in neigh, neigh
