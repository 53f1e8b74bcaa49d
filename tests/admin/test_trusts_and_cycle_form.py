"""Trusts and the new-cycle form: visibility, creation, validation, editing a draft."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import AdminUser, AuditEvent, Cycle, CycleState, Trust
from tests.admin.helpers import Browser

SignedIn = tuple[Browser, AdminUser, Trust]


def cycle_form(**overrides: str) -> dict[str, str]:
    form = {
        "title": "Autumn self-review",
        "framework": "mat-assurance",
        "scope": "start",
        "group-0-key": "executive",
        "group-0-label": "Executive leaders and chair",
        "group-0-open": "on",
        "group-1-key": "headteacher",
        "group-1-label": "Headteachers",
        "group-2-key": "middle-leader",
        "group-2-label": "Middle leaders",
        "group-3-key": "",
        "group-3-label": "Trustees",
        "opens": "2030-07-01T09:00",
        "closes": "2030-07-19T17:00",
        "min_group_size": "4",
        "min_comment_group_size": "6",
        "report_to": "ceo@oak.example,\nchair@oak.example",
        "reminder_days": "7,2",
        "previous_cycle": "",
        "action": "save",
    }
    form.update(overrides)
    return form


def test_an_admin_sees_only_their_own_trusts_and_a_superuser_sees_all(
    app: object,
    browser: Browser,
    make_admin: Callable[..., AdminUser],
    make_trust: Callable[..., Trust],
) -> None:
    oak, elm = make_trust("Oak Learning Trust"), make_trust("Elm Academies")
    make_admin("ceo@oak.example", trusts=[oak])
    make_admin("ops@service.example", is_superuser=True)
    browser.sign_in("ceo@oak.example")
    page = browser.get("/admin/").get_data(as_text=True)
    assert "Oak Learning Trust" in page and "Elm Academies" not in page
    assert browser.get(f"/admin/trusts/{elm.slug}").status_code == 404
    assert browser.get(f"/admin/trusts/{elm.slug}/audit").status_code == 404
    assert browser.get(f"/admin/trusts/{elm.slug}/cycles/new").status_code == 404
    assert browser.get("/admin/trusts/no-such-trust").status_code == 404
    browser.post("/admin/logout", page="/admin/")
    browser.sign_in("ops@service.example")
    page = browser.get("/admin/").get_data(as_text=True)
    assert "Oak Learning Trust" in page and "Elm Academies" in page
    assert browser.get(f"/admin/trusts/{elm.slug}").status_code == 200


def test_creating_a_trust_makes_the_admin_a_member(
    browser: Browser, make_admin: Callable[..., AdminUser], session: Session
) -> None:
    admin = make_admin()
    browser.sign_in(admin.email)
    page = browser.get("/admin/").get_data(as_text=True)
    # The time zone is chosen from a list, London first chosen; labels sit above their inputs.
    assert '<select id="timezone" name="timezone"' in page
    assert (
        "<option selected>Europe/London</option>" in page
        and "<option>Europe/Dublin</option>" in page
    )
    response = browser.post("/admin/trusts", {"name": "Birch Trust", "timezone": "Europe/Dublin"})
    assert response.status_code == 303
    assert response.location == "/admin/trusts/birch-trust"
    trust = session.scalar(select(Trust).where(Trust.slug == "birch-trust"))
    assert trust is not None and trust.timezone == "Europe/Dublin"
    assert [a.email for a in trust.admins] == [admin.email]
    assert "Birch Trust" in browser.get("/admin/").get_data(as_text=True)
    bad = browser.post("/admin/trusts", {"name": "Ash Trust", "timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert "Unknown time zone" in bad.get_data(as_text=True)
    assert '<p class="error-message" id="timezone-error">' in bad.get_data(as_text=True)
    assert "<option selected>Mars/Olympus</option>" not in bad.get_data(as_text=True)
    assert browser.post("/admin/trusts", {"name": " "}).status_code == 422


def test_the_new_cycle_form_shows_what_each_scope_implies(signed_in: SignedIn) -> None:
    browser, _, trust = signed_in
    page = browser.get(f"/admin/trusts/{trust.slug}/cycles/new").get_data(as_text=True)
    assert "Questions to start with: 42 questions over 14 elements" in page
    assert "All questions: 76 questions over 14 elements" in page
    for label in ("Executive leaders and chair", "Headteachers", "Middle leaders"):
        assert f'value="{label}"' in page
    assert "its members could be identified" in page  # open groups explained
    assert "nobody's ratings can be singled out" in page  # thresholds explained
    assert 'type="datetime-local"' in page


def test_creating_a_cycle_reads_dates_in_the_trusts_time_zone(
    signed_in: SignedIn, session: Session
) -> None:
    browser, admin, trust = signed_in
    response = browser.post(f"/admin/trusts/{trust.slug}/cycles/new", cycle_form())
    assert response.status_code == 303
    cycle = session.scalars(select(Cycle)).one()
    assert response.location == f"/admin/cycles/{cycle.id}"
    # 09:00 in London in July is 08:00 UTC.
    assert cycle.opens_at == datetime(2030, 7, 1, 8, 0, tzinfo=UTC)
    assert cycle.closes_at == datetime(2030, 7, 19, 16, 0, tzinfo=UTC)
    assert cycle.state == CycleState.DRAFT and cycle.scope == "start"
    assert [(g.key, g.is_open) for g in cycle.groups] == [
        ("executive", True),
        ("headteacher", False),
        ("middle-leader", False),
        ("trustees", False),
    ]
    assert (cycle.min_group_size, cycle.min_comment_group_size) == (4, 6)
    assert cycle.report_recipient_list == ["ceo@oak.example", "chair@oak.example"]
    actor = session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "cycle.create"))
    assert actor == admin.email
    page = browser.get(response.location).get_data(as_text=True)
    assert "Monday 1 July 2030, 09:00 (BST)" in page


def test_bad_input_is_shown_beside_each_field_and_nothing_is_saved(
    signed_in: SignedIn, session: Session
) -> None:
    browser, _, trust = signed_in
    url = f"/admin/trusts/{trust.slug}/cycles/new"
    response = browser.post(
        url,
        cycle_form(
            title="",
            opens="1 July",
            closes="",
            min_group_size="2",
            min_comment_group_size="many",
            report_to="ceo@",
            reminder_days="soon",
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    for message in (
        "Enter a title for the cycle",
        "Enter the open date as a date and time",
        "Enter the close date",
        "The minimum group size must be 3 or more, to keep answers anonymous",
        "Enter the minimum group size for comments as a whole number",
        "Report recipient",
        "Reminder days",
    ):
        assert message in page, message
    assert 'aria-invalid="true"' in page
    assert 'value="2"' in page  # what was typed is kept
    backwards = browser.post(url, cycle_form(opens="2030-07-19T09:00", closes="2030-07-01T09:00"))
    assert "The close date must be after the open date" in backwards.get_data(as_text=True)
    # A close date already past is said when the draft is saved, beside the field, not at launch.
    past = browser.post(url, cycle_form(opens="2020-07-01T09:00", closes="2020-07-19T17:00"))
    assert past.status_code == 422
    said = past.get_data(as_text=True)
    assert '<p class="error-message" id="closes-error">' in said
    assert "The close date has already passed: choose a later one" in said
    unknown = browser.post(url, cycle_form(scope="codes", scope_codes="1A, 9Z"))
    assert unknown.status_code == 422
    assert "unknown element code 9Z" in unknown.get_data(as_text=True)
    assert "scope: scope" not in unknown.get_data(as_text=True).lower()  # said once
    # A complaint of the service's, not the form's, is shown beside the field it names.
    assert '<p class="error-message" id="scope-error">' in unknown.get_data(as_text=True)
    twice = browser.post(url, cycle_form(**{"group-3-key": "executive", "group-3-label": "X"}))
    assert "two groups have the same key" in twice.get_data(as_text=True).lower()
    assert '<p class="error-message" id="groups-error">' in twice.get_data(as_text=True)
    assert session.scalars(select(Cycle)).all() == []


def test_add_another_group_adds_a_row_without_saving(signed_in: SignedIn, session: Session) -> None:
    browser, _, trust = signed_in
    response = browser.post(
        f"/admin/trusts/{trust.slug}/cycles/new", cycle_form(action="add-group")
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="group-4-label"' in page and 'value="Trustees"' in page
    assert session.scalars(select(Cycle)).all() == []


def test_a_scope_of_some_elements_and_a_previous_cycle_of_the_same_trust(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    make_trust: Callable[..., Trust],
) -> None:
    browser, _, trust = signed_in
    last_year = make_cycle(trust, title="Last year")
    elsewhere = make_cycle(make_trust("Elm Academies"), title="Elm's cycle")
    url = f"/admin/trusts/{trust.slug}/cycles/new"
    page = browser.get(url).get_data(as_text=True)
    assert "Last year" in page and "Elm&#39;s cycle" not in page
    refused = browser.post(url, cycle_form(previous_cycle=str(elsewhere.id)))
    assert refused.status_code == 422
    assert "is not a cycle of this trust" in refused.get_data(as_text=True)
    assert '<p class="error-message" id="previous_cycle-error">' in refused.get_data(as_text=True)
    # Shown again with a mistake, the form says what the chosen elements amount to.
    untitled = browser.post(url, cycle_form(title="", scope="codes", scope_codes="2b 1a"))
    assert untitled.status_code == 422
    assert "<strong>Elements 1A, 2B: " in untitled.get_data(as_text=True)
    response = browser.post(
        url, cycle_form(scope="codes", scope_codes="2b 1a", previous_cycle=str(last_year.id))
    )
    assert response.status_code == 303
    cycle = session.scalar(select(Cycle).where(Cycle.title == "Autumn self-review"))
    assert cycle is not None
    assert cycle.scope == "1A,2B" and cycle.previous_cycle_id == last_year.id
    page = browser.get(response.location).get_data(as_text=True)
    assert "Elements 1A, 2B:" in page and "Compared with" in page


def test_a_draft_can_be_edited_but_not_once_launched(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    url = f"/admin/cycles/{cycle.id}/edit"
    page = browser.get(url).get_data(as_text=True)
    assert 'value="Autumn review"' in page
    response = browser.post(
        url,
        cycle_form(
            title="Renamed", **{"group-3-label": "", "group-2-label": "", "group-2-key": ""}
        ),
    )
    assert response.status_code == 303
    session.refresh(cycle)
    assert cycle.title == "Renamed"
    assert [g.key for g in cycle.groups] == ["executive", "headteacher"]
    cycle.state = CycleState.SCHEDULED
    session.commit()
    blocked = browser.get(url)
    assert blocked.status_code == 303 and blocked.location == f"/admin/cycles/{cycle.id}"
    assert browser.post(url, cycle_form(title="Again")).status_code == 303
    session.refresh(cycle)
    assert cycle.title == "Renamed"


def test_an_invalid_cycle_form_shows_every_error_at_once_each_beside_its_field(
    signed_in: SignedIn, session: Session
) -> None:
    browser, _, trust = signed_in
    response = browser.post(
        f"/admin/trusts/{trust.slug}/cycles/new",
        cycle_form(
            title="",
            scope="codes",
            scope_codes="",
            **{"group-1-label": "", "group-1-key": "headteacher", "group-2-key": "k" * 41},
            opens="2030-02-30T09:00",
            closes="",
            reminder_days="7,400",
            min_group_size="",
            min_comment_group_size="2.5",
            report_to="chair@",
            previous_cycle="first",
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    expected = {
        "title": "Enter a title for the cycle",
        "scope": "Enter the element codes to ask about",
        "group-1-label": "Enter a name for the group",
        "group-2-key": "A group key must be 40 characters or fewer",
        "opens": "Enter the open date as a date and time",
        "closes": "Enter the close date",
        "reminder_days": "Reminder days must be between 0 and 365",
        "min_group_size": "Enter the minimum group size as a whole number",
        "min_comment_group_size": "Enter the minimum group size for comments as a whole number",
        "report_to": "Report recipient &#39;chair@&#39; is not a valid email",
        "previous_cycle": "Choose a previous cycle from the list",
    }
    summary = page.split('class="error-summary"', 1)[1].split("</ul>", 1)[0]
    # The summary lists every problem, in the page's order, each linking to its field.
    links = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a></li>', summary)
    assert [name for name, _ in links] == list(expected)
    for (name, message), wanted in zip(links, expected.values(), strict=True):
        assert message.startswith(wanted), (name, message)
        # ... and the same message stands beside the field, which points to it.
        assert f'<p class="error-message" id="{name}-error">' in page, name
        beside = page.split(f'id="{name}-error">', 1)[1].split("</p>", 1)[0]
        assert wanted in beside, name
        if name != "scope":  # the scope's message belongs to its fieldset of radio buttons
            field = re.search(rf'<(?:input|textarea|select)[^>]* id="{name}"[^>]*>', page)
            assert field is not None, name
            assert f"{name}-error" in field.group(0) and 'aria-invalid="true"' in field.group(0)
    # What was typed is kept, even where it is not valid.
    assert 'value="2.5"' in page and 'value="2030-02-30T09:00"' in page
    assert 'value="' + "k" * 41 + '"' in page and "chair@</textarea>" in page
    assert session.scalars(select(Cycle)).all() == []
