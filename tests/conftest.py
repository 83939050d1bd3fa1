"""Shared test helpers: golden files, unique names, paths."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture(autouse=True)
def keep_umask():
    """The CLI sets umask 077 for its process; a test running it in this one (typer's CliRunner)
    must not leave it for the tests after it."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """golden(name, text): compare with tests/data/golden/<name>; --regen-golden rewrites it."""
    regen = request.config.getoption("--regen-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if regen:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"no golden file {path}; run pytest --regen-golden"
        assert text == path.read_text(), f"{name} differs from its golden file (pytest --regen-golden to accept)"

    return check


def unique_id() -> str:
    """A honeynet id for one test: 'v' + 7 hex digits, so every host name starts with 'vhn'."""
    return "v" + secrets.token_hex(4)[:7]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker under --dist loadgroup: refuse to run if the groups did not take.

    Tests of one xdist_group share a session honeynet; if the grouping silently stops (as with
    pytest 9.2, pytest-xdist#1386), each worker would boot its own and double the VM load.
    """
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in session.items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(f"--dist loadgroup did not group {lost[0]} (and {len(lost) - 1} more): "
                                "this pytest/pytest-xdist pair ignores xdist_group; see pyproject.toml")
