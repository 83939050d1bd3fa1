"""Export of one captured day (tarball with a SHA-256 manifest) and retention of day folders."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from datetime import date, timedelta
from pathlib import Path

from vhoneynet.capture.store import DAY
from vhoneynet.errors import DayNotCaptured

MANIFEST = "SHA256SUMS"


def days(root: Path) -> list[str]:
    """The captured days under a honeynet's capture folder, oldest first."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and DAY.match(p.name)) if root.is_dir() else []


def export(root: Path, hid: str, day: str, output: Path) -> dict:
    """Write `output` (tar.gz): the day's pcap, ids, firewall, syslog and alerts, the guests' consoles,
    and a manifest of SHA-256 sums (`sha256sum -c` format). Raises DayNotCaptured."""
    folder = root / day
    if not folder.is_dir():
        raise DayNotCaptured(hid, day, days(root))
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    files += sorted(p for p in (root / "consoles").glob("*.log") if p.is_file())
    prefix = f"{hid}-{day}"
    sums = []
    with tarfile.open(output, "w:gz") as tar:
        for path in files:
            rel = path.relative_to(root).as_posix()
            sums.append(f"{_sha256(path)}  {rel}\n")
            tar.add(path, arcname=f"{prefix}/{rel}", recursive=False)
        manifest = "".join(sums).encode()
        info = tarfile.TarInfo(f"{prefix}/{MANIFEST}")
        info.size = len(manifest)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(manifest))
    return {"id": hid, "day": day, "output": str(output), "files": len(files), "sha256": _sha256(output)}


def apply_retention(root: Path, retention_days: int, today: date | None = None) -> list[str]:
    """Remove day folders older than `retention_days`; returns the days removed."""
    cutoff = ((today or date.today()) - timedelta(days=retention_days)).isoformat()
    removed = [d for d in days(root) if d < cutoff]
    for d in removed:
        shutil.rmtree(root / d)
    return removed


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
