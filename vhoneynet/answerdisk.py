"""The answer disk of a honeypot that boots by UEFI (Windows): what cloud-init's seed is to a
Linux honeypot, as one `config.json` on a small FAT disk.

Windows has no cloud-init: a task of the image (images/windows-iis/files/) finds the disk by
its volume label at every boot, names the machine, sets its address, and points its event-log
forwarding at the honeynet's log sink. The label and file name say nothing of the tool.
"""

from __future__ import annotations

import json

from vhoneynet import hardware
from vhoneynet.gateway.config import capture
from vhoneynet.seed import resolvers
from vhoneynet.topology.model import Honeypot, Topology

ANSWER_LABEL = "OEMSETUP"  # FAT labels: 11 characters at most, upper case
ANSWER_FILE = "config.json"
ANSWER_DISK_KIB = 1024
SYSLOG_PORT = 514  # the log sink takes syslog as UDP datagrams only


def config(topo: Topology, pot: Honeypot) -> dict:
    """What the guest applies: its name, address, router, resolvers and where its logs go."""
    net = topo.networks.honeynet
    return {
        "hostname": pot.name,
        "domain": net.domain,
        "mac": hardware.mac(topo.id, pot.name, pot.hardware),
        "address": str(pot.address),
        "prefixlen": net.cidr.prefixlen,
        "router": str(net.router),
        "resolvers": [str(r) for r in resolvers(topo)],
        "syslog": {"host": str(net.log_sink), "port": SYSLOG_PORT, "proto": "udp",
                   "mac": capture.sink_mac(topo)},
    }


def files(topo: Topology, pot: Honeypot) -> dict[str, str]:
    """The answer disk's files, by name."""
    return {ANSWER_FILE: json.dumps(config(topo, pot), indent=2) + "\n"}
