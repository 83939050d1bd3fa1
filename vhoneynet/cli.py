"""The `vhoneynet` command: thin typer commands over the lifecycle; no libvirt here."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vhoneynet import naming
from vhoneynet.cli_base import (
    _fail,
    _print_json,
    _progress,
    app,
    cell,
    checked,
    err,
    GuestArg,
    host_app,
    IdArg,
    image_app,
    JsonOpt,
    out,
    ProbeOpt,
    StorageOpt,
    TopologyArg,
    UriOpt,
)
from vhoneynet.errors import InvalidName, VhoneynetError
from vhoneynet.terminal import markup, text
from vhoneynet.topology.model import DEFAULT_STORAGE


def _load(path: Path):
    from vhoneynet.topology import load_with_recipes

    return load_with_recipes(path)


def _saved(hid: str, storage: Path):
    """The saved topology of honeynet `hid`. Raises InvalidName, HoneynetNotFound."""
    from vhoneynet.rundir import RunDir

    return RunDir(storage, hid).saved()


def _backends(uri: str = "qemu:///system"):
    from vhoneynet.backends import Backends

    return Backends.for_host(uri)


@app.command()
def validate(topology: TopologyArg) -> None:
    """Check a topology file; every problem is listed with its field and line."""
    try:
        topo = _load(topology)
    except VhoneynetError as e:
        raise _fail(e) from None
    out.print(markup("[green]ok[/] {}: honeynet {!r}, {} honeypots, {} outside hosts",
                     topology, topo.id, len(topo.honeypots), len(topo.outside)))


@app.command()
def plan(topology: TopologyArg, as_json: JsonOpt = False) -> None:
    """Show what `up` would create, in order; touches nothing."""
    from vhoneynet.plan import plan as make_plan

    try:
        p = make_plan(_load(topology))
    except VhoneynetError as e:
        raise _fail(e) from None
    if as_json:
        return _print_json(p.to_dict())
    table = Table("#", "step", "name", "details", title=markup("plan for honeynet {!r}", p.hid))
    for i, step in enumerate(p.steps(), 1):
        details = ", ".join(f"{k}={v}" for k, v in step.items() if k not in ("step", "name") and v)
        table.add_row(str(i), cell(step["step"]), cell(step["name"]), cell(details))
    out.print(table)


@app.command()
def up(
    topology: TopologyArg,
    timeout: Annotated[float, typer.Option(help="seconds to wait for every guest to be ready")] = 900,
    keep: Annotated[bool, typer.Option("--keep-on-failure", help="leave a failed honeynet for inspection")] = False,
    probe: ProbeOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Create and boot a honeynet; returns when every guest is ready."""
    from vhoneynet import lifecycle

    started = time.monotonic()
    try:
        topo = _load(topology)
        result = lifecycle.up_or_undo(topo, _backends(topo.host.uri), progress=_progress, timeout=timeout,
                                      probe=probe, keep_on_failure=keep)
    except VhoneynetError as e:
        raise _fail(e) from None
    result["up_seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        return _print_json(result)
    _show_status(result)
    out.print(markup("[green]honeynet {!r} is up[/] in {} s", topo.id, result["up_seconds"]))


@app.command()
def down(hid: IdArg, uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """Remove a honeynet by id (no YAML needed); its captures are kept."""
    from vhoneynet import lifecycle

    started = time.monotonic()
    try:
        result = lifecycle.down(hid, _backends(uri), storage, progress=_progress)
    except VhoneynetError as e:
        raise _fail(e) from None
    result["down_seconds"] = round(time.monotonic() - started, 2)
    if as_json:
        return _print_json(result)
    out.print(markup("[green]honeynet {!r} removed[/] in {} s; captures kept in {}",
                     hid, result["down_seconds"], result["capture_dir"]))


@app.command()
def status(hid: IdArg, uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """State of a honeynet's guests, networks and capture folder."""
    from vhoneynet import lifecycle

    try:
        result = lifecycle.status(hid, _backends(uri), storage)
    except VhoneynetError as e:
        raise _fail(e) from None
    if as_json:
        return _print_json(result)
    _show_status(result)


@app.command("list")
def list_(uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False) -> None:
    """Every honeynet on this host: state, guests, subnets."""
    from vhoneynet import lifecycle

    try:
        rows = lifecycle.overview(_backends(uri), storage)
    except VhoneynetError as e:
        raise _fail(e) from None
    if as_json:
        return _print_json(rows)
    table = Table("id", "state", "guests", "honeynet", "admin", "internet")
    for r in rows:
        table.add_row(cell(r["id"]), cell(r["state"]), cell(f"{r['running']}/{r['guests']} running"),
                      cell(r.get("honeynet_cidr", "-")), cell(r.get("admin_cidr", "-")), cell(r.get("internet", "-")))
    out.print(table)


GuestsArg = Annotated[list[str] | None, typer.Argument(help="honeypots (default: all)", callback=checked("guest"))]


@app.command()
def reset(
    hid: IdArg,
    guests: GuestsArg = None,
    to: Annotated[str | None, typer.Option("--to", help="a checkpoint instead of the pristine image",
                                           callback=checked("checkpoint"))] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the guests to be ready")] = 900,
    probe: ProbeOpt = True,
    uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False,
) -> None:
    """Put honeypots back to pristine (or to a checkpoint); gateway and captures stay."""
    from vhoneynet import labs

    try:
        result = labs.reset(hid, _backends(uri), guests, to, storage, progress=_progress, timeout=timeout, probe=probe)
    except VhoneynetError as e:
        raise _fail(e) from None
    if as_json:
        return _print_json(result)
    for name, t in result["guests"].items():
        out.print(markup("{:16} disk revert {:.3f} s, ready after {:.1f} s", name, t["disk_revert"], t["until_ready"]))
    out.print(markup("[green]honeynet {!r}: {} honeypots reset to {}[/]", hid, len(result["guests"]), result["to"]))


@app.command()
def checkpoint(
    hid: IdArg,
    name: Annotated[str | None, typer.Argument(help="checkpoint name (omit with --list)",
                                               callback=checked("checkpoint"))] = None,
    guests: GuestsArg = None,
    list_only: Annotated[bool, typer.Option("--list", help="list the checkpoints instead")] = False,
    uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False,
) -> None:
    """Save honeypots' disks as a named checkpoint (`reset ID --to NAME` restores it)."""
    from vhoneynet import labs

    try:
        if list_only or name is None:
            result: object = labs.checkpoints(hid, storage)
        else:
            result = labs.checkpoint(hid, name, _backends(uri), guests, storage, progress=_progress)
    except VhoneynetError as e:
        raise _fail(e) from None
    if as_json:
        return _print_json(result)
    for c in result if isinstance(result, list) else [result]:
        out.print(markup("{:20} {}  {}", c["name"], c["created"], ", ".join(c["guests"])))


@app.command()
def graph(
    source: Annotated[str, typer.Argument(help="topology file or the id of a honeynet on this host")],
    fmt: Annotated[str, typer.Option("--format", help="mermaid | svg | png | dot")] = "mermaid",
    output: Annotated[Path | None, typer.Option("-o", help="write to this file")] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
) -> None:
    """Draw a topology: gateway, bridges, honeypots, outside hosts, admin network."""
    from vhoneynet import graph as drawing

    if not Path(source).is_file():  # then it must be a honeynet id
        try:
            naming.checked("id", source)
        except InvalidName as e:
            raise typer.BadParameter(f"not a topology file, and {e}", param_hint="'source'") from None
    try:
        topo = _load(Path(source)) if Path(source).is_file() else _saved(source, storage)
        data = drawing.draw(topo, fmt)
    except VhoneynetError as e:
        raise _fail(e) from None
    if output:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


def _show_status(s: dict) -> None:
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
def exec_(
    hid: IdArg,
    guest: GuestArg,
    command: Annotated[list[str], typer.Argument(help="command and its arguments (after --)")],
    uri: UriOpt = "qemu:///system",
    timeout: Annotated[float, typer.Option(help="seconds")] = 120,
) -> None:
    """Run a command in a guest (qemu guest agent) or outside host; its exit code is passed through."""
    from vhoneynet.backends import execute

    stdin = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    try:
        result = execute(hid, guest, command, _backends(uri), stdin=stdin or None, timeout=timeout)
    except VhoneynetError as e:
        raise _fail(e) from None
    sys.stdout.buffer.write(result.stdout)
    sys.stderr.buffer.write(result.stderr)
    raise typer.Exit(result.exit_code)


@host_app.command("check")
def host_check(uri: UriOpt = "qemu:///system", as_json: JsonOpt = False) -> None:
    """What this host is missing, and which acceleration guests will get."""
    from dataclasses import asdict

    from vhoneynet.hostcheck import findings

    found = findings(uri)
    if as_json:
        _print_json([asdict(f) for f in found])
    else:
        for f in found:
            mark = "[green]ok[/]  " if f.ok else "[red]MISSING[/]"
            out.print(mark + markup(" {:20} {}", f.item, f.detail), highlight=False)
    if not all(f.ok for f in found):
        raise typer.Exit(1)


@image_app.command("build")
def image_build(
    recipe: Annotated[str, typer.Argument(help="recipe name (a folder of images/)")],
    force: Annotated[bool, typer.Option("--force", help="rebuild even when cached")] = False,
    iso: Annotated[Path | None, typer.Option("--iso", help="installation ISO (Windows recipes)")] = None,
    uri: UriOpt = "qemu:///system",
) -> None:
    """Build an image from its recipe (cached by the recipe's content hash)."""
    from vhoneynet.backend.libvirt import Hypervisor
    from vhoneynet.images import ImageStore

    started = time.monotonic()
    try:
        image = ImageStore().build(recipe, force=force, progress=_progress, iso=iso, hv=Hypervisor(uri))
    except VhoneynetError as e:
        raise _fail(e) from None
    out.print(markup("[green]{}[/] {} ready in {:.0f} s: {}", recipe, image.digest[:12], time.monotonic() - started, image.disk))


@image_app.command("list")
def image_list(as_json: JsonOpt = False) -> None:
    """Recipes and their built images."""
    from vhoneynet.images import ImageStore

    rows = ImageStore().list()
    if as_json:
        return _print_json(rows)
    table = Table("recipe", "digest", "built", "size", "path")
    for r in rows:
        table.add_row(*(cell(r.get(k, "")) for k in ("name", "digest", "built", "size", "path")))
    out.print(table)


@app.command()
def schema(output: Annotated[Path | None, typer.Option("-o", help="write to this file")] = None) -> None:
    """The topology JSON schema (for editors)."""
    from vhoneynet.topology.schema import schema_json

    text = schema_json()
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


# Capture and collection commands register themselves on `app`.
import vhoneynet.cli_capture  # noqa: E402,F401


@app.command()
def control(
    hid: IdArg,
    change: Annotated[list[str] | None, typer.Argument(help="`set tcp=N udp=N icmp=N other=N window=hour`")] = None,
    uri: UriOpt = "qemu:///system",
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Data-control counters per honeypot; `control ID set tcp=5 …` changes limits live."""
    from vhoneynet.gateway import control as dc

    try:
        b = _backends(uri)
        if change:
            if change[0] != "set" or len(change) < 2:
                raise typer.BadParameter("expected: control ID set tcp=5 [udp=N icmp=N other=N window=hour]")
            limits = dc.set_limits(hid, b, dc.parse_changes(change[1:]), storage)
            if not as_json:
                out.print(markup("[green]limits of {!r} now[/] {}", hid, limits.model_dump()))
                return
        result = dc.counters(hid, b, storage)
    except VhoneynetError as e:
        raise _fail(e) from None
    if as_json:
        return _print_json(result)
    lock = " [red]LOCKED DOWN[/]" if result["lockdown"] else ""
    table = Table("honeypot", *(f"{p} new/limited (limit)" for p in dc.PROTOCOLS),
                  title=markup("data control of {!r}: {}, per {}", hid, result["mode"], result["window"]) + lock)
    for name, h in result["honeypots"].items():
        table.add_row(cell(name), *(cell(f"{h[p]['new']}/{h[p]['limited']} ({h[p]['limit']})") for p in dc.PROTOCOLS))
    out.print(table)
    dropped = ", ".join(f"{v} {c['packets']}" for v, c in result["dropped"].items() if c["packets"])
    out.print(markup("  dropped packets: {}", dropped or "none"))


@app.command()
def lockdown(hid: IdArg, uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE) -> None:
    """Stop all outbound traffic of a honeynet at once (established sessions too)."""
    from vhoneynet.gateway import control as dc

    try:
        took = dc.lockdown(hid, _backends(uri), storage)
    except VhoneynetError as e:
        raise _fail(e) from None
    out.print(markup("[red]honeynet {!r} locked down[/] in {:.2f} s: nothing leaves until `vhoneynet unlock {}`", hid, took, hid))


@app.command()
def unlock(hid: IdArg, uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE) -> None:
    """Undo `lockdown`: outbound traffic is under the limits in force again."""
    from vhoneynet.gateway import control as dc

    try:
        took = dc.unlock(hid, _backends(uri), storage)
    except VhoneynetError as e:
        raise _fail(e) from None
    out.print(markup("[green]honeynet {!r} unlocked[/] in {:.2f} s", hid, took))


@app.command()
def verify(
    hid: IdArg,
    stealth: Annotated[bool, typer.Option("--stealth", help="also look inside every honeypot for what gives it away as a VM or a honeypot")] = False,
    stealth_only: Annotated[bool, typer.Option("--stealth-only", help="only the look inside the honeypots, no data-control probes")] = False,
    uri: UriOpt = "qemu:///system", storage: StorageOpt = DEFAULT_STORAGE, as_json: JsonOpt = False,
) -> None:
    """Prove every data-control layer on the running honeynet (and, with --stealth, that no honeypot
    gives itself away); exits 1 when one fails."""
    from vhoneynet import tells
    from vhoneynet.gateway import verify as v
    from vhoneynet.gateway.control import saved_topology

    b = _backends(uri)
    try:
        results = [] if stealth_only else v.verify(hid, b, storage)
        looks = tells.look(saved_topology(hid, storage), b) if stealth or stealth_only else None
    except VhoneynetError as e:
        raise _fail(e) from None
    failed = any(r.verdict == "fail" for r in [*results, *(looks or [])])
    if as_json:
        report = {"id": hid, "ok": not failed, "layers": v.as_dicts(results)}
        if looks is not None:
            report["stealth"] = [r.as_dict() for r in looks]
        _print_json(report)
    else:
        if results:
            table = Table("layer", "sent", "arrived", "limit", "verdict", "detail", title=markup("data control of {!r}", hid))
            for r in results:
                colour = {"pass": "green", "fail": "red"}.get(r.verdict, "yellow")
                table.add_row(cell(r.layer), cell(r.sent), cell(r.arrived), cell(r.limit), text(r.verdict, colour), cell(r.detail))
            out.print(table)
        if looks is not None:
            table = Table("honeypot", "verdict", "tells", title=markup("what gives the honeypots of {!r} away", hid))
            for look in looks:
                colour = {"pass": "green", "fail": "red"}.get(look.verdict, "yellow")
                found = "\n".join(f"{t.check}: {t.found}" for t in look.tells) or look.detail
                table.add_row(cell(look.honeypot), text(look.verdict, colour), text(found, multiline=True))
            out.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def alerts(
    hid: IdArg,
    follow: Annotated[bool, typer.Option("--follow", help="keep running; deliver each new alert to the topology's hook")] = False,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Data-control alerts (compromise, limit reached) the gateway wrote for a honeynet."""
    from vhoneynet.gateway import alerts as al
    from vhoneynet.rundir import CaptureFolder

    try:
        topo = _saved(hid, storage)
    except VhoneynetError as e:
        raise _fail(e) from None
    if follow:
        al.follow(topo, log=lambda line: err.print(text(line), highlight=False))
        return
    found = al.read_all(CaptureFolder.of(topo).root)
    if as_json:
        return _print_json(found)
    table = Table("time", "kind", "honeypot", "destination", "protocol", "port", "limit", title=markup("alerts of {!r}", hid))
    for a in found:
        table.add_row(*(cell(a.get(k, "")) for k in ("time", "kind", "honeypot", "destination", "protocol", "port", "limit")))
    out.print(table)
