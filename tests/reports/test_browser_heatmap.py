"""The web report's heat map at 375 px in Chromium: still a grid (it scrolls sideways in its own
box, the element names stay in view), no cell's words overflow it or break one word per line,
and no column header overlaps another (compared by bounding boxes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2 import Environment
from playwright.sync_api import Browser, sync_playwright

from survey.reports.compile import build_report
from survey.reports.outputs import render_report_html

from .factories import expand
from .test_rankings import ALL_CODES, make_inputs

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


def test_heat_map_at_375_px_is_a_readable_grid(
    jinja_env: Environment, chromium: Browser, tmp_path: Path
) -> None:
    mixed = expand({"red": 1, "amber-red": 2, "amber-green": 3, "green": 1})
    groups = [
        ("executive", True, {c: ["green", "amber-green", "green"] for c in ALL_CODES}),
        ("headteacher", False, {c: mixed for c in ALL_CODES}),
        ("middle-leader", False, {c: mixed[::-1] for c in ALL_CODES}),
        ("trustee", False, {c: ["red", "green"] for c in ALL_CODES}),
    ]
    report = build_report(make_inputs(groups))
    page_file = tmp_path / "report.html"
    page_file.write_text(str(render_report_html(report, env=jinja_env)))

    page = chromium.new_page(viewport={"width": 375, "height": 800})
    page.goto(page_file.as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#heat-map").screenshot(path=str(ARTIFACTS / "report-heatmap-375.png"))

    # The page itself does not scroll sideways: the heat map scrolls in its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    box = page.locator(".heatmap-scroll")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth")

    # Every cell's words fit inside it, and a band's words stay on one line.
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('.heatmap td, .heatmap thead th')]
                .filter(c => c.scrollWidth > c.clientWidth + 1)
                .map(c => c.textContent.trim())"""
    )
    assert overflowing == []
    words = page.locator(".heatmap .band-word")
    assert words.count() == 14 * 4  # three groups shown and the trust-wide column
    line = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.heatmap .band-word'))"
        ".lineHeight)"
    )
    heights = words.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) < 1.5 * line, "a band's words broke over two lines"
    # No cell is much wider than its words (no one-word-per-line squeeze, no vast cells).
    ratios = page.evaluate(
        """() => [...document.querySelectorAll('.heatmap td .band-word')].map(w => {
                const cell = w.parentElement.getBoundingClientRect().width;
                return cell / w.getBoundingClientRect().width; })"""
    )
    assert max(ratios) < 3.5

    # Column headers do not overlap one another.
    boxes = page.locator(".heatmap thead th").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; })"
    )
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_x = min(a[2], b[2]) - max(a[0], b[0])
            overlap_y = min(a[3], b[3]) - max(a[1], b[1])
            assert overlap_x <= 0.5 or overlap_y <= 0.5, (a, b)

    # Scrolled to the far right, the element names are still in view (sticky).
    box.evaluate("e => { e.scrollLeft = e.scrollWidth; }")
    name = page.locator(".heatmap tbody th.element").first.bounding_box()
    container = box.bounding_box()
    assert name is not None and container is not None
    assert abs(name["x"] - container["x"]) < 2
    page.close()
