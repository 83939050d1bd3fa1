"""Checks across fields that a type alone cannot express (names, addresses, subnets)."""

from __future__ import annotations

import os
from collections import Counter
from ipaddress import IPv4Address

from vhoneynet import naming
from vhoneynet.gateway.config.reject import unsupported_reject
from vhoneynet.gateway.config.rulefiles import read_rule_file
from vhoneynet.images import brought_disk
from vhoneynet.topology.model import Topology

Problem = tuple[tuple[str | int, ...], str]


def check(topo: Topology, known_images: set[str] | None = None) -> list[Problem]:
    """Every problem of a parsed topology, as (field path, message); empty when it is usable."""
    return [
        *_names(topo),
        *_addresses(topo),
        *_networks(topo),
        *_images(topo, known_images),
        *_brought_disks(topo),
        *_ips(topo),
    ]


def _names(topo: Topology) -> list[Problem]:
    problems: list[Problem] = []
    seen: Counter[str] = Counter()
    for section, nodes in (("honeypots", topo.honeypots), ("outside", topo.outside)):
        for i, node in enumerate(nodes):
            seen[node.name] += 1
            if node.name == naming.GATEWAY:
                problems.append(((section, i, "name"), f"{naming.GATEWAY!r} is the gateway's name"))
            elif seen[node.name] > 1:
                problems.append(((section, i, "name"), f"name {node.name!r} is used twice"))
    if len(topo.outside) > naming.MAX_OUTSIDE:
        problems.append((("outside",), f"at most {naming.MAX_OUTSIDE} outside hosts"))
    return problems


def _addresses(topo: Topology) -> list[Problem]:
    net = topo.networks.honeynet.cidr
    problems: list[Problem] = []
    taken: dict[IPv4Address, str] = {}
    router = topo.networks.honeynet.router
    if router is not None:
        if router not in net:
            problems.append((("networks", "honeynet", "router"), f"{router} is outside {net}"))
        taken[router] = "the router"
    for section, nodes in (("honeypots", topo.honeypots), ("outside", topo.outside)):
        for i, node in enumerate(nodes):
            where = (section, i, "address")
            if node.address not in net:
                problems.append((where, f"{node.address} is outside the honeynet subnet {net}"))
            elif node.address in (net.network_address, net.broadcast_address):
                problems.append((where, f"{node.address} is the subnet's network or broadcast address"))
            elif node.address in taken:
                problems.append((where, f"{node.address} is already used by {taken[node.address]}"))
            else:
                taken[node.address] = node.name
    sink = topo.networks.honeynet.log_sink
    where = ("networks", "honeynet", "loghost")
    if sink not in net or sink in (net.network_address, net.broadcast_address):
        problems.append((where, f"log host {sink} is not a usable address of {net}"))
    elif sink in taken:
        problems.append((where, f"log host {sink} is already used by {taken[sink]}; set networks.honeynet.loghost"))
    return problems


def _networks(topo: Topology) -> list[Problem]:
    nets = topo.networks
    problems: list[Problem] = []
    if nets.admin.cidr.num_addresses < 4:
        problems.append((("networks", "admin", "cidr"), "needs room for the host and the gateway (/30 or larger)"))
    if nets.admin.cidr.overlaps(nets.honeynet.cidr):
        problems.append((("networks", "admin", "cidr"), f"overlaps the honeynet subnet {nets.honeynet.cidr}"))
    if nets.internet.mode == "bridge" and not nets.internet.bridge:
        problems.append((("networks", "internet", "bridge"), "mode: bridge needs the name of an existing host bridge"))
    if nets.internet.mode == "isolated" and nets.internet.bridge:
        problems.append((("networks", "internet", "bridge"), "only used with mode: bridge"))
    if nets.internet.mode == "bridge" and topo.outside:
        problems.append((("outside",), "outside hosts need an isolated internet side"))
    return problems


def _images(topo: Topology, known: set[str] | None) -> list[Problem]:
    if known is None:
        return []
    problems: list[Problem] = []
    if topo.gateway.image not in known:
        problems.append((("gateway", "image"), f"no image recipe {topo.gateway.image!r}"))
    for i, pot in enumerate(topo.honeypots):
        if brought_disk(pot.image) is None and pot.image not in known:
            problems.append((("honeypots", i, "image"), f"no image recipe {pot.image!r}; known: {', '.join(sorted(known))}"))
    for kind in topo.kinds:
        if kind not in known:
            problems.append((("kinds", kind), f"no image recipe {kind!r}"))
    return problems


def _brought_disks(topo: Topology) -> list[Problem]:
    """`image: file:/path`: an absolute path to a disk this host can read; `boot` and `services`
    only with one (a recipe declares its own)."""
    problems: list[Problem] = []
    for i, pot in enumerate(topo.honeypots):
        disk = brought_disk(pot.image)
        if disk is None:
            for field in ("boot", "services"):
                if getattr(pot, field):
                    why = f"{field} is for a brought disk (image: file:/…); recipe {pot.image!r} declares its own"
                    problems.append((("honeypots", i, field), why))
            continue
        if not disk.is_absolute():
            problems.append((("honeypots", i, "image"), f"{pot.image!r}: give the disk's absolute path, file:/…"))
        elif not disk.is_file():
            problems.append((("honeypots", i, "image"), f"{pot.image!r}: no such disk file on this host"))
        elif not os.access(disk, os.R_OK):
            problems.append((("honeypots", i, "image"), f"{pot.image!r}: the disk is not readable"))
    return problems


def _ips(topo: Topology) -> list[Problem]:
    """Rules the gateway cannot load: rule files that are not absolute paths to readable, regular,
    bounded UTF-8 files; actions it cannot carry out. (Suricata checks the rules themselves in
    the gateway at boot, see gateway/check-rules.sh.j2.)"""
    problems: list[Problem] = []
    ips = topo.gateway.data_control.ips
    where = ("gateway", "data_control", "ips")
    for i, rule in enumerate(ips.rules):
        if action := unsupported_reject(rule):
            problems.append(((*where, "rules", i), f"{action} is not supported: the gateway resets only the honeypot's side"))
    for i, path in enumerate(ips.rule_files):
        try:
            lines = read_rule_file(path).splitlines()
        except OSError as e:
            problems.append(((*where, "rule_files", i), f"cannot read {path}: {e.strerror}"))
            continue
        except ValueError as e:
            problems.append(((*where, "rule_files", i), str(e)))
            continue
        for n, line in enumerate(lines, 1):
            if action := unsupported_reject(line):
                why = f"{path} line {n}: {action} is not supported: the gateway resets only the honeypot's side"
                problems.append(((*where, "rule_files", i), why))
    return problems
