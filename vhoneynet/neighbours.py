"""Several honeynets side by side on one host: collisions refused up front, and the list of them.

Every `up` saves its topology under `<storage>/honeynets/<id>/topology.json` before it creates
anything on the host, under one host-wide lock, so two concurrent `up`s cannot both take the
same admin subnet. What must be unique on a host:

- the id (it names every bridge, tap, namespace, pool, domain and nft table);
- the admin subnet (the host has an address on it, so it is routed on the host);
- the honeynet subnet, but only between honeynets on the same internet bridge (`mode: bridge`):
  isolated honeynets are separate layer-2 worlds and may reuse 203.0.113.0/24 like any lab.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vhoneynet.errors import HoneynetExists, SubnetCollision
from vhoneynet.permissions import TRAVERSE, make_folder
from vhoneynet.rundir import LOCK_FILE, CaptureFolder, honeynets_folder
from vhoneynet.topology.model import Topology


@contextmanager
def host_lock(storage: Path) -> Iterator[None]:
    """Serialises the reservation step of `up` across processes on this host."""
    folder = make_folder(honeynets_folder(storage), TRAVERSE)  # qemu's user walks through to the disks
    with open(folder / LOCK_FILE, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def check_neighbours(topo: Topology, others: dict[str, Topology]) -> None:
    """Refuse `topo` if it collides with a honeynet on this host; the error names the field.

    Raises HoneynetExists or SubnetCollision.
    """
    if topo.id in others:
        raise HoneynetExists(topo.id)
    mine = topo.networks
    for hid, other in others.items():
        theirs = other.networks
        if mine.admin.cidr.overlaps(theirs.admin.cidr):
            raise SubnetCollision("networks.admin.cidr", mine.admin.cidr,
                                  f"the admin network {theirs.admin.cidr} of honeynet {hid!r}")
        shared = mine.internet.mode == theirs.internet.mode == "bridge" and mine.internet.bridge == theirs.internet.bridge
        if shared and mine.honeynet.cidr.overlaps(theirs.honeynet.cidr):
            raise SubnetCollision("networks.honeynet.cidr", mine.honeynet.cidr,
                                  f"the honeynet {theirs.honeynet.cidr} of honeynet {hid!r} on the same "
                                  f"internet bridge {mine.internet.bridge}")


def summary(hid: str, topo: Topology | None, guests: list) -> dict:
    """One line of `vhoneynet list`: state, guest count, subnets."""
    states = {g.state for g in guests}
    state = "running" if guests and states == {"running"} else ("degraded" if guests else "partial")
    row: dict = {"id": hid, "state": state, "guests": len(guests),
                 "running": sum(g.state == "running" for g in guests)}
    if topo is not None:
        row |= {"honeynet_cidr": str(topo.networks.honeynet.cidr), "admin_cidr": str(topo.networks.admin.cidr),
                "internet": topo.networks.internet.bridge or "isolated",
                "capture_dir": str(CaptureFolder.of(topo).root)}
    return row
