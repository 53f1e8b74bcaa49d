"""In Chromium, checked with axe at 1280 and 375 px: a new-cycle form with a mistake in nearly
every field comes back with all of them at once, each in the summary at the top (a link to its
field) and beside its field, with what was typed still in place."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from survey.models import AdminUser, Trust
from tests.admin.helpers import PASSWORD
from tests.admin.test_browser_journey import Checker, chromium, live_server  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_form_with_many_mistakes_shows_them_all_beside_their_fields(
    make_admin: Callable[..., AdminUser],
    make_trust: Callable[..., Trust],
    live_server: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    backend: str,
) -> None:
    trust = make_trust()
    admin = make_admin(trusts=[trust])
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    check = Checker(page, backend)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/admin/trusts/{trust.slug}/cycles/new")
    page.get_by_label("Only some elements").check()
    page.get_by_label("Group 2 name").fill("")  # a key without a name
    page.get_by_label("Group 4 name").fill("Trustees")
    page.get_by_label("Group 4 key").evaluate("input => { input.value = 'k'.repeat(41) }")
    page.get_by_label("Reminders, in days before the close date").fill("7, 400")
    page.get_by_label("Minimum group size for ratings").fill("2")
    page.get_by_label("Who receives the report").fill("chair@")
    page.get_by_role("button", name="Create draft cycle").click()

    summary = page.get_by_role("alert")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    wanted = {
        "title": "Enter a title for the cycle",
        "scope": "Enter the element codes to ask about",
        "group-1-label": "Enter a name for the group",
        "group-3-key": "A group key must be 40 characters or fewer",
        "opens": "Enter the open date",
        "closes": "Enter the close date",
        "reminder_days": "Reminder days must be between 0 and 365",
        "min_group_size": "The minimum group size must be 3 or more",
        "report_to": "Report recipient 'chair@' is not a valid email",
    }
    links = summary.get_by_role("link")
    assert links.count() == len(wanted)
    for index, (name, message) in enumerate(wanted.items()):
        link = links.nth(index)
        assert link.inner_text().startswith(message), (name, link.inner_text())
        assert link.get_attribute("href") == f"#{name}"
        beside = " ".join(page.locator(f"#{name}-error").inner_text().split())
        assert beside.startswith(f"Error: {message}"), (name, beside)
    assert page.get_by_label("Group 2 key").input_value() == "headteacher"
    assert page.get_by_label("Minimum group size for ratings").input_value() == "2"
    assert page.get_by_label("Who receives the report").input_value() == "chair@"
    check("cycle-form-many-errors")
    # A link in the summary takes the keyboard to its field.
    links.nth(2).click()
    expect(page.get_by_label("Group 2 name")).to_be_focused()
    context.close()
