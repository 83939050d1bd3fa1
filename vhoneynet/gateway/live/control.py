"""Live data control of a running honeynet: counters, limit changes, lockdown.

Everything runs in the gateway through its guest agent (`nft` reads and atomic `nft -f`
transactions); the gateway is never restarted and conntrack is never touched, so
established sessions survive a change. A change is also kept: the honeynet's saved topology
(run dir) records the limits and lockdown in force, so later renders and `verify` see them,
the gateway's config disk is rewritten, so a gateway that boots again comes back with them, and
so is the running gateway's own copy of its ruleset, so a reload in the gateway loads them too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from vhoneynet.backend.disks import rewrite_vfat
from vhoneynet.backends import Backends, execute
from vhoneynet.errors import BadLimitChange, DataControlFailed
from vhoneynet.gateway.config.disk import (
    CONFIG_DISK,
    CONFIG_LABEL,
    config_files,
    limits_context,
)
from vhoneynet.plan import plan
from vhoneynet.render import render
from vhoneynet.rundir import RunDir
from vhoneynet.topology.model import DEFAULT_STORAGE, NFT_MAX, Limits, Topology

TABLE = ("bridge", "vhn")
RUNNING_RULESET = "/run/vhn/config/ruleset.nft"  # the gateway's copy of its config disk, made at boot
PROTOCOLS = ("tcp", "udp", "icmp", "other")
VERDICTS = ("spoofed", "lockdown", "invalid", "fenced", "ping-of-death", "smurf", "icmp-blocked", "throttled", "roach-motel", "allowed", "reject_marked")
WINDOWS = ("second", "minute", "hour", "day")


def saved_topology(hid: str, storage: Path = DEFAULT_STORAGE) -> Topology:
    """The topology `up` saved for this honeynet (with the live changes since). Raises HoneynetNotFound."""
    return RunDir(storage, hid).saved()


def nft(hid: str, b: Backends, argv: list[str], action: str, stdin: bytes | None = None) -> str:
    """Run `nft argv…` in the gateway; raise DataControlFailed when it fails."""
    result = execute(hid, "gateway", ["nft", *argv], b, stdin=stdin, timeout=30)
    if result.exit_code != 0:
        raise DataControlFailed(hid, action, result.stderr.decode(errors="replace"))
    return result.stdout.decode(errors="replace")


def counters(hid: str, b: Backends, storage: Path = DEFAULT_STORAGE) -> dict:
    """Counters per honeypot and protocol, drops per verdict, limits in force, lockdown state."""
    topo = saved_topology(hid, storage)
    table = json.loads(nft(hid, b, ["-j", "list", "table", *TABLE], "read the ruleset"))["nftables"]
    named = {o["counter"]["name"]: o["counter"] for o in table if "counter" in o}
    chains: dict[str, dict] = {}
    for obj in table:
        rule = obj.get("rule")
        if rule and rule["chain"] in VERDICTS:
            for expr in rule["expr"]:
                if "counter" in expr:
                    chains[rule["chain"]] = expr["counter"]
    sets = {o["set"]["name"]: o["set"] for o in table if "set" in o}
    limits = topo.gateway.data_control.limits
    in_force = _limits_in_force(table)
    honeypots = {}
    for h in topo.honeypots:
        key = h.name.replace("-", "_")
        honeypots[h.name] = {
            "address": str(h.address),
            **{p: {"new": named.get(f"{key}_{p}_new", {}).get("packets", 0),
                   "limited": named.get(f"{key}_{p}_limited", {}).get("packets", 0),
                   "limit": in_force.get(p, getattr(limits, p))} for p in PROTOCOLS},
        }
    return {
        "id": hid,
        "mode": topo.gateway.data_control.mode,
        "window": limits.window,
        "lockdown": bool(sets.get("lockdown", {}).get("elem")) or locked_down_on_host(hid, b, storage),
        "honeypots": honeypots,
        "dropped": {v: {"packets": c["packets"], "bytes": c["bytes"]} for v, c in chains.items()},
    }


def _limits_in_force(table: list[dict]) -> dict[str, int]:
    """The limits the gateway's ruleset enforces, from the comments of its counting rules."""
    found = {}
    for obj in table:
        comment = obj.get("rule", {}).get("comment", "")
        if comment.startswith("limit "):  # "limit tcp 20/hour"
            _, proto, rate = comment.split()
            found[proto] = int(rate.split("/")[0])
    return found


def parse_changes(changes: list[str]) -> dict[str, int | str]:
    """['tcp=5', 'window=minute'] -> {'tcp': 5, 'window': 'minute'}. Raises BadLimitChange."""
    out: dict[str, int | str] = {}
    for change in changes:
        key, sep, value = change.partition("=")
        if not sep or key not in (*PROTOCOLS, "window"):
            raise BadLimitChange(change, "unknown setting")
        if key == "window":
            if value not in WINDOWS:
                raise BadLimitChange(change, "unknown window")
            out[key] = value
        elif not value.isdigit():
            raise BadLimitChange(change, "not a whole number")
        elif len(value) > 10 or int(value) > NFT_MAX:
            raise BadLimitChange(change, f"at most {NFT_MAX}, the most nftables keeps")
        else:
            out[key] = int(value)
    return out


def set_limits(hid: str, b: Backends, changes: dict[str, int | str], storage: Path = DEFAULT_STORAGE) -> Limits:
    """Change connection limits in the running gateway in one atomic nft transaction.

    The windows of the changed protocols start anew (all of them when the window changes);
    established sessions and every other part of the ruleset are untouched. The new limits
    are saved in the honeynet's run dir. Raises DataControlFailed, HoneynetNotFound.
    """
    topo = saved_topology(hid, storage)
    old = topo.gateway.data_control.limits
    new = old.model_copy(update=changes)
    Limits.model_validate(new.model_dump())  # same checks as in a topology file
    text = render("gateway/limits-update.nft.j2", window_changed=new.window != old.window,
                  changed=[k for k, v in changes.items() if getattr(old, k) != v], **limits_context(topo, new))
    nft(hid, b, ["-f", "-"], "change the limits", stdin=text.encode())
    _keep(topo, b, storage, limits=new)
    return new


def _keep(topo: Topology, b: Backends, storage: Path, **changes) -> None:
    """Save a live change of data control for the rest of the honeynet's life: in its saved
    topology (what `control`, `verify` and later renders read), on the gateway's config disk
    (what the gateway loads when it boots again) and in the gateway's running copy of its
    ruleset (what it loads again without a reboot). Raises DataControlFailed."""
    dc = topo.gateway.data_control.model_copy(update=changes)
    saved = topo.model_copy(update={"gateway": topo.gateway.model_copy(update={"data_control": dc})})
    run = RunDir(storage, topo.id)
    run.save(saved)
    files = config_files(saved, plan(saved))
    rewrite_vfat(run.disks / CONFIG_DISK, CONFIG_LABEL, files)
    replace = f"cat > {RUNNING_RULESET}.new && mv {RUNNING_RULESET}.new {RUNNING_RULESET}"
    result = execute(topo.id, "gateway", ["/bin/sh", "-c", replace], b, stdin=files["ruleset.nft"].encode(), timeout=30)
    if result.exit_code != 0:
        raise DataControlFailed(topo.id, "keep the ruleset in the gateway", result.stderr.decode(errors="replace"))


def _ext_tap(topo: Topology) -> str:
    return next(n.tap for n in plan(topo).gateway.nics if n.role == "ext")


def lockdown(hid: str, b: Backends, storage: Path = DEFAULT_STORAGE) -> float:
    """Stop every packet between the honeynet and the internet side at once.

    Two layers: on the host, the gateway's internet-side NIC goes down (instant, and holds even
    if the gateway hangs); in the gateway, the honeynet's subnet joins the lockdown set (every
    outbound packet dropped, also after the NIC comes back). Returns the seconds the host side
    took. Raises LinkError, HoneynetNotFound; DataControlFailed only after the host side holds.
    """
    topo = saved_topology(hid, storage)
    started = time.monotonic()
    b.net.set_link_up(_ext_tap(topo), False)
    took = time.monotonic() - started
    nft(hid, b, ["add", "element", *TABLE, "lockdown", f"{{ {topo.networks.honeynet.cidr} }}"], "lock down")
    _keep(topo, b, storage, lockdown=True)
    return took


def unlock(hid: str, b: Backends, storage: Path = DEFAULT_STORAGE) -> float:
    """Undo `lockdown`: data control goes back to the limits in force. Returns seconds taken."""
    topo = saved_topology(hid, storage)
    started = time.monotonic()
    nft(hid, b, ["flush", "set", *TABLE, "lockdown"], "unlock")
    b.net.set_link_up(_ext_tap(topo), True)
    took = time.monotonic() - started
    _keep(topo, b, storage, lockdown=False)
    return took


def locked_down_on_host(hid: str, b: Backends, storage: Path = DEFAULT_STORAGE) -> bool:
    return not b.net.link_is_up(_ext_tap(saved_topology(hid, storage)))
