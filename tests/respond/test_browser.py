"""The respondent's path in headless Chromium (Playwright), by keyboard only, with axe-core.

A live werkzeug server in a thread serves the app; the browser opens a personal link, answers by
keyboard (Tab, Space and arrow keys on the radios, typing the rationale), saves, opens the link
again in a fresh browser to find the draft restored, submits, and sees the thank-you page. axe-core
(bundled with axe-playwright-python, never fetched: every request off this machine is refused)
finds no violations on the landing, form, error and thank-you pages. Screenshots of the form at
1280 and 375 px go to tests/artifacts/; at 320 px the form must not scroll sideways.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright
from werkzeug.serving import make_server

from .conftest import OpenCycle

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Axe()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser, live_server: str) -> Iterator[Callable[..., BrowserContext]]:
    """Fresh browser profiles (no cookies) that may only talk to the live server."""
    contexts: list[BrowserContext] = []
    refused: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    def make(width: int = 1280, height: int = 900) -> BrowserContext:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.route("**/*", guard)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert refused == [], f"the pages tried to fetch from elsewhere: {refused}"


def assert_no_axe_violations(page: Page, what: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"


def focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def tab_until(page: Page, wanted: Callable[[str], bool], limit: int = 120) -> str:
    """Press Tab until the focused element's id satisfies `wanted` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        current = focused_id(page)
        if wanted(current):
            return current
    raise AssertionError("never reached the wanted control by Tab")


def focused_text(page: Page) -> str:
    return str(page.evaluate("document.activeElement.textContent")).strip()


def test_answer_by_keyboard_save_resume_and_submit(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    query: Callable[..., Any],
    ballot_box: Callable[[int], list[Any]],
) -> None:
    oc = make_open_cycle(scope="1A,2B")
    link = live_server + oc.links[0]

    # An invalid link's page.
    page = new_context().new_page()
    response = page.goto(live_server + "/s/not-a-valid-token")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "This link is not valid"
    assert_no_axe_violations(page, "invalid link page")

    # Open the link: it lands on the token-free form.
    page.goto(link)
    assert page.url == live_server + "/survey"
    assert_no_axe_violations(page, "survey form")

    # 1A: Tab to the rating group, Space picks the first radio, arrows move along the scale.
    assert tab_until(page, lambda i: i.startswith("rating-1A-")) == "rating-1A-red"
    page.keyboard.press("Space")
    assert page.is_checked("#rating-1A-red")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.is_checked("#rating-1A-amber-green") and not page.is_checked("#rating-1A-red")
    page.keyboard.press("Tab")
    assert focused_id(page) == "rationale-1A"
    page.keyboard.type("Vision is shared\nbut not yet precise")
    assert page.locator("#rationale-1A-count").inner_text() == "1,964 characters left"
    # 2B: Don't know (the last option: one step back from the first wraps round).
    assert tab_until(page, lambda i: i.startswith("rating-2B-")) == "rating-2B-red"
    page.keyboard.press("Space")
    page.keyboard.press("ArrowLeft")
    assert page.is_checked("#rating-2B-dont-know")
    # Save and come back later.
    tab_until(page, lambda i: focused_text(page) == "Save and come back later")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == live_server + "/survey"
    assert "Your answers are saved" in page.locator("main").inner_text()
    assert query("SELECT count(*) FROM drafts")[0][0] == 1

    # Later, another browser: the link restores the draft.
    later = new_context().new_page()
    later.goto(link)
    assert later.is_checked("#rating-1A-amber-green")
    assert later.is_checked("#rating-2B-dont-know")
    assert later.input_value("#rationale-1A") == "Vision is shared\nbut not yet precise"
    assert "restored the answers you saved" in later.locator("main").inner_text()

    # Change 2B to Green by keyboard and submit.
    tab_until(later, lambda i: i.startswith("rating-2B-"))
    assert focused_id(later) == "rating-2B-dont-know"
    later.keyboard.press("ArrowLeft")
    assert later.is_checked("#rating-2B-green")
    tab_until(later, lambda i: focused_text(later) == "Submit my answers")
    with later.expect_navigation(url=live_server + "/survey/done"):
        later.keyboard.press("Enter")
    assert "your answers have been submitted" in later.locator("h1").inner_text()
    assert_no_axe_violations(later, "thank-you page")
    (ballot,) = ballot_box(oc.cycle.id)
    assert dict(ballot.ratings) == {"1A": "amber-green", "2B": "green"}
    assert ballot.rationales["1A"] == "Vision is shared\nbut not yet precise"
    assert query("SELECT count(*) FROM drafts")[0][0] == 0

    # The link now says it was used.
    later.goto(link)
    assert later.locator("h1").inner_text() == "You have already submitted your answers"
    assert_no_axe_violations(later, "already submitted page")


# Layout and accessibility need nothing of the database: one backend keeps the suite quick.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_form_is_accessible_with_errors_and_fits_small_screens(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
) -> None:
    oc = make_open_cycle(
        scope="start",
        counts={"executive": 2},
        groups=["executive:Executive leaders and chair:open"],
    )
    page = new_context().new_page()
    page.goto(live_server + oc.links[0])
    page.locator("#rating-1A-green").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Submit my answers").click()
    assert page.locator("#error-summary").is_visible()
    assert focused_id(page) == "error-summary"  # survey.js moves focus to the problems
    assert page.is_checked("#rating-1A-green")
    assert_no_axe_violations(page, "form with errors")
    # Following a link in the summary lands on the element's first radio.
    page.locator("#error-summary a").first.click()
    assert page.evaluate("location.hash") == "#rating-1B-red"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 375):
        wide = new_context(width=width).new_page()
        wide.goto(live_server + oc.links[1])
        wide.screenshot(path=str(ARTIFACTS / f"survey-form-{width}.png"), full_page=True)
        assert (ARTIFACTS / f"survey-form-{width}.png").stat().st_size > 10_000

    narrow = new_context(width=320, height=640).new_page()
    narrow.goto(live_server + oc.links[1])
    overflow = narrow.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the form scrolls sideways by {overflow}px at 320px"
    assert_no_axe_violations(narrow, "form at 320px")
