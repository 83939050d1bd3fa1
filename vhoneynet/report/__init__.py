"""`vhoneynet report`: one self-contained HTML page about a honeynet's captured data.

The page carries everything it needs inline (styles, the vendored uPlot library, the session
player, the data as JSON), so it opens anywhere without a network. Built from the capture folder
and the topology (saved, or given), never from libvirt: a honeynet taken down is reportable.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from vhoneynet.capture import pcap
from vhoneynet.capture.session import locate
from vhoneynet.errors import VhoneynetError
from vhoneynet.report.contents import gather
from vhoneynet.report.page import page
from vhoneynet.topology.model import DEFAULT_STORAGE, Topology

__all__ = ["build_report", "cut_slices", "write_casts", "write_report"]
MAX_SLICES = 500  # alerts whose slice one report cuts


def build_report(hid: str, storage: Path = DEFAULT_STORAGE, day: str | None = None, *,
                 capture_dir: Path | None = None, topology: Topology | None = None) -> str:
    """The HTML report of honeynet `hid` (all captured days, or `day`). Raises InvalidName,
    CaptureNotFound, DayNotCaptured."""
    return page(gather(locate(hid, storage, capture_dir, topology), day))


def write_report(hid: str, output: Path, storage: Path = DEFAULT_STORAGE, day: str | None = None, *,
                 capture_dir: Path | None = None, topology: Topology | None = None,
                 cast_dir: Path | None = None, pcap_dir: Path | None = None) -> dict:
    """Write the report to `output`; with `cast_dir`, each login session as `<cast_dir>/<name>.cast`;
    with `pcap_dir`, each alert's pcap slice as `<pcap_dir>/alert-<N>.pcap`, linked from the page
    (by a path relative to the page's folder, so keep the two together). Returns {"output",
    "sessions", "alerts", "casts", "slices", "slice_problems"}. Raises like build_report."""
    captures = locate(hid, storage, capture_dir, topology)
    contents = gather(captures, day)
    problems: list[str] = []
    if pcap_dir is not None:
        contents["slices"] = cut_slices(captures.root, contents["alerts"], pcap_dir, output.parent, problems)
    output.write_text(page(contents), encoding="utf-8")
    casts = write_casts(contents["sessions"], cast_dir) if cast_dir else []
    return {"output": str(output), "sessions": len(contents["sessions"]), "alerts": len(contents["alerts"]),
            "casts": casts, "slices": len(contents["slices"]), "slice_problems": problems}


def cut_slices(root: Path, alerts: list[dict], folder: Path, page_folder: Path, problems: list[str]) -> dict[int, str]:
    """Cut the pcap slice of each alert into `<folder>/alert-<N>.pcap`; returns N -> its path
    relative to `page_folder` (a link's href). An alert whose slice cannot be cut is named in
    `problems` and left without a link."""
    folder.mkdir(parents=True, exist_ok=True)
    links = {}
    for alert in alerts[:MAX_SLICES]:
        path = folder / f"alert-{int(alert['seq'])}.pcap"
        try:
            pcap.cut(root, pcap.flow_of(alert), path)
        except VhoneynetError as e:
            problems.append(f"alert {alert['seq']}: {e}")
            continue
        links[alert["seq"]] = quote(Path(os.path.relpath(path.resolve(), page_folder.resolve())).as_posix())
    if len(alerts) > MAX_SLICES:
        problems.append(f"only the first {MAX_SLICES} alerts' slices were cut")
    return links


def write_casts(sessions: list, folder: Path) -> list[str]:
    """Each login session as an asciicast v2 file `<folder>/<honeypot>-ses<N>.cast`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for session in sessions:
        path = folder / f"{session.name}.cast"  # honeypot names and audit ids: no path separators
        path.write_text(session.asciicast(), encoding="utf-8")
        paths.append(str(path))
    return paths
