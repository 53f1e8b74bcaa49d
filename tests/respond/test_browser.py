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
import time
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

    def make(width: int = 1280, height: int = 900, javascript: bool = True) -> BrowserContext:
        context = browser.new_context(
            viewport={"width": width, "height": height}, java_script_enabled=javascript
        )
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

    # 1A, on the landing page: Tab to the rating group, Space picks the first radio, arrows
    # move along the scale.
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
    tab_until(page, lambda i: focused_text(page) == "Save and continue")
    with page.expect_navigation(url=live_server + "/survey/page/2"):
        page.keyboard.press("Enter")
    assert query("SELECT count(*) FROM drafts")[0][0] == 1
    # 2B: Don't know (the last option: one step back from the first wraps round).
    assert tab_until(page, lambda i: i.startswith("rating-2B-")) == "rating-2B-red"
    page.keyboard.press("Space")
    page.keyboard.press("ArrowLeft")
    assert page.is_checked("#rating-2B-dont-know")
    tab_until(page, lambda i: focused_text(page) == "Save and go to review")
    with page.expect_navigation(url=live_server + "/survey/review"):
        page.keyboard.press("Enter")
    assert "You have rated 2 of 2 elements." in page.locator("main").inner_text()

    # Later, another browser: the link restores the draft.
    later = new_context().new_page()
    later.goto(link)
    assert later.is_checked("#rating-1A-amber-green")
    assert later.input_value("#rationale-1A") == "Vision is shared\nbut not yet precise"
    assert "restored the answers you saved" in later.locator("main").inner_text()
    tab_until(later, lambda i: focused_text(later).startswith("Check your answers"))
    with later.expect_navigation(url=live_server + "/survey/review"):
        later.keyboard.press("Enter")
    assert "Don't know / not enough evidence" in later.locator("#review-2B dd").inner_text()

    # Change 2B to Green by keyboard from the review, and submit.
    tab_until(later, lambda i: focused_text(later).startswith("Change your answer for 2B"))
    with later.expect_navigation():
        later.keyboard.press("Enter")
    tab_until(later, lambda i: i.startswith("rating-2B-"))
    assert focused_id(later) == "rating-2B-dont-know"
    later.keyboard.press("ArrowLeft")
    assert later.is_checked("#rating-2B-green")
    tab_until(later, lambda i: focused_text(later) == "Save and go to review")
    with later.expect_navigation(url=live_server + "/survey/review"):
        later.keyboard.press("Enter")
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
        page.get_by_role("button", name="Save and continue").click()
    page.goto(live_server + "/survey/review")
    # Submitting from the review with elements unrated: the review again, 422, problems first.
    with page.expect_navigation():
        page.get_by_role("button", name="Submit my answers").click()
    assert page.locator("#error-summary").is_visible()
    assert focused_id(page) == "error-summary"  # survey.js moves focus to the problems
    assert "Green" in page.locator("#review-1A dd").inner_text()
    assert_no_axe_violations(page, "review with errors")
    page.locator("#error-summary a").first.click()
    assert page.evaluate("location.hash") == "#review-1B"
    # The whole form posted at once (as a script, or without the review page): the whole form
    # again, 422, every answer kept.
    page.evaluate("document.querySelector('input[name=from]').remove()")
    with page.expect_navigation():
        page.get_by_role("button", name="Submit my answers").click()
    assert page.locator("#error-summary").is_visible()
    assert focused_id(page) == "error-summary"
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


# -- the form one heading per page (issue 16) ---------------------------------------------------

KEYS = ["red", "amber-red", "amber-green", "green", "dont-know"]
WORDS = {
    "red": "Red",
    "amber-red": "Amber red",
    "amber-green": "Amber green",
    "green": "Green",
    "dont-know": "Don't know / not enough evidence",
}


def _codes_on(page: Page) -> list[str]:
    ids = page.eval_on_selector_all("fieldset.element", "els => els.map(e => e.id)")
    return [str(i).removeprefix("element-") for i in ids]


def _rate_by_keyboard(page: Page, code: str, key: str) -> None:
    """Tab to the element's radios, Space picks the first, arrows move to `key`."""
    assert tab_until(page, lambda i: i.startswith(f"rating-{code}-")) == f"rating-{code}-red"
    page.keyboard.press("Space")
    for _ in range(KEYS.index(key)):
        page.keyboard.press("ArrowRight")
    assert page.is_checked(f"#rating-{code}-{key}")


def _press_button(page: Page, label: str, url: str | None = None) -> None:
    tab_until(page, lambda i: focused_text(page) == label)
    with page.expect_navigation(url=url):
        page.keyboard.press("Enter")


def _answer_every_page(
    page: Page,
    live_server: str,
    chosen: dict[str, str],
    rationales: dict[str, str],
    on_page: Callable[[int], None] = lambda number: None,
) -> list[str]:
    """Answer each page by keyboard, then "Save and continue"; returns every code seen, in
    order. `on_page(number)` runs once a page is answered, before it is saved."""
    seen: list[str] = []
    number = 1
    while True:
        codes = _codes_on(page)
        assert codes, page.url
        for code in codes:
            _rate_by_keyboard(page, code, chosen[code])
            if code in rationales:
                page.keyboard.press("Tab")
                assert focused_id(page) == f"rationale-{code}"
                page.keyboard.type(rationales[code])
        seen += codes
        on_page(number)
        label = page.locator("#form-actions button").inner_text()
        if label == "Save and go to review":
            _press_button(page, label, live_server + "/survey/review")
            return seen
        _press_button(page, "Save and continue", f"{live_server}/survey/page/{number + 1}")
        number += 1
        assert page.locator(".progress-label").inner_text().startswith(f"Heading {number} of ")


def _change_from_review(page: Page, live_server: str, code: str, key: str) -> None:
    """From the review page, follow "Change" for `code` by keyboard and pick `key`."""
    tab_until(
        page,
        lambda i: (
            focused_text(page)
            == f"Change your answer for {code} "
            + (page.locator(f"#review-{code} dt").inner_text().split(" ", 1)[1])
        ),
    )
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "return=review" in page.url and page.url.endswith(f"#element-{code}")
    # The page opens at the element (Chromium starts Tab from there once it has scrolled);
    # Tab reaches its radios, focusing the chosen one.
    assert tab_until(page, lambda i: i.startswith(f"rating-{code}-")) != f"rating-{code}-red" or (
        page.is_checked(f"#rating-{code}-red")
    )
    page.keyboard.press("Space")
    current = focused_id(page).removeprefix(f"rating-{code}-")
    for _ in range((KEYS.index(key) - KEYS.index(current)) % len(KEYS)):
        page.keyboard.press("ArrowRight")
    assert page.is_checked(f"#rating-{code}-{key}")
    _press_button(page, "Save and go to review", live_server + "/survey/review")


def _journey(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    ballot_box: Callable[[int], list[Any]],
    draft_of: Callable[..., Any],
    *,
    javascript: bool,
) -> None:
    oc = make_open_cycle(scope="start")
    context = new_context(width=375, height=800, javascript=javascript)
    page = context.new_page()
    page.goto(live_server + oc.links[0])
    assert page.url == live_server + "/survey"
    assert "It takes about 35 minutes" in page.locator("main").inner_text()
    codes = ["1A", "1B", "1C", "2A", "2B", "3A", "3B", "3C", "4A", "4B", "5A", "5B", "6A", "6B"]
    chosen = {code: KEYS[i % len(KEYS)] for i, code in enumerate(codes)}
    rationales = {"1A": "Vision shared\nwith trustees", "3B": "Audits termly", "6B": "Board"}

    def reload_midway(number: int) -> None:
        if number != 3:
            return
        on_page = _codes_on(page)
        if javascript:
            # Autosave: a few seconds after the last key, the page says so quietly.
            status = page.locator("#autosave-status")
            status.filter(has_text="Saved").wait_for(timeout=15_000)
            assert status.get_attribute("role") == "status"
            assert focused_id(page) == f"rationale-{on_page[-1]}" or focused_id(page).startswith(
                f"rating-{on_page[-1]}-"
            )  # focus never moved
            draft = draft_of(oc.invitations[0])
            assert draft is not None
            assert {c: draft.ratings.get(c) for c in on_page} == {c: chosen[c] for c in on_page}
            page.reload()
            for code in on_page:
                assert page.is_checked(f"#rating-{code}-{chosen[code]}"), code
            assert page.input_value("#rationale-3B") == rationales["3B"]
            # Back on the reloaded page by keyboard, as a person would carry on.
            for code in on_page:
                tab_until(page, lambda i, c=code: i.startswith(f"rating-{c}-"))
        else:
            # Without JavaScript, nothing on this page is saved until "Save and continue".
            draft = draft_of(oc.invitations[0])
            assert draft is not None and all(c not in draft.ratings for c in on_page)

    seen = _answer_every_page(page, live_server, chosen, rationales, reload_midway)
    assert seen == codes  # every page, every element, in framework order

    # The review lists every element with its rating.
    main = page.locator("main").inner_text()
    assert "You have rated 14 of 14 elements." in main
    for code in codes:
        assert WORDS[chosen[code]] in page.locator(f"#review-{code} dd").inner_text()
    assert "Vision shared\nwith trustees" in page.locator("#review-1A dd").inner_text()
    # Change one rating from the review page.
    chosen["2A"] = "green" if chosen["2A"] != "green" else "red"
    _change_from_review(page, live_server, "2A", chosen["2A"])
    assert WORDS[chosen["2A"]] in page.locator("#review-2A dd").inner_text()
    _press_button(page, "Submit my answers", live_server + "/survey/done")
    assert "your answers have been submitted" in page.locator("h1").inner_text()

    (ballot,) = ballot_box(oc.cycle.id)
    assert dict(ballot.ratings) == chosen
    assert dict(ballot.rationales) == rationales


def test_a_phone_answers_page_by_page_by_keyboard_with_autosave_review_and_change(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    ballot_box: Callable[[int], list[Any]],
    draft_of: Callable[..., Any],
) -> None:
    _journey(make_open_cycle, live_server, new_context, ballot_box, draft_of, javascript=True)


def test_the_same_journey_without_javascript_saves_with_save_and_continue(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    ballot_box: Callable[[int], list[Any]],
    draft_of: Callable[..., Any],
) -> None:
    _journey(make_open_cycle, live_server, new_context, ballot_box, draft_of, javascript=False)


def _weight(page: Page, url: str) -> tuple[int, int]:
    """(bytes of the page's HTML, bytes of it with everything it loads: CSS, JavaScript),
    as served, uncompressed."""
    sizes: dict[str, int] = {}

    def record(response: Any) -> None:
        sizes[response.url] = len(response.body())

    page.on("response", record)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.remove_listener("response", record)
    return sizes[url], sum(sizes.values())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_page_review_and_decline_are_accessible_at_320_375_and_1280(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    client: Any,
) -> None:
    oc = make_open_cycle(
        scope="all",
        counts={"executive": 2, "headteacher": 3},
        groups=["executive:Executive leaders and chair:open", "headteacher:Headteachers"],
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    paths = [
        ("landing", "/survey"),
        *[(f"page-{n}", f"/survey/page/{n}") for n in range(1, 7)],
        ("review", "/survey/review"),
        ("decline", "/survey/decline?back=review"),
    ]
    for width, key in ((320, "green"), (375, "red"), (1280, "amber-green")):
        page = new_context(width=width, height=800).new_page()
        page.goto(live_server + oc.links[0])
        page.locator(f"#rating-1A-{key}").check()  # something to review, saved by autosave
        page.locator("#autosave-status").filter(has_text="Saved").wait_for(timeout=15_000)
        for name, path in paths:
            page.goto(live_server + path)
            assert_no_axe_violations(page, f"{name} at {width}px")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
            shot = ARTIFACTS / f"paged-{name}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5_000
        # The open group's landing page leads with what is true for them.
        if width == 375:
            page.goto(live_server + "/survey")
            first = page.locator("#anonymity h2").first.inner_text()
            assert first == "Your group's ratings are shown as a group, even though it is small"

    # The first page's weight against the whole form on one page (the whole-form POST's
    # re-display, which is what GET /survey was before), HTML + CSS + JavaScript.
    other = new_context(width=375).new_page()
    other.goto(live_server + oc.links[2])
    html_bytes, first = _weight(other, live_server + "/survey")
    whole_html = other.evaluate(
        """async () => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const body = new URLSearchParams({csrf_token: token, action: 'submit'});
            const r = await fetch('/survey', {method: 'POST', body});
            return new TextEncoder().encode(await r.text()).length;
        }"""
    )
    whole = whole_html + first - html_bytes
    print(f"\nfirst page {first:,} bytes (HTML {html_bytes:,}); whole form on one page {whole:,}")
    assert first <= 115_000
    assert first < whole / 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_leaving_a_page_saves_what_was_just_typed(
    make_open_cycle: Callable[..., OpenCycle],
    live_server: str,
    new_context: Callable[..., BrowserContext],
    draft_of: Callable[..., Any],
) -> None:
    """Typed, then the Back link at once (before the autosave's pause is over): the page's
    answers are sent as it goes."""
    oc = make_open_cycle(scope="1A,2B")
    page = new_context(width=375).new_page()
    page.goto(live_server + oc.links[0])
    page.goto(live_server + "/survey/page/2")
    page.locator("#rating-2B-amber-red").check()
    page.locator("#rationale-2B").fill("Typed just before the bell")
    assert page.locator("#autosave-status").inner_text() == ""  # not saved yet
    with page.expect_navigation(url=live_server + "/survey"):
        page.get_by_role("link", name="Back").click()
    deadline = time.monotonic() + 10
    while (draft := draft_of(oc.invitations[0])) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert draft is not None
    assert dict(draft.ratings) == {"2B": "amber-red"}
    assert dict(draft.rationales) == {"2B": "Typed just before the bell"}
