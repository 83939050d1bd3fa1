"""This host: what vhoneynet needs of it. Thin: the logic is in vhoneynet.hostcheck."""

from __future__ import annotations

from dataclasses import asdict

import typer

from vhoneynet.cli.base import (
    JsonOpt,
    UriOpt,
    host_app,
    out,
    print_json,
    reports,
)
from vhoneynet.errors import HOST_NOT_READY
from vhoneynet.terminal import markup
from vhoneynet.topology.model import DEFAULT_URI


@host_app.command("check")
@reports
def host_check(uri: UriOpt = DEFAULT_URI, as_json: JsonOpt = False) -> None:
    """What this host is missing, and which acceleration guests will get; exits 3 when something is missing."""
    from vhoneynet.hostcheck import findings

    found = findings(uri)
    if as_json:
        print_json([asdict(f) for f in found])
    else:
        for f in found:
            mark = "[green]ok[/]  " if f.ok else "[red]MISSING[/]"
            out.print(mark + markup(" {:20} {}", f.item, f.detail), highlight=False)
    if not all(f.ok for f in found):
        raise typer.Exit(HOST_NOT_READY)
