"""Names of every host and libvirt resource of a honeynet, derived from its id alone.

`down` finds a honeynet's resources by these names (and libvirt metadata), so it needs
no YAML and no state file. Interface names stay within the kernel's 15 characters.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

from vhoneynet.errors import InvalidName

ID_PATTERN = r"^[a-z][a-z0-9]{0,7}$"
GUEST_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
CHECKPOINT_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
GATEWAY = "gateway"
METADATA_NS = "http://vhoneynet.org/xmlns/honeynet/1"
METADATA_PREFIX = "vhn"
# Where qemu listens for each guest's agent port (`<domain>.sock`): host-only, and short, as a
# unix socket's path must be.
AGENT_SOCKETS = Path("/run/vhoneynet/agent")


def agent_socket(domain: str) -> Path:
    """Where qemu listens for a guest's agent port (its lock file sits beside it, `.lock`)."""
    return AGENT_SOCKETS / f"{domain}.sock"

BRIDGE_ROLES = ("ext", "int", "adm")

# veth indexes on the internet bridge have two digits (`veth`): outside hosts take
# 0 .. MAX_OUTSIDE - 1, and the indexes above are held back for temporary hosts (plan.py).
MAX_OUTSIDE = 97

# What each kind of name given on the command line may be, and how to say so. Every id and
# name becomes part of a path or a resource name, so none is used before it passes `checked`.
RULES = {
    "id": ("honeynet id", ID_PATTERN, "a lower-case letter, then at most 7 lower-case letters or digits"),
    "guest": ("guest name", GUEST_PATTERN, "a lower-case letter, then at most 30 lower-case letters, digits or '-'"),
    "checkpoint": ("checkpoint name", CHECKPOINT_PATTERN, "a lower-case letter or digit, then at most 62 of them, '.', '_' or '-'"),
    "day": ("day", DAY_PATTERN, "a date as YYYY-MM-DD"),
}


def checked(kind: str, value: str) -> str:
    """`value` if it is a valid `kind` of name (a key of RULES); raises InvalidName otherwise.

    The whole string must match: `re.match` with `$` would let a trailing newline through.
    """
    label, pattern, rule = RULES[kind]
    ok = isinstance(value, str) and re.fullmatch(pattern, value) is not None
    if ok and kind == "day":
        try:
            date.fromisoformat(value)
        except ValueError:
            ok = False
    if not ok:
        raise InvalidName(label, value, rule)
    return value


def domain(hid: str, guest: str) -> str:
    return f"vhn-{hid}-{guest}"


def domain_prefix(hid: str) -> str:
    return f"vhn-{hid}-"


def bridge(hid: str, role: str) -> str:
    assert role in BRIDGE_ROLES, role
    return f"vhn{hid}-{role}"


def link_prefix(hid: str) -> str:
    return f"vhn{hid}-"


def tap(hid: str, index: int) -> str:
    return f"vhn{hid}-n{index:02d}"


def veth(hid: str, index: int) -> str:
    return f"vhn{hid}-o{index:02d}"


def netns(hid: str, host: str) -> str:
    return f"vhn-{hid}-{host}"


def netns_prefix(hid: str) -> str:
    return f"vhn-{hid}-"


def pool(hid: str) -> str:
    return f"vhn-{hid}"


def nft_table(hid: str) -> str:
    return f"vhn_{hid}"


QEMU_OUI = "52:54:00"


def mac(hid: str, guest: str, nic: int = 0, oui: str = QEMU_OUI) -> str:
    """A stable MAC under `oui` (qemu's 52:54:00 by default, as on any KVM cloud guest)."""
    digest = hashlib.sha256(f"{hid}/{guest}/{nic}".encode()).digest()
    return oui + ":" + ":".join(f"{b:02x}" for b in digest[:3])
