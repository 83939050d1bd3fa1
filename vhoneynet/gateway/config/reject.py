"""Suricata's `reject`, carried out by the gateway's nftables.

Suricata forges its reset through a raw IP socket, and the gateway's bridge has no address to
send it from (measured in the gateway: "libnet_write failed: Network is unreachable", so
reject degraded to drop; `--reject-dev` does not help on NFQUEUE, whose packets have no
Ethernet header). The outbound rules are therefore loaded with `reject` turned into `alert`
plus `nfq_set_mark:REJECT_MARK`; the ruleset drops the marked packet, marks its connection,
and answers the honeypot's next segment of it (at the latest its retransmission) with a TCP
reset, or an ICMP port unreachable for other protocols, from the peer's own MAC and address.
Only the honeypot's side is reset, so `rejectdst` and `rejectboth` are refused.
"""

from __future__ import annotations

import re

REJECT_MARK, REJECT_MASK = 0x56480000, 0xFFFF0000  # "VH": the packet mark that asks the ruleset to reject
REJECT_ACTIONS = ("reject", "rejectsrc")
UNSUPPORTED_ACTIONS = ("rejectdst", "rejectboth")
_ACTION = re.compile(r"^(\s*)(\w+)(\s[^(]*\()")


def unsupported_reject(rule: str) -> str | None:
    """The action of `rule` when the gateway cannot carry it out (rejectdst, rejectboth), else None."""
    m = _ACTION.match(rule)
    return m.group(2) if m and m.group(2) in UNSUPPORTED_ACTIONS else None


def gateway_rules(text: str) -> str:
    """Rules as the outbound Suricata loads them: `reject` becomes `alert` + the reject mark.

    Raises ValueError on a rejectdst/rejectboth rule (the gateway resets only the honeypot's side).
    """
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        action = unsupported_reject(line)
        if action:
            raise ValueError(f"line {number}: {action} is not supported (the gateway resets only the honeypot's side)")
        m = _ACTION.match(line)
        if m and m.group(2) in REJECT_ACTIONS:
            line = f"{m.group(1)}alert{m.group(3)}nfq_set_mark:{REJECT_MARK:#x}/{REJECT_MASK:#x}; {line[m.end():]}"
        out.append(line)
    return "\n".join(out) + "\n"
