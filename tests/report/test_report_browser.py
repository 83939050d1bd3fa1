"""The report in a real browser: Debian's Chromium, headless, driven by playwright's Python API
(the system browser: playwright's own browser downloads are not used). The page must run without
a script error, draw its plots, and play a login session to its end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import needs_browser, open_page
from tests.unit.report_capture import HID, HOSTILE, make_capture
from vhoneynet.report import write_report
from vhoneynet.topology import load

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, needs_browser]


def report_page(tmp_path: Path, topology: bool = True) -> Path:
    make_capture(tmp_path)
    topo = load(REPO / "topologies" / "demo.yml").model_copy(update={"id": HID}) if topology else None
    out = tmp_path / "report.html"
    write_report(HID, out, tmp_path, capture_dir=tmp_path / "captures", topology=topo)
    return out


def test_report_runs_draws_and_plays_in_chromium(browser, tmp_path: Path):
    page, problems, requests = open_page(browser, report_page(tmp_path))
    # the plots: uPlot draws on canvases, inside each plot's element
    for plot in ("#timeline-plot", "#outbound-plot"):
        box = page.locator(f"{plot} canvas").first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, plot
    box = page.locator(".topology svg").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50
    # the player: empty until played, then the session's frames, all of them, as text
    term = page.locator(".player .term").first
    assert term.inner_text() == ""
    page.select_option(".player .speed", "20")
    page.click(".player .play")
    page.wait_for_selector(".player[data-state=ended]", timeout=15000)  # no wait_for_function: the page's CSP forbids eval
    frames = page.evaluate("JSON.parse(document.getElementById('report-data').textContent).sessions[0].frames")
    played = term.evaluate("el => el.textContent")
    assert played == "".join(text for _, text in frames)
    assert f"[typed into cat] hello {HOSTILE}" in played and "$ uname -a" in played
    assert page.locator(".term script, .term img").count() == 0  # captured text never became markup
    assert page.locator(".player .cast").get_attribute("href").startswith("blob:")
    assert problems == [] and requests == []


def test_player_pauses_and_resumes(browser, tmp_path: Path):
    page, problems, _ = open_page(browser, report_page(tmp_path))
    page.select_option(".player .speed", "1")
    page.click(".player .play")
    page.wait_for_timeout(300)
    page.click(".player .play")  # pause: the first frame only (the next comes 2 s later)
    paused = page.locator(".player .term").inner_text()
    page.wait_for_timeout(2500)
    assert page.locator(".player .term").inner_text() == paused and paused.strip() == "$ uname -a"
    page.select_option(".player .speed", "20")
    page.click(".player .play")
    page.wait_for_selector(".player[data-state=ended]", timeout=15000)  # no wait_for_function: the page's CSP forbids eval
    assert "exit" in page.locator(".player .term").inner_text() and problems == []


def test_report_without_topology_runs_too(browser, tmp_path: Path):
    page, problems, _ = open_page(browser, report_page(tmp_path, topology=False))
    assert page.locator("#timeline-plot canvas").count() >= 1 and problems == []


def test_empty_report_runs_without_error(browser, tmp_path: Path):
    (tmp_path / "captures" / HID / "gateway").mkdir(parents=True)
    out = tmp_path / "empty.html"
    write_report(HID, out, tmp_path)
    page, problems, requests = open_page(browser, out)
    assert page.locator(".player").count() == 0 and problems == [] and requests == []
