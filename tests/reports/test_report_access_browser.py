"""In Chromium, checked with axe and photographed at 1280 and 375 px: the held report's review
page (hide a comment, release), the recipients' links page, and the read-only report a link
opens with nobody signed in (and the page a withdrawn link gets)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy.orm import Session

from jobs.schedule import run_once
from survey.models import AdminUser
from survey.services.accounts import hash_password
from survey.services.report_review import set_report_hold
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD
from tests.admin.test_browser_journey import Checker, chromium, live_server  # noqa: F401

from .conftest import Golden

pytestmark = pytest.mark.browser
HIDE_ME = "Teaching is observed termly"


def run_jobs(app: Flask, session: Session) -> None:
    session.commit()
    outcomes = run_once(app, utcnow(), force=True)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    session.expire_all()


def report_link(outbox: Path) -> str:
    [eml] = list(outbox.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"(http://127\.0\.0\.1:\d+/r/\S+)", body.get_content())
    assert found
    return found.group(1)


def test_review_links_and_reader_pages_are_accessible(
    app: Flask,
    session: Session,
    golden: Golden,
    live_server: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    backend: str,
    tmp_path: Path,
) -> None:
    cycle = golden.cycle
    cycle_id = cycle.id  # the test's session then holds no transaction (SQLite's write lock)
    set_report_hold(session, cycle, True, "test")
    session.add(
        AdminUser(
            email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[cycle.trust]
        )
    )
    run_jobs(app, session)

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    check = Checker(page, backend)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email address").fill("ceo@oak.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/admin/cycles/{cycle_id}")
    assert "The report is held for your review" in page.locator("#report-access").inner_text()
    check("cycle-report-held")
    page.get_by_role("link", name="Review the comments and release the report").click()
    assert HIDE_ME in page.content()
    check("report-review")
    page.get_by_role("button", name="Hide this comment on 3A from the report").click()
    assert "The comment on 3A is hidden" in page.locator(".flash").inner_text()
    assert page.get_by_role("button", name="Show this comment on 3A in the report again").count()
    check("report-review-hidden")
    page.get_by_role("button", name="Release and email the report").click()
    assert "Released with 1 comment hidden" in page.locator(".flash").inner_text()

    run_jobs(app, session)
    link = report_link(tmp_path / "outbox")
    page.goto(f"{live_server}/admin/cycles/{cycle_id}/report/links")
    assert "ceo@oak.example" in page.locator(".report-links").inner_text()
    check("report-links")

    reader_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    reader = reader_context.new_page()
    read = Checker(reader, backend)
    reader.goto(link)
    assert reader.locator("h1").first.inner_text() == "Report: Spring 2026 review"
    assert "1 comment was left out" in reader.content()
    assert HIDE_ME not in reader.content()
    read("reader-report")

    page.get_by_role("button", name="Withdraw the link for ceo@oak.example").click()
    assert "no longer works" in page.locator(".flash").inner_text()
    reader.goto(link)
    assert reader.locator("h1").first.inner_text() == "This link is not valid"
    read("reader-invalid")
    reader_context.close()
    context.close()
