"""Data-control alerts on the host: read what the gateway wrote, run the topology's hook.

The gateway's alert loop (templates/gateway/alerts.sh.j2) appends one JSON line per alert
to <capture_dir>/<id>/<day>/alerts.jsonl (method 1, always on). When the topology names a
hook (`gateway.data_control.alerts.command` and/or `.webhook`), `up` starts a follower on
the host (`vhoneynet alerts ID --follow`, detached, pid in the run dir) that delivers each
new line to it (method 2); `down` stops it. Offsets are kept in the run dir, so a restarted
follower never delivers an alert twice.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from vhoneynet import followers
from vhoneynet.backend.process import run
from vhoneynet.errors import CommandFailed
from vhoneynet.topology.model import Alerts, Topology

ALERTS_FILE = "alerts.jsonl"
PID_FILE = "alerts.pid"
OFFSETS_FILE = "alerts-offsets.json"


def alert_files(capture: Path) -> list[Path]:
    """Every day's alerts.jsonl of one honeynet's capture folder, oldest day first."""
    return sorted(capture.glob(f"????-??-??/{ALERTS_FILE}"))


def read_all(capture: Path) -> list[dict]:
    """Every alert written so far (complete lines only)."""
    return [alert for _, alert in _new_lines(capture, {})]


def _new_lines(capture: Path, offsets: dict[str, int]) -> Iterator[tuple[str, dict]]:
    for path in alert_files(capture):
        with path.open("rb") as f:
            f.seek(offsets.get(str(path), 0))
            for line in f:
                if not line.endswith(b"\n"):
                    break  # the gateway is still writing it
                offsets[str(path)] = offsets.get(str(path), 0) + len(line)
                try:
                    yield str(path), json.loads(line)
                except ValueError:
                    continue


def deliver(alert: dict, hook: Alerts) -> list[str]:
    """Send one alert to the hook's command (JSON on stdin) and webhook (JSON POST); returns problems."""
    body = json.dumps(alert).encode()
    problems = []
    if hook.command:
        try:
            run(["/bin/sh", "-c", hook.command], stdin=body, timeout=30)
        except (CommandFailed, subprocess.TimeoutExpired) as e:
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
    capture = topo.capture_dir / topo.id
    state = topo.run_dir / OFFSETS_FILE
    try:
        offsets = json.loads(state.read_text())
    except (OSError, ValueError):
        offsets = {str(p): p.stat().st_size for p in alert_files(capture)}  # only what comes from now on
    hook = topo.gateway.data_control.alerts
    while not until():
        for _, alert in _new_lines(capture, offsets):
            for problem in deliver(alert, hook):
                log(f"alert {alert.get('kind')} of {alert.get('honeypot')}: {problem}")
        if topo.run_dir.exists():
            state.write_text(json.dumps(offsets))
        time.sleep(poll)


def start_follower(topo: Topology) -> int | None:
    """Start the detached hook follower when the topology names a hook; returns its pid."""
    hook = topo.gateway.data_control.alerts
    if not (hook.command or hook.webhook):
        return None
    return followers.start(topo.run_dir, PID_FILE, "alerts.log",
                           ["alerts", topo.id, "--follow", "--storage", str(topo.host.storage)])


def stop_follower(run_dir: Path) -> None:
    """Stop the hook follower of the honeynet whose run dir this is, if one runs."""
    followers.stop(run_dir, PID_FILE, b"alerts")
