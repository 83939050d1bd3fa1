"""Suricata in the gateway: inline IPS on outbound traffic, passive IDS on inbound traffic.

Two processes share one rendered config shape: `outbound` reads NFQUEUE 0 (the ruleset
queues every packet a honeypot sends there, without `bypass`: if Suricata dies, outbound
traffic stops) and may drop, replace or reject; `inbound` reads the `ext` port through a
BPF filter that keeps only frames no honeypot sent, and can only alert.

`reject` is carried out by the ruleset, see gateway/config/reject.py.
"""

from __future__ import annotations

from importlib.resources import files

from vhoneynet import hardware
from vhoneynet.errors import VerifyUnavailable
from vhoneynet.gateway.config.reject import gateway_rules
from vhoneynet.gateway.config.rulefiles import read_rule_file
from vhoneynet.plan import verify_addresses
from vhoneynet.render import render
from vhoneynet.topology.model import Topology

CURATED_RULES = "honeynet.rules"
CUSTOM_RULES = "custom.rules"
CHECK_SCRIPT = "check-rules.sh"
DIRECTIONS = ("outbound", "inbound")
RULE_FILES_FIELD = "gateway.data_control.ips.rule_files"


def curated_rules() -> str:
    """The rule set shipped with vhoneynet (vhoneynet/data/rules/honeynet.rules)."""
    return files("vhoneynet").joinpath("data", "rules", CURATED_RULES).read_text()


def rule_file_name(index: int) -> str:
    """The name on the gateway's config disk of the topology's rule_files[index]."""
    return f"rule-file-{index}.rules"


def custom_rules(topo: Topology) -> str:
    """The topology's inline rules (`ips.rules`), one a line."""
    rules = topo.gateway.data_control.ips.rules
    return "# inline rules of the topology\n" + "\n".join(rules) + "\n" if rules else ""


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
    """Suricata files for the gateway's config disk (empty when the IPS is disabled).

    Rule files are copied one by one (rule-file-<i>.rules), so Suricata's errors name the
    file; check-rules.sh names the topology field instead. Raises OSError, ValueError (see
    read_rule_file; `validate` reports the same problems per field first).
    """
    ips = topo.gateway.data_control.ips
    if not ips.enabled:
        return {}
    out = {}
    if ips.curated:
        out[CURATED_RULES] = gateway_rules(curated_rules())
    for i, path in enumerate(ips.rule_files):
        out[rule_file_name(i)] = gateway_rules(read_rule_file(path))
    out[CUSTOM_RULES] = gateway_rules(custom_rules(topo))
    rule_files = list(out)
    for direction in DIRECTIONS:
        out[f"suricata-{direction}.yaml"] = render(
            "gateway/suricata.yaml.j2", hid=topo.id, direction=direction,
            home_net=home_net(topo),
            rule_files=rule_files,
            inbound_bpf=inbound_bpf(topo),
        )
    out[CHECK_SCRIPT] = render(
        "gateway/check-rules.sh.j2",
        fields={rule_file_name(i): f"{RULE_FILES_FIELD}[{i}]" for i in range(len(ips.rule_files))}
        | {CUSTOM_RULES: "gateway.data_control.ips.rules", CURATED_RULES: "the curated rules"},
    )
    return out
