"""`vhoneynet report`: one self-contained HTML page about a honeynet's captured data.

The page carries everything it needs inline (styles, the vendored uPlot library, the session
player, the data as JSON), so it opens anywhere without a network. Built from the capture folder
and the topology (saved, or given), never from libvirt: a honeynet taken down is reportable.
"""

from __future__ import annotations

from pathlib import Path

from vhoneynet.capture.session import locate
from vhoneynet.report.contents import gather
from vhoneynet.report.page import page
from vhoneynet.topology.model import DEFAULT_STORAGE, Topology

__all__ = ["build_report", "write_casts", "write_report"]


def build_report(hid: str, storage: Path = DEFAULT_STORAGE, day: str | None = None, *,
                 capture_dir: Path | None = None, topology: Topology | None = None) -> str:
    """The HTML report of honeynet `hid` (all captured days, or `day`). Raises InvalidName,
    CaptureNotFound, DayNotCaptured."""
    return page(gather(locate(hid, storage, capture_dir, topology), day))


def write_report(hid: str, output: Path, storage: Path = DEFAULT_STORAGE, day: str | None = None, *,
                 capture_dir: Path | None = None, topology: Topology | None = None,
                 cast_dir: Path | None = None) -> dict:
    """Write the report to `output` (and each login session as `<cast_dir>/<name>.cast` when
    given); returns {"output", "sessions", "alerts", "casts"}. Raises like build_report."""
    contents = gather(locate(hid, storage, capture_dir, topology), day)
    output.write_text(page(contents), encoding="utf-8")
    casts = write_casts(contents["sessions"], cast_dir) if cast_dir else []
    return {"output": str(output), "sessions": len(contents["sessions"]), "alerts": len(contents["alerts"]),
            "casts": casts}


def write_casts(sessions: list, folder: Path) -> list[str]:
    """Each login session as an asciicast v2 file `<folder>/<honeypot>-ses<N>.cast`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for session in sessions:
        path = folder / f"{session.name}.cast"  # honeypot names and audit ids: no path separators
        path.write_text(session.asciicast(), encoding="utf-8")
        paths.append(str(path))
    return paths
