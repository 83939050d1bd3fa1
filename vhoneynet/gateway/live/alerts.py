"""Data-control alerts on the host: read what the gateway wrote, run the topology's hook.

The gateway's alert loop (templates/gateway/alerts.sh.j2) appends one JSON line per alert
to <day>/alerts.jsonl in its share, <capture_dir>/<id>/gateway/ (method 1, always on). The
host reads it through capture.guestfile, one bounded line at a time; a line that is not a
JSON object is skipped. When the topology names a
hook (`gateway.data_control.alerts.command` and/or `.webhook`), `up` starts a follower on
the host (`vhoneynet alerts ID --follow`, detached, pid in the run dir: capture.follower
starts and stops it) that delivers each new line to it (method 2); `down` stops it. Offsets are kept in the run dir, so a restarted
follower never delivers an alert twice.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from vhoneynet.backend.process import run
from vhoneynet.capture import guestfile
from vhoneynet.capture.follower import ALERTS_FOLLOWER
from vhoneynet.capture.records import RecordError, json_object
from vhoneynet.capture.store import ALERTS_FILE, DAY
from vhoneynet.errors import CommandFailed
from vhoneynet.rundir import CaptureFolder, RunDir
from vhoneynet.topology.model import Alerts, Topology


def alert_files(capture: Path) -> list[str]:
    """Every day's alerts.jsonl in the share of a honeynet's capture folder `capture`, oldest day
    first, as paths below the share (`<day>/alerts.jsonl`); only regular files."""
    share = CaptureFolder(capture).share
    return [f"{day}/{ALERTS_FILE}" for day in guestfile.list_dirs(share)
            if DAY.fullmatch(day) and ALERTS_FILE in guestfile.list_files(share, day)]


def read_all(capture: Path) -> list[dict]:
    """Every alert written so far (complete lines only)."""
    return [alert for _, alert in _new_lines(capture, {})]


def _size(capture: Path, rel: str) -> int:
    try:
        with guestfile.open_file(CaptureFolder(capture).share, *rel.split("/")) as f:
            return f.size
    except OSError:
        return 0


def _new_lines(capture: Path, offsets: dict[str, int]) -> Iterator[tuple[str, dict]]:
    """(file, alert) of each line past `offsets` (updated as lines are read)."""
    share = CaptureFolder(capture).share
    for rel in alert_files(capture):
        try:
            with guestfile.open_file(share, *rel.split("/")) as f:
                reader = f.lines(offsets.get(rel, 0) if offsets.get(rel, 0) <= f.size else 0)
                for line in reader:
                    offsets[rel] = line.start + len(line.data)
                    try:
                        alert = None if line.truncated else json_object(line.data.decode(errors="replace"))
                    except RecordError:
                        continue
                    if alert is not None:
                        yield rel, alert
                offsets[rel] = reader.position
        except OSError:
            continue  # gone, or swapped for a link since listed


def deliver(alert: dict, hook: Alerts) -> list[str]:
    """Send one alert to the hook's command (JSON on stdin) and webhook (JSON POST); returns problems."""
    body = json.dumps(alert).encode()
    problems = []
    if hook.command:
        try:
            run(["/bin/sh", "-c", hook.command], stdin=body, timeout=30)
        except CommandFailed as e:  # a hook that timed out too
            problems.append(f"command: {e}")
    if hook.webhook:
        request = urllib.request.Request(hook.webhook, data=body, headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError as e:
            problems.append(f"webhook: {e}")
    return problems


def follow(topo: Topology, poll: float = 1.0, until: Callable[[], bool] = lambda: False,
           log: Callable[[str], None] = print) -> None:
    """Deliver every new alert of the honeynet to its hook until `until()` (or a signal)."""
    capture = CaptureFolder.of(topo).root
    run = RunDir.of(topo)
    state = run.offsets_file(ALERTS_FOLLOWER)
    try:
        offsets = json.loads(state.read_text())
    except (OSError, ValueError):
        offsets = {rel: _size(capture, rel) for rel in alert_files(capture)}  # only what comes from now on
    hook = topo.gateway.data_control.alerts
    while not until():
        for _, alert in _new_lines(capture, offsets):
            for problem in deliver(alert, hook):
                log(f"alert {alert.get('kind')!r} of {alert.get('honeypot')!r}: {problem}")
        if run.path.exists():
            state.write_text(json.dumps(offsets))
        time.sleep(poll)
