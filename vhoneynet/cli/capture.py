"""Commands on captured data: `events`, `alerts`, `export`, and `collector serve|token`. Thin: the
logic is in vhoneynet.capture, vhoneynet.gateway.live.alerts and vhoneynet.collect."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from vhoneynet.cli.base import (
    IdArg,
    JsonOpt,
    StorageOpt,
    app,
    cell,
    checked,
    collector_app,
    err,
    json_text,
    out,
    print_json,
    reports,
)
from vhoneynet.cli.honeynet import saved
from vhoneynet.terminal import markup, safe, text
from vhoneynet.topology.model import DEFAULT_STORAGE

CaptureDirOpt = Annotated[Path | None, typer.Option("--capture-dir", help="captures folder (default: from the honeynet's topology)")]
TopologyOpt = Annotated[Path | None, typer.Option("--topology", help="topology file, when the honeynet is down")]
DsnOpt = Annotated[str, typer.Option("--dsn", envvar="VHN_COLLECTOR_DSN", help="PostgreSQL connection string")]


def _captures(hid: str, storage: Path, capture_dir: Path | None, topology: Path | None):
    from vhoneynet.capture.session import locate

    topo = None
    if topology is not None:
        from vhoneynet.topology import load

        topo = load(topology)
    return locate(hid, storage, capture_dir, topo)


@app.command()
@reports
def events(
    hid: IdArg,
    types: Annotated[list[str] | None, typer.Option("--type", help="event type (repeat or comma-separate): alert, flow, dns, http, tls, drop, fast, firewall, syslog, command, keystrokes, control")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO time or age (15m, 2h, 7d)")] = None,
    honeypot: Annotated[str | None, typer.Option("--honeypot", help="only events of this honeypot",
                                                    callback=checked("guest"))] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep ingesting and print new events")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing (with --follow: only keep the store current)")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="at most this many events")] = None,
    counts: Annotated[bool, typer.Option("--counts", help="only the number of events per type")] = False,
    capture_dir: CaptureDirOpt = None,
    topology: TopologyOpt = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Ingest the honeynet's captured logs into its local store (and ship them to its collector), then query."""
    from vhoneynet.capture import session

    try:  # Ctrl-C ends --follow, and is no error
        captures = _captures(hid, storage, capture_dir, topology)
        wanted = [t for spec in types or [] for t in spec.split(",") if t]
        filters = {"types": wanted, "since": session.since_time(since) if since else None, "honeypot": honeypot}
        with captures.store() as store:
            result = session.refresh(captures, store)
            if result["ship_error"]:
                _warn(result["ship_error"])
            if result.get("newly_quarantined"):
                _note_quarantined(result["newly_quarantined"])
            if counts:
                return print_json(store.counts()) if as_json else _show_counts(store.counts(), result.get("quarantined"))
            for event in [] if quiet else store.query(**filters, limit=limit):
                _show_event(event, as_json)
            for event in session.follow(captures, store, **filters) if follow else []:
                if "warning" in event:
                    _warn(event["warning"])
                elif "quarantined" in event:
                    _note_quarantined(event["quarantined"])
                elif not quiet:
                    _show_event(event, as_json)
    except KeyboardInterrupt:
        pass


def _warn(message: str) -> None:
    err.print(markup("[yellow]warning:[/] {} (events stay spooled)", message), highlight=False)


def _show_event(event: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json_text(event) + "\n")
    else:
        # every field is from the store, and so from a guest or the wire: each one sanitised
        where = f"{safe(event['src'] or '-')} -> {safe(event['dst'] or '-')}" if event["src"] or event["dst"] else ""
        line = (f"{safe(event['time'])} {safe(event['type']):<10} {safe(event['honeypot'] or '-'):<10} {where} "
                f"{safe(event['summary'])}")
        out.print(Text(line), highlight=False, soft_wrap=True)
    sys.stdout.flush()


def _note_quarantined(count: int) -> None:
    err.print(text(f"warning: {count} events refused by the collector or broker were quarantined in the local store "
                   "(table `quarantine` of events.sqlite: field and reason of each); delivery goes on"), highlight=False)


def _show_counts(counts: dict[str, int], quarantined: int | None = None) -> None:
    for kind, n in counts.items():
        out.print(text(f"{kind:<12} {n}"), highlight=False)
    if quarantined:
        out.print(text(f"{'(quarantined, not delivered)':<12} {quarantined}"), highlight=False)


@app.command()
@reports
def export(
    hid: IdArg,
    day: Annotated[str | None, typer.Option("--day", help="YYYY-MM-DD (default: today, UTC)",
                                               callback=checked("day"))] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="tarball path (default: ./<id>-<day>.tar.gz; "
                                                   "with --alert: ./<id>-alert-<N>.pcap)")] = None,
    alert: Annotated[int | None, typer.Option("--alert", min=1, help="instead: the pcap slice of alert N (its number "
                                                 "in the report, seq in `events --json`): its flow, a minute either side")] = None,
    capture_dir: CaptureDirOpt = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """A tarball of one day's pcap, IDS, firewall, syslog and alerts plus the consoles, with a SHA-256 manifest;
    or, with --alert N, one alert's pcap slice."""
    from datetime import UTC, datetime

    from vhoneynet.capture import archive

    if alert is not None:
        return _export_alert(hid, alert, output, capture_dir, storage, as_json)
    captures = _captures(hid, storage, capture_dir, None)
    day = day or datetime.now(UTC).date().isoformat()
    with captures.store() as store:
        store.ingest()  # also writes the day's unique firewall log
    result = archive.export(captures.root, hid, day, output or Path(f"{hid}-{day}.tar.gz"))
    if as_json:
        print_json(result)
    else:
        out.print(markup("{}: {} files, sha256 {}", result["output"], result["files"], result["sha256"]),
                  highlight=False, soft_wrap=True)
        for skipped in result["skipped"]:
            err.print(markup("[yellow]left out:[/] {}", skipped), highlight=False, soft_wrap=True)


@app.command()
@reports
def alerts(
    hid: IdArg,
    follow: Annotated[bool, typer.Option("--follow", help="keep running; deliver each new alert to the topology's hook")] = False,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """Data-control alerts (compromise, limit reached) the gateway wrote for a honeynet."""
    from vhoneynet.gateway.live import alerts as al
    from vhoneynet.rundir import CaptureFolder

    topo = saved(hid, storage)
    if follow:
        al.follow(topo, log=lambda line: err.print(text(line), highlight=False))
        return
    found = al.read_all(CaptureFolder.of(topo).root)
    if as_json:
        return print_json(found)
    table = Table("time", "kind", "honeypot", "destination", "protocol", "port", "limit", title=markup("alerts of {!r}", hid))
    for a in found:
        table.add_row(*(cell(a.get(k, "")) for k in ("time", "kind", "honeypot", "destination", "protocol", "port", "limit")))
    out.print(table)


@collector_app.command("serve")
@reports
def collector_serve(
    dsn: DsnOpt,
    listen: Annotated[str, typer.Option("--listen", help="address:port")] = "127.0.0.1:8443",
    state: Annotated[Path, typer.Option("--state", help="folder of the TLS certificate and key")] = DEFAULT_STORAGE / "collector",
    max_connections: Annotated[int, typer.Option("--max-connections", min=1, max=65536, help="clients connected at once; more are closed at once")] = 512,
    pool: Annotated[int, typer.Option("--pool", min=1, max=256, help="database connections (and worker threads)")] = 8,
    as_json: JsonOpt = False,
) -> None:
    """Serve the collector over HTTPS (self-signed certificate made at first start) until interrupted.

    With --json, an error that stops it is JSON; its log stays text on stderr."""
    from vhoneynet.collect.server import Limits, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    host, _, port = listen.rpartition(":")
    limits = Limits(connections=max_connections, database=pool)
    try:  # Ctrl-C stops the server, and is no error
        serve(dsn, host, int(port), state, limits=limits,
              ready=lambda s: err.print(markup("collector listening on https://{} (certificate {})", listen, state / "cert.pem")))
    except KeyboardInterrupt:
        pass


@collector_app.command("token")
@reports
def collector_token(hid: IdArg, dsn: DsnOpt, as_json: JsonOpt = False) -> None:
    """Register honeynet HID with the collector (or give it a new token); prints the token once."""
    from vhoneynet.collect.database import CollectorDatabase

    db = CollectorDatabase(dsn)
    try:
        db.create_schema()
        token = db.add_honeynet(hid)
    finally:
        db.close()
    print_json({"id": hid, "token": token}) if as_json else out.print(text(token), highlight=False)


# --- report, and an alert's pcap slice (export --alert) ----------------------------------


def _export_alert(hid: str, seq: int, output: Path | None, capture_dir: Path | None, storage: Path, as_json: bool) -> None:
    from vhoneynet.capture import pcap
    from vhoneynet.errors import AlertNotFound

    captures = _captures(hid, storage, capture_dir, None)
    with captures.store() as store:
        store.ingest()
        event = store.event(seq)
    if event is None:
        raise AlertNotFound(seq)
    result = pcap.cut(captures.root, pcap.flow_of(event), output or Path(f"{hid}-alert-{seq}.pcap"))
    if as_json:
        return print_json({"id": hid, "alert": seq, **result})
    out.print(markup("{}: alert {} ({} to {}), filter {}", result["output"], seq, result["start"], result["end"],
                     result["filter"] or "none"), highlight=False, soft_wrap=True)
    for skipped in result["skipped"]:
        err.print(markup("[yellow]left out:[/] {}", skipped), highlight=False, soft_wrap=True)
    if result["truncated"]:
        err.print(text("warning: the window held more packets than a slice takes; the slice is cut short"), highlight=False)


@app.command()
@reports
def report(
    hid: IdArg,
    day: Annotated[str | None, typer.Option("--day", help="YYYY-MM-DD (default: every captured day)",
                                               callback=checked("day"))] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="HTML file (default: ./<id>-report.html)")] = None,
    cast_dir: Annotated[Path | None, typer.Option("--cast-dir", help="also write each login session there as an "
                                                     "asciicast v2 file (<honeypot>-ses<N>.cast)")] = None,
    pcap_dir: Annotated[Path | None, typer.Option("--pcap-dir", help="also cut each alert's pcap slice there "
                                                  "(alert-<N>.pcap), linked from the page: keep it beside the page")] = None,
    capture_dir: CaptureDirOpt = None,
    topology: TopologyOpt = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    as_json: JsonOpt = False,
) -> None:
    """One self-contained HTML page of the captured data: topology, timeline, outbound against the limits,
    top talkers, IDS signatures and alerts, login sessions to play back, and the SHA-256 manifest."""
    from vhoneynet.report import write_report

    topo = None
    if topology is not None:
        from vhoneynet.topology import load

        topo = load(topology)
    day_part = f"-{day}" if day else ""
    result = write_report(hid, output or Path(f"{hid}{day_part}-report.html"), storage, day,
                          capture_dir=capture_dir, topology=topo, cast_dir=cast_dir, pcap_dir=pcap_dir)
    if as_json:
        return print_json(result)
    out.print(markup("{}: {} alerts, {} login sessions", result["output"], result["alerts"], result["sessions"]),
              highlight=False, soft_wrap=True)
    for cast in result["casts"]:
        out.print(text(cast), highlight=False, soft_wrap=True)
    if pcap_dir is not None:
        out.print(markup("{} pcap slices in {}", result["slices"], pcap_dir), highlight=False, soft_wrap=True)
    for problem in result["slice_problems"]:
        err.print(markup("[yellow]no slice:[/] {}", problem), highlight=False, soft_wrap=True)
