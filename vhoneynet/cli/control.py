"""Data control on a running honeynet: counters and live limits, lockdown, and `verify`, which
proves every layer (and, with --stealth, that no honeypot gives itself away). Thin: the logic is
in vhoneynet.gateway.live and vhoneynet.tells."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vhoneynet.cli import base, junit
from vhoneynet.cli.base import (
    IdArg,
    JsonOpt,
    StorageOpt,
    UriOpt,
    app,
    cell,
    out,
    print_json,
    reports,
)
from vhoneynet.errors import CHECK_FAILED
from vhoneynet.terminal import markup, text
from vhoneynet.topology.model import DEFAULT_STORAGE, DEFAULT_URI

VERDICT_COLOURS = {"pass": "green", "fail": "red"}


@app.command()
@reports
def control(
    hid: IdArg,
    change: Annotated[list[str] | None, typer.Argument(help="`set tcp=N udp=N icmp=N other=N window=hour`")] = None,
    uri: UriOpt = DEFAULT_URI,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Data-control counters per honeypot; `control ID set tcp=5 …` changes limits live."""
    from vhoneynet.gateway.live import control as dc

    if change and (change[0] != "set" or len(change) < 2):
        raise typer.BadParameter("expected: control ID set tcp=5 [udp=N icmp=N other=N window=hour]")
    b = base.backends(uri)
    if change:
        limits = dc.set_limits(hid, b, dc.parse_changes(change[1:]), storage)
        if not as_json:
            out.print(markup("[green]limits of {!r} now[/] {}", hid, limits.model_dump()))
            return
    result = dc.counters(hid, b, storage)
    if as_json:
        return print_json(result)
    lock = " [red]LOCKED DOWN[/]" if result["lockdown"] else ""
    table = Table("honeypot", *(f"{p} new/limited (limit)" for p in dc.PROTOCOLS),
                  title=markup("data control of {!r}: {}, per {}", hid, result["mode"], result["window"]) + lock)
    for name, h in result["honeypots"].items():
        table.add_row(cell(name), *(cell(f"{h[p]['new']}/{h[p]['limited']} ({h[p]['limit']})") for p in dc.PROTOCOLS))
    out.print(table)
    dropped = ", ".join(f"{v} {c['packets']}" for v, c in result["dropped"].items() if c["packets"])
    out.print(markup("  dropped packets: {}", dropped or "none"))


@app.command()
@reports
def lockdown(hid: IdArg, uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """Stop all outbound traffic of a honeynet at once (established sessions too)."""
    from vhoneynet.gateway.live import control as dc

    took = dc.lockdown(hid, base.backends(uri), storage)
    if as_json:
        return print_json({"id": hid, "locked_down": True, "seconds": round(took, 2)})
    out.print(markup("[red]honeynet {!r} locked down[/] in {:.2f} s: nothing leaves until `vhoneynet unlock {}`", hid, took, hid))


@app.command()
@reports
def unlock(hid: IdArg, uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """Undo `lockdown`: outbound traffic is under the limits in force again."""
    from vhoneynet.gateway.live import control as dc

    took = dc.unlock(hid, base.backends(uri), storage)
    if as_json:
        return print_json({"id": hid, "locked_down": False, "seconds": round(took, 2)})
    out.print(markup("[green]honeynet {!r} unlocked[/] in {:.2f} s", hid, took))


@app.command()
@reports
def verify(
    hid: IdArg,
    stealth: Annotated[bool, typer.Option("--stealth", help="also look inside every honeypot, and at the gateway on the wire, for what gives them away")] = False,
    stealth_only: Annotated[bool, typer.Option("--stealth-only", help="only the look inside the honeypots and at the gateway, no data-control probes")] = False,
    junit_file: Annotated[Path | None, typer.Option("--junit", help="also write the verdicts as JUnit XML to this file")] = None,
    uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False,
) -> None:
    """Prove every data-control layer on the running honeynet; exits 1 when one fails.

    With --stealth, also that no honeypot, nor the gateway on the wire, gives itself away; with --junit, the verdicts as JUnit XML."""
    from vhoneynet import tells
    from vhoneynet.gateway.live import verify as v
    from vhoneynet.gateway.live.control import saved_topology
    from vhoneynet.gateway.live.stealth import look_at_gateway

    b = base.backends(uri)
    results = [] if stealth_only else v.verify(hid, b, storage)
    looks = None
    if stealth or stealth_only:
        topo = saved_topology(hid, storage)
        looks = [*tells.look(topo, b), look_at_gateway(topo, b)]
    failed = any(r.verdict == "fail" for r in [*results, *(looks or [])])
    if junit_file:
        cases = [junit.Case("data-control", r.layer, r.verdict, r.detail) for r in results]
        cases += [junit.Case("stealth", look.honeypot, look.verdict, _found(look)) for look in looks or []]
        junit_file.write_bytes(junit.document(hid, cases))
    if as_json:
        report = {"id": hid, "ok": not failed, "layers": v.as_dicts(results)}
        if looks is not None:
            report["stealth"] = [r.as_dict() for r in looks]
        print_json(report)
    else:
        if results:
            table = Table("layer", "sent", "arrived", "limit", "verdict", "detail", title=markup("data control of {!r}", hid))
            for r in results:
                colour = VERDICT_COLOURS.get(r.verdict, "yellow")
                table.add_row(cell(r.layer), cell(r.sent), cell(r.arrived), cell(r.limit), text(r.verdict, colour), cell(r.detail))
            out.print(table)
        if looks is not None:
            table = Table("honeypot", "verdict", "tells", title=markup("what gives the honeypots and the gateway of {!r} away", hid))
            for look in looks:
                table.add_row(cell(look.honeypot), text(look.verdict, VERDICT_COLOURS.get(look.verdict, "yellow")),
                              text(_found(look), multiline=True))
            out.print(table)
    if failed:
        raise typer.Exit(CHECK_FAILED)


def _found(look) -> str:
    """What gave a honeypot away, one tell a line (or why it was not looked at)."""
    return "\n".join(f"{t.check}: {t.found}" + (" (residual)" if t.residual else "") for t in look.tells) or look.detail
