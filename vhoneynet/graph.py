"""Pictures of a topology: Mermaid text always, Graphviz (dot → SVG/PNG) where `dot` is installed.

Drawn from the plan, so the bridges shown are the ones `up` creates: the internet side with
its outside hosts, the gateway, the honeynet with its honeypots, and the admin network.
"""

from __future__ import annotations

import re
import shutil

from vhoneynet.backend.process import run_bytes
from vhoneynet.errors import VhoneynetError
from vhoneynet.plan import admin_addresses, plan
from vhoneynet.render import render
from vhoneynet.topology.model import Topology

FORMATS = ("mermaid", "dot", "svg", "png")


def _node_id(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^a-z0-9]', '_', name)}"


def context(topo: Topology) -> dict:
    """What both templates draw."""
    p = plan(topo)
    host, gateway = admin_addresses(topo)
    return {
        "hid": topo.id,
        "ext": p.bridge("ext"), "int": p.bridge("int"), "adm": p.bridge("adm"),
        "cidr": str(topo.networks.honeynet.cidr), "admin_cidr": str(topo.networks.admin.cidr),
        "host_address": str(host.ip), "gateway_address": str(gateway.ip),
        "gateway": p.gateway,
        "honeypots": [{"id": _node_id("hp", g.name), "name": g.name, "image": g.image, "address": str(g.address)}
                      for g in p.honeypots],
        "outside": [{"id": _node_id("out", o.name), "name": o.name, "address": str(o.address.ip)} for o in p.outside],
    }


def draw(topo: Topology, fmt: str = "mermaid") -> bytes:
    """The topology as Mermaid, dot, SVG or PNG bytes.

    Raises VhoneynetError for an unknown format, or SVG/PNG without Graphviz's `dot`.
    """
    if fmt not in FORMATS:
        raise VhoneynetError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    ctx = context(topo)
    if fmt == "mermaid":
        return render("graph/topology.mmd.j2", **ctx).encode()
    dot = render("graph/topology.dot.j2", **ctx)
    if fmt == "dot":
        return dot.encode()
    if shutil.which("dot") is None:
        raise VhoneynetError(f"--format {fmt} needs Graphviz's `dot` (apt-get install graphviz); "
                             "--format mermaid works without it")
    return run_bytes(["dot", f"-T{fmt}"], stdin=dot.encode(), timeout=60)
