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
