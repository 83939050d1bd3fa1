"""A private PostgreSQL server for a test: Debian's binaries, its own data folder and unix socket,
run as the postgres user, removed afterwards. Nothing of the host's clusters is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def available() -> bool:
    return os.geteuid() == 0 and _bindir() is not None and shutil.which("runuser") is not None


@contextmanager
def cluster() -> Iterator[str]:
    """Start a throw-away server; yields its libpq connection string."""
    bindir = _bindir()
    work = Path(tempfile.mkdtemp(prefix="vhnpg"))
    work.chmod(0o755)
    shutil.chown(work, "postgres", "postgres")
    data, log = work / "data", work / "server.log"

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120)

    try:
        as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                    f"-k {work} -p 5432 -c listen_addresses='' -c fsync=off", "start")
        yield f"host={work} port=5432 user=postgres dbname=postgres"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)
