"""The CEO's whole journey in a real browser (headless Chromium through Playwright) against a
live server, with a real SMTP server (aiosmtpd on loopback) receiving the mail:

sign in, create a trust and a cycle, upload a CSV with a bad row and see it flagged, fix it,
launch, run the jobs and find the invitations in the inbox, answer as respondents over HTTP with
the links from those emails, watch the live page's counts change, close, compile, download each
report file, purge. axe-core checks every page; each page is photographed at 1280 and 375 px
under tests/artifacts/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from mail.smtp_sink import SmtpSink
from playwright.sync_api import APIRequestContext, Browser, Page, expect, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

import framework as fw
from jobs.schedule import run_once
from survey.config import update_settings
from survey.db import db
from survey.models import AdminUser, Cycle, CycleState
from survey.services.accounts import hash_password
from survey.timeutil import get_zone, utcnow
from tests.admin.helpers import PASSWORD

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CEO = "ceo@birch.example"
REPORT_FILES = ("report.pdf", "results.xlsx", "summary.csv", "heatmap.png", "report.html")
LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_.\-]+")

PEOPLE_WITH_A_BAD_ROW = """email,name,group,school
exec@birch.example,Erin Exec,executive,
head1@birch.example,Hal Head,headteacher,Birch Primary
head2@birch.example,Hana Head,headteacher,Beech Primary
head3@birch.example,Huw Head,headteacher,Alder Primary
middle1@birch.example,Mo Middle,middle-leadr,Birch Primary
"""


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {**app_config, "MAIL_URL": smtp.url}


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # Links in emails are built from BASE_URL (never from the request), so point it here.
    update_settings(app, BASE_URL=base_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class Checker:
    """Runs axe on a page and photographs it at both widths."""

    def __init__(self, page: Page, backend: str) -> None:
        self.page = page
        self.backend = backend
        self.axe = Axe()
        self.seen: list[str] = []
        ARTIFACTS.mkdir(exist_ok=True)

    def __call__(self, name: str) -> None:
        for width in (1280, 375):
            self.page.set_viewport_size({"width": width, "height": 900})
            results = self.axe.run(self.page)
            report = results.generate_report() if results.violations_count else ""
            assert results.violations_count == 0, f"{name} at {width}px:\n{report}"
            # The screenshots of one backend are enough to look at; both are checked by axe.
            if self.backend == "sqlite":
                path = ARTIFACTS / f"admin-{name}-{width}.png"
                self.page.screenshot(path=str(path), full_page=True)
            scroll_width = self.page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name} scrolls sideways at {width}px"
        self.page.set_viewport_size({"width": 1280, "height": 900})
        self.seen.append(name)


def local_input(value: datetime) -> str:
    return value.astimezone(get_zone("Europe/London")).strftime("%Y-%m-%dT%H:%M")


def run_jobs(app: Flask) -> None:
    outcomes = run_once(app)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]


def answer_survey(request: APIRequestContext, base_url: str, link: str, decline: bool) -> None:
    """A respondent opens their link and submits (or declines) over plain HTTP."""
    landing = request.get(link)
    assert landing.ok and landing.url == f"{base_url}/survey", landing.url
    token = re.search(r'name="csrf_token" value="([^"]+)"', landing.text())
    assert token
    if decline:
        done = request.post(f"{base_url}/survey/decline", form={"csrf_token": token.group(1)})
    else:
        codes = [e.code for e in fw.load_builtin("mat-assurance").elements]
        form = {f"rating-{code}": "amber-green" for code in codes}
        form.update({"csrf_token": token.group(1), "action": "submit"})
        form["rationale-1A"] = "Our vision is shared at every school."
        done = request.post(f"{base_url}/survey", form=form)
    assert done.ok, done.status


def live_cells(page: Page, group: str) -> str:
    row = page.locator("table.live-table tr", has=page.locator(f"th:text-is('{group}')"))
    return " ".join(row.inner_text().split())


def test_the_ceo_runs_a_whole_cycle_in_the_browser(
    app: Flask, live_server: str, smtp: SmtpSink, chromium: Browser, backend: str
) -> None:
    base = live_server
    with app.app_context():
        db.session.add(AdminUser(email=CEO, password_hash=hash_password(PASSWORD)))
        db.session.commit()
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    check = Checker(page, backend)

    # -- sign in ---------------------------------------------------------------------------------
    page.goto(f"{base}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check("login")
    page.get_by_label("Email address").fill(CEO)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The email address or password is not right")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Trusts", exact=True)).to_be_visible()

    # -- a trust and a cycle --------------------------------------------------------------------
    page.get_by_label("Trust name").fill("Birch Academies Trust")
    page.get_by_role("button", name="Add trust").click()
    expect(page.get_by_role("heading", name="Birch Academies Trust")).to_be_visible()
    check("trust")

    # -- the trust's frameworks: a bad file is refused with its line; a preview ------------------
    page.get_by_role("link", name="Frameworks").click()
    check("frameworks")
    page.get_by_label("Or paste the framework's text").fill("key: ours\ntitle: Ours\nscale: [\n")
    page.get_by_role("button", name="Check and add the framework").click()
    expect(page.get_by_text("nothing has been saved")).to_be_visible()
    check("frameworks-error")
    page.get_by_role("link", name=fw.load_builtin("mat-assurance").title).click()
    summary = page.get_by_text("Questions to start with: 42 questions over 14 elements")
    expect(summary).to_be_visible()
    check("framework-preview")
    page.get_by_role("link", name="Trusts").first.click()
    check("trusts")
    page.get_by_role("link", name="Birch Academies Trust").click()
    page.get_by_role("link", name="Start a new cycle").click()
    expect(
        page.get_by_text("Questions to start with: 42 questions over 14 elements")
    ).to_be_visible()
    check("cycle-form")
    page.get_by_role("button", name="Create draft cycle").click()  # empty: errors first
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    check("cycle-form-errors")
    now = utcnow()
    page.get_by_label("Title").fill("Self-review, summer term")
    page.get_by_label("Opens").fill(local_input(now - timedelta(hours=1)))
    page.get_by_label("Closes").fill(local_input(now + timedelta(days=14)))
    page.get_by_label("Open (group 1)").check()  # the executive team is small: an open group
    page.get_by_label("Who receives the report").fill("ceo@birch.example, chair@birch.example")
    page.get_by_role("button", name="Create draft cycle").click()
    expect(page.get_by_role("heading", name="Self-review, summer term")).to_be_visible()
    check("cycle-draft")
    cycle_url = page.url
    cycle_id = int(cycle_url.rsplit("/", 1)[1])

    # -- who the invitations come from: a named person, with a note, previewed -------------------
    page.get_by_role("link", name="Say who the invitations come from").click()
    page.get_by_label("Sender\u2019s name").fill("Alex Birch")
    page.get_by_label("Their role").fill("Chief Executive")
    page.get_by_label("Replies go to").fill("alex@birch.example")
    page.get_by_label("A personal note (optional)").fill("Your view shapes next year's plan.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Alex Birch, Chief Executive, is asking for your view")).to_be_visible()
    check("sender")
    page.goto(cycle_url)

    # -- recipients: a bad row is flagged, nothing saved; fixed, then confirmed --------------------
    page.get_by_role("link", name="Add people from a file").click()
    check("recipients")
    page.get_by_label("CSV file").set_input_files(
        files=[
            {"name": "people.csv", "mimeType": "text/csv", "buffer": PEOPLE_WITH_A_BAD_ROW.encode()}
        ]
    )
    page.get_by_role("button", name="Check the rows").click()
    expect(page.get_by_text("nothing has been saved")).to_be_visible()
    bad_rows = page.locator("tr.row-bad")
    expect(bad_rows).to_have_count(1)
    expect(bad_rows).to_contain_text("unknown group 'middle-leadr'")
    expect(page.locator("table.preview-table tbody tr")).to_have_count(5)
    check("recipients-bad-row")
    box = page.get_by_label("Or paste the rows, with the header line first")
    box.fill(box.input_value().replace("middle-leadr", "middle-leader"))
    page.get_by_role("button", name="Check the rows").click()
    expect(page.get_by_text("Everything checks out")).to_be_visible()
    check("recipients-preview")
    page.get_by_role("button", name="Add these 5 people").click()
    expect(page.get_by_text("5 people added to the cycle.")).to_be_visible()
    check("invitations-draft")

    # -- launch -----------------------------------------------------------------------------------
    page.goto(cycle_url)
    page.get_by_role("link", name="Launch", exact=True).first.click()
    expect(page.get_by_text("5 people", exact=True)).to_be_visible()
    check("launch")
    page.get_by_role("button", name="Launch the cycle").click()
    expect(page.get_by_text("the cycle is open and the invitations are being sent")).to_be_visible()

    run_jobs(app)
    assert smtp.wait_for_unique(5, timeout=20) == 5
    links = {}
    for received in smtp.snapshot():
        text = received.message.get_body(preferencelist=("plain",))
        assert text is not None
        found = LINK.search(text.get_content())
        assert found, "an invitation without a link"
        assert "Alex Birch (Birch Academies Trust)" in str(received.message["From"])
        assert str(received.message["Reply-To"]) == "alex@birch.example"
        assert "Your view shapes next year's plan." in text.get_content()
        links[received.recipients[0]] = found.group(0)
    assert sorted(links) == sorted(
        ["exec@birch.example", "middle1@birch.example"]
        + [f"head{i}@birch.example" for i in (1, 2, 3)]
    )
    page.goto(f"{cycle_url}/invitations")
    expect(page.get_by_text("Sent", exact=True)).to_have_count(5)
    check("invitations")

    # -- respondents answer; the live page counts change, small groups masked -------------------
    page.goto(cycle_url)
    assert live_cells(page, "Headteachers") == "Headteachers 3 fewer than 3 hidden 0"
    respondent = chromium.new_context()
    for email, decline in (
        ("exec@birch.example", False),
        ("head1@birch.example", False),
        ("head2@birch.example", False),
        ("middle1@birch.example", True),
    ):
        respondent.clear_cookies()
        answer_survey(respondent.request, base, links[email], decline)
    page.reload()
    assert "1 of 1 (100%)" in live_cells(page, "Executive leaders and chair")
    assert live_cells(page, "Headteachers") == "Headteachers 3 fewer than 3 hidden 0"
    respondent.clear_cookies()
    answer_survey(respondent.request, base, links["head3@birch.example"], False)
    respondent.close()
    page.reload()
    assert live_cells(page, "Headteachers") == "Headteachers 3 3 of 3 (100%) 0 0"
    expect(page.get_by_text("until at least 3 of its members")).to_be_visible()
    check("live")
    page.get_by_role("link", name="Remind everyone who has not answered, now").click()
    check("remind")
    page.get_by_role("button", name="Send the reminders").click()
    expect(page.get_by_text("A reminder is on its way")).to_be_visible()

    # -- close early, compile, read and download ---------------------------------------------------
    page.get_by_role("link", name="Close early").click()
    check("close")
    page.get_by_role("button", name="Close the cycle now").click()
    expect(page.get_by_text("The report is being compiled")).to_be_visible()
    run_jobs(app)
    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None and cycle.state == CycleState.REPORTED
    assert smtp.wait_for_unique(7, timeout=20) == 7  # the report to its two recipients
    page.reload()
    page.get_by_role("link", name="Read the report and download its files").click()
    expect(page.get_by_role("heading", name="Download")).to_be_visible()
    check("report")
    for name in REPORT_FILES:
        with page.expect_download() as info:
            page.locator(f"a[href$='/report/{name}']").click()
        download = info.value
        assert download.suggested_filename == f"birch-academies-trust-cycle-{cycle_id}-{name}"
        saved = Path(download.path())
        assert saved.stat().st_size > 100, name

    # -- audit log, purge --------------------------------------------------------------------------
    page.goto(f"{base}/admin/trusts/birch-academies-trust/audit")
    for action in ("admin.sign-in", "cycle.launch", "cycle.close", "report.download"):
        expect(page.get_by_role("cell", name=action, exact=True).first).to_be_visible()
    check("audit")
    page.goto(f"{cycle_url}/purge")
    check("purge")
    page.get_by_role("button", name="Remove personal data").click()
    expect(
        page.get_by_text("Names and email addresses removed from 5 invitations.")
    ).to_be_visible()
    check("cycle-purged")
    page.get_by_role("link", name="Copy this cycle into a new draft").click()
    check("copy")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_text("Check its dates and set-up before you launch")).to_be_visible()
    context.close()
    assert len(check.seen) == 24
