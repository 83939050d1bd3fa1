"""Host firewall backend: the nftables tables of each honeynet (`inet vhn_<id>` and
`bridge vhn_<id>`), through `nft`.

This is the host's own containment layer (the host never routes for a honeynet, answers on
its admin bridge only to the gateway, and lets each honeypot's NIC send only from its own
MAC and address); the honeywall's rules live in the gateway VM. Tables are found by name,
so `down` needs no state to remove them.
"""

from __future__ import annotations

import json
import re

from vhoneynet import naming
from vhoneynet.backend.process import run
from vhoneynet.errors import HostNotReady, ToolMissing

NFT = "nft"
FAMILIES = ("inet", "bridge")
_TIMEOUT = 30  # seconds; nft answers in milliseconds unless the kernel is stuck


class HostFirewall:
    """Loads, lists and removes the host nftables table of each honeynet."""

    def apply(self, hid: str, ruleset: str) -> None:
        """Load `ruleset` (the full definition of the honeynet's tables) atomically.

        The text is checked with `nft -c` first, then loaded in one transaction:
        either all of it replaces the old table, or nothing changes.
        Raises ValueError if the ruleset is not for this honeynet's table,
        CommandFailed with nft's message if nft rejects it.
        """
        table = f"table inet {naming.nft_table(_checked(hid))}"
        if not re.search(rf"^\s*{re.escape(table)}\s*\{{", ruleset, re.MULTILINE):
            raise ValueError(f"ruleset does not define {table}")
        self.check(ruleset)
        _nft("-f", "-", stdin=ruleset)

    def remove(self, hid: str) -> None:
        """Delete the honeynet's tables in one transaction; tables that are not there are fine
        (each is created before it is deleted). Raises CommandFailed on any other nft error."""
        name = naming.nft_table(_checked(hid))
        _nft("-f", "-", stdin="".join(f"table {family} {name}\ndelete table {family} {name}\n"
                                      for family in FAMILIES))

    def tables(self, prefix: str = "vhn_") -> list[str]:
        """Names of the host's `inet` and `bridge` tables that start with `prefix`, sorted, once each."""
        out = _nft("-j", "list", "tables")
        items = json.loads(out or "{}").get("nftables", [])
        names = {i["table"]["name"] for i in items if "table" in i and i["table"]["family"] in FAMILIES}
        return sorted(n for n in names if n.startswith(prefix))

    def honeypot_drops(self, hid: str, honeypot: str) -> int:
        """Frames the host's anti-spoofing chain has dropped at the tap of `honeypot` (its counters),
        what the host itself measured, whatever the honeypot says. Raises CommandFailed (no such chain)."""
        if not re.fullmatch(naming.GUEST_PATTERN, honeypot):
            raise ValueError(f"{honeypot!r} is not a honeypot name ({naming.GUEST_PATTERN})")
        chain = f"honeypot_{honeypot.replace('-', '_')}"  # as templates/host/firewall.nft.j2 names it
        out = _nft("-j", "list", "chain", "bridge", naming.nft_table(_checked(hid)), chain)
        rules = [i["rule"] for i in json.loads(out or "{}").get("nftables", []) if "rule" in i]
        return sum(e["counter"]["packets"] for r in rules if any("drop" in e for e in r["expr"])
                   for e in r["expr"] if "counter" in e)

    def check(self, ruleset: str) -> None:
        """Validate `ruleset` with `nft -c -f -` without loading it.

        Raises CommandFailed carrying nft's message (line, column, problem).
        """
        _nft("-c", "-f", "-", stdin=ruleset)


def _checked(hid: str) -> str:
    # The id becomes part of an nft command line: accept only what the topology allows.
    if not re.fullmatch(naming.ID_PATTERN, hid):
        raise ValueError(f"{hid!r} is not a honeynet id ({naming.ID_PATTERN})")
    return hid


def _nft(*args: str, stdin: str | None = None) -> str:
    try:
        return run([NFT, *args], stdin=stdin, timeout=_TIMEOUT)
    except ToolMissing:
        raise HostNotReady("nft is not installed (Debian package: nftables)") from None
