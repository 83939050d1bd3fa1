"""Suricata in the gateway: inline IPS on outbound traffic, passive IDS on inbound traffic.

Two processes share one rendered config shape: `outbound` reads NFQUEUE 0 (the ruleset
queues every packet a honeypot sends there, without `bypass`: if Suricata dies, outbound
traffic stops) and may drop, replace or reject; `inbound` reads the `ext` port through a
BPF filter that keeps only frames no honeypot sent, and can only alert.

`reject` is carried out by the ruleset, see gateway/reject.py.
"""

from __future__ import annotations

from importlib.resources import files

from vhoneynet import hardware, naming
from vhoneynet.errors import VerifyUnavailable
from vhoneynet.gateway.reject import gateway_rules
from vhoneynet.plan import verify_addresses
from vhoneynet.render import render
from vhoneynet.topology.model import Topology

CURATED_RULES = "honeynet.rules"
CUSTOM_RULES = "custom.rules"
DIRECTIONS = ("outbound", "inbound")


def curated_rules() -> str:
    """The rule set shipped with vhoneynet (vhoneynet/data/rules/honeynet.rules)."""
    return files("vhoneynet").joinpath("data", "rules", CURATED_RULES).read_text()


def custom_rules(topo: Topology) -> str:
    """The topology's own rules: its rule files (read on this host) then its inline rules.

    Raises OSError if a rule file cannot be read.
    """
    ips = topo.gateway.data_control.ips
    parts = [f"# from {path}\n{path.read_text()}" for path in ips.rule_files]
    if ips.rules:
        parts.append("# inline rules of the topology\n" + "\n".join(ips.rules) + "\n")
    return "\n".join(parts)


def inbound_bpf(topo: Topology) -> str:
    """A BPF filter that keeps the frames on `ext` that no honeypot sent (the inbound half)."""
    macs = [hardware.mac(topo.id, h.name, h.hardware) for h in topo.honeypots]
    return " and ".join(f"not ether src {mac}" for mac in macs) or "ip"


def home_net(topo: Topology) -> list[str]:
    """Suricata's $HOME_NET: the honeypots, plus the address `vhoneynet verify` probes from."""
    try:
        probe = [str(verify_addresses(topo)[0])]
    except VerifyUnavailable:
        probe = []
    return [str(h.address) for h in topo.honeypots] + probe or [str(topo.networks.honeynet.cidr)]


def config_files(topo: Topology) -> dict[str, str]:
    """Suricata files for the gateway's config disk (empty when the IPS is disabled)."""
    ips = topo.gateway.data_control.ips
    if not ips.enabled:
        return {}
    out = {CUSTOM_RULES: gateway_rules(custom_rules(topo))}
    if ips.curated:
        out[CURATED_RULES] = gateway_rules(curated_rules())
    for direction in DIRECTIONS:
        out[f"suricata-{direction}.yaml"] = render(
            "gateway/suricata.yaml.j2", hid=topo.id, direction=direction,
            home_net=home_net(topo),
            rule_files=[f for f in (CURATED_RULES, CUSTOM_RULES) if f in out],
            inbound_bpf=inbound_bpf(topo),
        )
    return out
