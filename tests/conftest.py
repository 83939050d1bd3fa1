"""Shared test helpers: golden files, unique names, paths."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the `test` extra not installed
    sync_playwright = None

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


ISSUED_IDS: list[str] = []  # this process's test honeynets: their kept warm states go at the end


def unique_id() -> str:
    """A honeynet id for one test: 'v' + 7 hex digits, so every host name starts with 'vhn'."""
    hid = "v" + secrets.token_hex(4)[:7]
    ISSUED_IDS.append(hid)
    return hid


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The warm states `up` kept for the test honeynets of this process (a test that brought one
    up through the CLI included): a test leaves nothing behind on the host."""
    if ISSUED_IDS and os.geteuid() == 0:
        from vhoneynet.topology.model import DEFAULT_STORAGE
        from vhoneynet.warmstore import WarmStore

        WarmStore(DEFAULT_STORAGE).prune(ISSUED_IDS)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_browser = pytest.mark.skipif(
    sync_playwright is None or not os.access(CHROMIUM, os.X_OK),
    reason="needs playwright (pip install -e '.[test]') and Debian's chromium (apt-get install chromium)")


@pytest.fixture
def browser():
    """Debian's Chromium, headless, through playwright (its own browser downloads are never used)."""
    with sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox cannot start as root, which the tests run as
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser, path: Path):
    """Open a local page; returns it, the script problems it shows, and any request it makes out."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))  # alert(1) would be one
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, problems, requests


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
