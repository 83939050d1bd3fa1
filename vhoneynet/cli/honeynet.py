"""A honeynet's life: validate, plan, up, status, list, exec, graph, down (and the topology schema).
Thin: the logic is in vhoneynet.lifecycle."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vhoneynet import naming
from vhoneynet.cli import base
from vhoneynet.cli.base import (
    GuestArg,
    IdArg,
    JsonOpt,
    ProbeOpt,
    StorageOpt,
    TopologyArg,
    UriOpt,
    app,
    cell,
    out,
    print_json,
    progress,
    progress_for,
    reports,
)
from vhoneynet.errors import (
    InvalidName,
)
from vhoneynet.terminal import markup, text
from vhoneynet.topology.model import DEFAULT_STORAGE, DEFAULT_URI


def load(path: Path):
    """The topology in file `path`, its images checked against the recipes. Raises TopologyError."""
    from vhoneynet.topology import load_with_recipes

    return load_with_recipes(path)


def saved(hid: str, storage: Path):
    """The saved topology of honeynet `hid`. Raises InvalidName, HoneynetNotFound."""
    from vhoneynet.rundir import RunDir

    return RunDir(storage, hid).saved()


@app.command()
@reports
def validate(topology: TopologyArg, as_json: JsonOpt = False) -> None:
    """Check a topology file; every problem is listed with its field and line."""
    topo = load(topology)
    if as_json:
        return print_json({"valid": True, "id": topo.id, "file": str(topology),
                           "honeypots": len(topo.honeypots), "outside": len(topo.outside)})
    out.print(markup("[green]ok[/] {}: honeynet {!r}, {} honeypots, {} outside hosts",
                     topology, topo.id, len(topo.honeypots), len(topo.outside)))


@app.command()
@reports
def plan(
    topology: TopologyArg,
    render_dir: Annotated[Path | None, typer.Option(
        "--render", metavar="DIR", file_okay=False,
        help="also write every file `up` would make (domain XML, seeds, config disks' files, rules) into DIR")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what `up` would create, in order; touches nothing (but DIR with --render)."""
    from vhoneynet.plan import plan as make_plan

    topo = load(topology)
    p = make_plan(topo)
    if render_dir is not None:
        from vhoneynet import lifecycle

        written = lifecycle.rendered(topo, base.backends(topo.host.uri)).write(render_dir)
        if not as_json:
            out.print(markup("{} files written to {}", len(written), render_dir))
    if as_json:
        return print_json(p.to_dict())
    table = Table("#", "step", "name", "details", title=markup("plan for honeynet {!r}", p.hid))
    for i, step in enumerate(p.steps(), 1):
        details = ", ".join(f"{k}={v}" for k, v in step.items() if k not in ("step", "name") and v)
        table.add_row(str(i), cell(step["step"]), cell(step["name"]), cell(details))
    out.print(table)


@app.command()
@reports
def up(
    topology: TopologyArg,
    timeout: Annotated[float, typer.Option(help="seconds to wait for every guest to be ready")] = 900,
    keep: Annotated[bool, typer.Option("--keep-on-failure", help="leave a failed honeynet for inspection")] = False,
    probe: ProbeOpt = True,
    warm_state: Annotated[bool, typer.Option("--warm-state/--no-warm-state",
                                             help="save each guest's warm state (a honeypot once ready, the gateway before "
                                                  "its capture starts), so resets and the next up restore instead of boot")] = True,
    cold: Annotated[bool, typer.Option("--cold", help="boot every guest, even one with a kept warm state")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create and boot a honeynet; returns when every guest is ready. A guest whose warm state
    was kept by an earlier `up` of this same topology, image and host is restored from it
    instead of booting (`vhoneynet prune` removes kept states)."""
    from vhoneynet import lifecycle

    started = time.monotonic()
    topo = load(topology)
    with progress_for(as_json) as shown:
        result = lifecycle.up_or_undo(topo, base.backends(topo.host.uri), progress=shown, timeout=timeout, probe=probe,
                                      keep_on_failure=keep, warm_state=warm_state, warm_start=not cold)
    result["up_seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        return print_json(result)
    show_status(result)
    out.print(markup("[green]honeynet {!r} is up[/] in {} s", topo.id, result["up_seconds"]))


@app.command()
@reports
def down(hid: IdArg, uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """Remove a honeynet by id (no YAML needed); its captures are kept."""
    from vhoneynet import lifecycle

    started = time.monotonic()
    result = lifecycle.down(hid, base.backends(uri), storage, progress=progress)
    result["down_seconds"] = round(time.monotonic() - started, 2)
    if as_json:
        return print_json(result)
    out.print(markup("[green]honeynet {!r} removed[/] in {} s; captures kept in {}",
                     hid, result["down_seconds"], result["capture_dir"]))


@app.command()
@reports
def status(hid: IdArg, uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """State of a honeynet's guests, networks and capture folder."""
    from vhoneynet import lifecycle

    result = lifecycle.status(hid, base.backends(uri), storage)
    if as_json:
        return print_json(result)
    show_status(result)


@app.command("list")
@reports
def list_(uri: UriOpt = DEFAULT_URI, storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """Every honeynet on this host: state, guests, subnets."""
    from vhoneynet import lifecycle

    rows = lifecycle.overview(base.backends(uri), storage)
    if as_json:
        return print_json(rows)
    table = Table("id", "state", "guests", "honeynet", "admin", "internet", "warm states kept")
    for r in rows:
        table.add_row(cell(r["id"]), cell(r["state"]), cell(f"{r['running']}/{r['guests']} running"),
                      cell(r.get("honeynet_cidr", "-")), cell(r.get("admin_cidr", "-")), cell(r.get("internet", "-")),
                      cell(", ".join(r["warm_states"]) or "-"))
    out.print(table)


def show_status(s: dict) -> None:
    """The status of a honeynet as a table; every field sanitised (guests report some of them)."""
    table = Table("guest", "role", "image", "address", "state", title=markup("honeynet {!r}: {}", s["id"], s["state"]))
    for g in s["guests"]:
        colour = "green" if g["state"] == "running" else "yellow"
        table.add_row(cell(g["name"]), cell(g["role"]), cell(g["image"]), cell(g["address"] or "-"), text(g["state"], colour))
    for o in s.get("outside", []):
        table.add_row(cell(o["name"]), "outside", "netns", cell(o["address"]), "present" if o["present"] else "absent")
    out.print(table)
    for name, net in s.get("networks", {}).items():
        out.print(markup("  {:9} {:15} {}", name, net["bridge"], net["cidr"]))
    out.print(markup("  captures  {}", s["capture_dir"]))


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@reports
def exec_(
    hid: IdArg,
    guest: GuestArg,
    command: Annotated[list[str], typer.Argument(help="command and its arguments (after --)")],
    uri: UriOpt = DEFAULT_URI,
    timeout: Annotated[float, typer.Option(help="seconds")] = 120,
    as_json: JsonOpt = False,
) -> None:
    """Run a command in a guest (qemu guest agent) or outside host; its exit code is passed through.

    With --json: its exit code, stdout and stderr as one object."""
    from vhoneynet.backends import execute

    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    result = execute(hid, guest, command, base.backends(uri), stdin=stdin or None, timeout=timeout)
    if as_json:
        print_json({"exit_code": result.exit_code, "stdout": result.stdout.decode(errors="replace"),
                    "stderr": result.stderr.decode(errors="replace")})
    else:
        sys.stdout.buffer.write(result.stdout)
        sys.stderr.buffer.write(result.stderr)
    raise typer.Exit(result.exit_code)


@app.command()
@reports
def graph(
    source: Annotated[str, typer.Argument(help="topology file or the id of a honeynet on this host")],
    fmt: Annotated[str, typer.Option("--format", help="mermaid | svg | png | dot")] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", help="write to this file")] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Draw a topology: gateway, bridges, honeypots, outside hosts, admin network.

    With --json and -o, a line saying what was written; without -o the drawing itself goes to stdout."""
    from vhoneynet import graph as drawing

    if not Path(source).is_file():  # then it must be a honeynet id
        try:
            naming.checked("id", source)
        except InvalidName as e:
            raise typer.BadParameter(f"not a topology file, and {e}", param_hint="'source'") from None
    topo = load(Path(source)) if Path(source).is_file() else saved(source, storage)
    data = drawing.draw(topo, fmt)
    if not output:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    if as_json:
        print_json({"id": topo.id, "format": fmt, "output": str(output), "bytes": len(data)})


@app.command()
@reports
def schema(output: Annotated[Path | None, typer.Option("-o", help="write to this file")] = None,
           as_json: JsonOpt = False) -> None:
    """The topology JSON schema (for editors).

    It is JSON already: --json changes only how an error is reported."""
    from vhoneynet.topology.schema import schema_json

    document = schema_json()
    if output:
        output.write_text(document)
    else:
        sys.stdout.write(document)
