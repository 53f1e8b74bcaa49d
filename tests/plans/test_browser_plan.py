"""Issue 18 in a real browser (headless Chromium through Playwright) against a live server: the
CEO fills the worksheet (agreed ratings, priorities), adds an action with a progress note,
downloads the plan, and previews "you said, we did". axe-core checks every page at 1280 and
375 px; each is photographed under tests/artifacts/ (admin-plan-*.png)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import ActionStatus, PlanAction, PlanElement, Trust
from tests.admin.helpers import PASSWORD
from tests.admin.test_browser_journey import Checker, chromium, live_server  # noqa: F401

from .conftest import Reported

pytestmark = pytest.mark.browser


def test_the_ceo_fills_the_worksheet_and_the_plan_in_the_browser(
    app: Flask,
    session: Session,
    live_server: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    backend: str,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
) -> None:
    trust = make_trust("Birch Academies Trust")
    ceo = make_admin("ceo@birch.example", trust)
    cycle = reported(trust).cycle
    cycle_id = cycle.id
    session.commit()

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    check = Checker(page, backend)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email address").fill(ceo.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin/cycles/{cycle_id}")
    page.get_by_role("link", name="Agreed ratings, priorities and actions").click()
    expect(page.get_by_role("heading", name="From findings to a plan")).to_be_visible()
    check("plan-worksheet")

    # The worksheet: agreed ratings with a rationale, three priorities.
    for code, level in (("2A", "Amber red"), ("3B", "Red"), ("5A", "Amber red"), ("1A", "Green")):
        element = page.locator(f"#element-{code}")
        element.get_by_label(level, exact=True).check()
        element.get_by_label("Why leadership agreed this").fill(f"Agreed for {code} in the meeting")
        if code != "1A":
            element.get_by_label(f"{code} is one of our priorities").check()
    page.get_by_role("button", name="Save the worksheet").first.click()
    expect(page.get_by_text("Saved: 4 elements changed.")).to_be_visible()
    check("plan-saved")

    # An action for 2A, then a status change and a progress note.
    page.get_by_role("link", name="Add an action to 2A").click()
    page.get_by_label("What will be done").fill("Agree one moderation calendar for every school")
    page.get_by_label("Owner").fill("Director of Education")
    page.get_by_label("Due by").fill("2026-12-18")
    page.get_by_label("How we will know it has worked").fill("Every school moderates together")
    check("plan-action-new")
    page.get_by_role("button", name="Add the action").click()
    expect(page.get_by_text("Action added to 2A.")).to_be_visible()
    page.get_by_role("link", name="Update the action or add a progress note").click()
    page.get_by_label("Under way").check()
    page.get_by_role("button", name="Save the action").click()
    expect(page.get_by_text("Action saved.")).to_be_visible()
    page.get_by_role("link", name="Update the action or add a progress note").click()
    page.get_by_label("Add a progress note").fill("Calendar drafted with the heads")
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_text("Progress note added.")).to_be_visible()
    check("plan-action-edit")

    # The plan's PDF from the page.
    page.get_by_role("link", name="Back to the plan").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the improvement plan (PDF, A4)").click()
    assert download.value.suggested_filename.endswith("plan.pdf")

    # "You said, we did": edit, preview.
    page.get_by_role("link", name="“You said, we did”").first.click()
    page.get_by_label("Opening").fill("Thank you to everyone we asked.")
    page.get_by_role("button", name="Save and preview").click()
    expect(page.locator("pre.email-preview")).to_contain_text("Thank you to everyone we asked.")
    expect(page.locator("pre.email-preview")).to_contain_text("Agree one moderation calendar")
    check("plan-you-said")
    context.close()

    session.expire_all()
    rows = {r.element_code: r for r in session.scalars(select(PlanElement))}
    assert {c for c, r in rows.items() if r.is_priority} == {"2A", "3B", "5A"}
    assert rows["1A"].agreed_key == "green" and not rows["1A"].is_priority
    action = session.scalars(select(PlanAction)).one()
    assert action.status == ActionStatus.UNDER_WAY and action.notes[0].text.startswith("Calendar")
