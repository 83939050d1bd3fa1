"""Shell completion of what commands name: honeynet ids (run folders), guests (a honeynet's saved
topology), recipes and checkpoints. Read from the storage folder only, never from libvirt; a
completion never fails: on any problem it offers nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from vhoneynet.topology.model import DEFAULT_STORAGE

GATEWAY = "gateway"  # the gateway's guest name in every honeynet


def _never_fails(find: Callable[[typer.Context], list[str]]) -> Callable[[typer.Context, str], list[str]]:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        try:
            return [name for name in find(ctx) if name.startswith(incomplete)]
        except Exception:  # noqa: BLE001 - a shell's tab key must never see a traceback
            return []

    # not functools.wraps: typer reads the parameters (ctx, incomplete) from the signature
    complete.__name__, complete.__doc__ = find.__name__, find.__doc__
    return complete


def _storage(ctx: typer.Context) -> Path:
    return Path(ctx.params.get("storage") or DEFAULT_STORAGE)


@_never_fails
def honeynets(ctx: typer.Context) -> list[str]:
    """Ids of the honeynets with a run folder under the storage folder."""
    from vhoneynet.rundir import saved_topologies

    return list(saved_topologies(_storage(ctx)))


@_never_fails
def guests(ctx: typer.Context) -> list[str]:
    """The gateway, honeypots and outside hosts of the honeynet named before on the line."""
    from vhoneynet.rundir import RunDir

    topo = RunDir(_storage(ctx), ctx.params["hid"]).saved()
    return [GATEWAY, *(h.name for h in topo.honeypots), *(o.name for o in topo.outside)]


@_never_fails
def honeypots(ctx: typer.Context) -> list[str]:
    """The honeypots of the honeynet named before on the line (what reset and checkpoint act on)."""
    from vhoneynet.rundir import RunDir

    return [h.name for h in RunDir(_storage(ctx), ctx.params["hid"]).saved().honeypots]


@_never_fails
def checkpoints(ctx: typer.Context) -> list[str]:
    """Checkpoints saved for the honeynet named before on the line."""
    from vhoneynet import labs

    return [c["name"] for c in labs.checkpoints(ctx.params["hid"], _storage(ctx))]


@_never_fails
def recipes(ctx: typer.Context) -> list[str]:
    """Names of the image recipes."""
    from vhoneynet.images import known_recipes

    return known_recipes()
