"""Labs: put honeypots back to pristine or to a named checkpoint between exercises. Thin: the
logic is in vhoneynet.labs."""

from __future__ import annotations

from typing import Annotated

import typer

from vhoneynet.cli import base, complete
from vhoneynet.cli.base import (
    GuestsArg,
    IdArg,
    JsonOpt,
    ProbeOpt,
    StorageOpt,
    TimeoutOpt,
    UriOpt,
    app,
    checked,
    out,
    print_json,
    progress,
    progress_for,
    reports,
)
from vhoneynet.terminal import markup
from vhoneynet.topology.model import DEFAULT_STORAGE, DEFAULT_URI


@app.command()
@reports
def reset(
    hid: IdArg,
    guests: GuestsArg = None,
    to: Annotated[str | None, typer.Option("--to", help="a checkpoint instead of the pristine image",
                                           callback=checked("checkpoint"),
                                           autocompletion=complete.checkpoints)] = None,
    timeout: TimeoutOpt = 900,
    probe: ProbeOpt = True,
    cold: Annotated[bool, typer.Option("--cold", help="boot the honeypots instead of restoring their warm state")] = False,
    uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False,
) -> None:
    """Put honeypots back to pristine (restored from their warm state where they have one, else
    booted) or to a checkpoint; gateway and captures stay."""
    from vhoneynet import labs

    with progress_for(as_json) as shown:
        result = labs.reset(hid, base.backends(uri), guests, to, storage, progress=shown, timeout=timeout, probe=probe,
                            warm_start=not cold)
    if as_json:
        return print_json(result)
    for name, t in result["guests"].items():
        out.print(markup("{:16} {:7} disk revert {:.3f} s, ready after {:.1f} s", name, t["how"], t["disk_revert"],
                         t["until_ready"]))
    out.print(markup("[green]honeynet {!r}: {} honeypots reset to {}[/]", hid, len(result["guests"]), result["to"]))


@app.command()
@reports
def checkpoint(
    hid: IdArg,
    name: Annotated[str | None, typer.Argument(help="checkpoint name (omit with --list)",
                                               callback=checked("checkpoint"),
                                               autocompletion=complete.checkpoints)] = None,
    guests: GuestsArg = None,
    list_only: Annotated[bool, typer.Option("--list", help="list the checkpoints instead")] = False,
    memory: Annotated[bool, typer.Option("--memory", help="their memory too: `reset --to` restores them running")] = False,
    uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False,
) -> None:
    """Save honeypots' disks as a named checkpoint (`reset ID --to NAME` restores it)."""
    from vhoneynet import labs

    if list_only or name is None:
        result: object = labs.checkpoints(hid, storage)
    else:
        result = labs.checkpoint(hid, name, base.backends(uri), guests, storage, progress=progress, memory=memory)
    if as_json:
        return print_json(result)
    for c in result if isinstance(result, list) else [result]:
        out.print(markup("{:20} {}  {}", c["name"], c["created"], ", ".join(c["guests"])))
