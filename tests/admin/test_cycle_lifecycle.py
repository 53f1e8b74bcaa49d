"""Launch, the live page's counts, extend, close early, the report and its downloads, purge,
the audit log, and 404 for another trust's cycle, report and downloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import AdminUser, AuditEvent, Cycle, CycleState, Invitation, OutboxMessage, Trust
from survey.reports.store import store_report
from survey.services import responses
from survey.services.cycles import close_cycle, launch_cycle
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.timeutil import Clock
from tests.admin.helpers import Browser

SignedIn = tuple[Browser, AdminUser, Trust]
FILES = {
    "report.pdf": "application/pdf",
    "results.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "summary.csv": "text/csv",
    "heatmap.png": "image/png",
    "gaps.png": "image/png",
    "report.html": "text/html",
}


# The application's clock is set to this moment (and runs on from it) for every test here: a date
# the real clock has long passed, so that a page or service that read the real clock instead of
# ours would see every date below as gone, and the tests fail.
NOW = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)  # a Monday, in GMT


@pytest.fixture(autouse=True)
def _at_a_known_time(clock: Clock) -> None:
    """Set before the other fixtures (autouse), so the admin's sign-in happens at NOW too."""
    clock.set(NOW)


def answer(session: Session, cycle: Cycle, invitation: Invitation, key: str = "green") -> None:
    """Submit `key` for every element through the respondent's own service (a sealed ballot)."""
    framework = get_cycle_framework(session, cycle)
    scope = get_cycle_scope(cycle)
    fields = [(f"rating-{e.code}", key) for e in framework.elements_in_scope(scope)]
    answers = responses.parse_answers(fields, framework, scope)
    assert not answers.problems
    assert responses.record_response(session, invitation, answers, framework) == (
        responses.Outcome.RECORDED
    )
    session.commit()


def open_now(session: Session, cycle: Cycle) -> None:
    """Launch a cycle whose open date has come: it opens and queues its invitations."""
    launch_cycle(session, cycle, "test")
    session.commit()
    assert cycle.state == CycleState.OPEN


def test_launch_confirms_who_will_be_emailed_and_when(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, admin, trust = signed_in
    opens = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a week after NOW
    cycle = make_cycle(trust, opens_at=opens, closes_at=opens + timedelta(days=14))
    url = f"/admin/cycles/{cycle.id}/launch"
    refused = browser.post(url)
    assert refused.status_code == 303
    assert "it has no invitations" in browser.get(refused.location).get_data(as_text=True)
    session.refresh(cycle)
    assert cycle.state == CycleState.DRAFT
    add_people(cycle, {"executive": 2, "headteacher": 5})
    page = browser.get(url).get_data(as_text=True)
    assert "Monday 4 March 2024, 09:00 (GMT)" in page
    assert "<strong>7 people</strong> will be emailed" in page
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td>(\d+)</td>', page)
    assert rows == [
        ("Executive leaders and chair", "2"),
        ("Headteachers", "5"),
        ("Middle leaders", "0"),
    ]
    assert "Not on its own: fewer than 3 people are invited" in page
    # Comments need 5 answers (the default threshold): two groups can never reach it.
    assert page.count("<strong>Never</strong>: fewer than 5 people are invited") == 2
    assert "If at least 5 answer" in page
    assert (
        "<strong>Executive leaders and chair, Middle leaders</strong>: these groups have fewer "
        "than 5 people invited, so their comments can never be shown" in page
    )
    assert browser.post(url).status_code == 303
    session.refresh(cycle)
    assert cycle.state == CycleState.SCHEDULED
    assert session.scalars(select(OutboxMessage)).all() == []  # nothing goes before it opens
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "cycle.launch"))
    assert event is not None and event.actor == admin.email
    assert browser.get(url).status_code == 303  # launched once only


def test_launching_after_the_open_date_opens_and_queues_the_invitations(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    add_people(cycle, {"headteacher": 3})
    page = browser.get(f"/admin/cycles/{cycle.id}/launch").get_data(as_text=True)
    assert "opens as soon as you launch" in page
    browser.post(f"/admin/cycles/{cycle.id}/launch")
    session.refresh(cycle)
    assert cycle.state == CycleState.OPEN
    queued = session.scalars(select(OutboxMessage.recipient).order_by(OutboxMessage.recipient))
    assert list(queued) == [f"headteacher{i}@school.example" for i in (1, 2, 3)]


def live_row(page: str, label: str) -> str:
    match = re.search(rf'<th scope="row">{label}.*?</tr>', page, re.S)
    assert match, label
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(0)).split())


def test_the_live_page_masks_small_counts_until_the_threshold(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust, groups=["executive:Executive team:open", "headteacher:Headteachers"])
    people = add_people(cycle, {"executive": 2, "headteacher": 5})
    open_now(session, cycle)
    executive, heads = people[:2], people[2:]
    answer(session, cycle, executive[0])
    answer(session, cycle, heads[0])
    answer(session, cycle, heads[1])
    assert responses.decline(session, heads[2]) == responses.Outcome.DECLINED
    session.commit()
    url = f"/admin/cycles/{cycle.id}"
    page = browser.get(url).get_data(as_text=True)
    assert "fewer than 3" in live_row(page, "Headteachers")
    assert "hidden" in live_row(page, "Headteachers")
    assert "2 of 5" not in page and 'value="2"' not in page
    assert live_row(page, "Executive team") == "Executive team open group 2 50% 1 of 2 (50%) 0 0"
    assert 'aria-label="Executive team: completed">50%</progress>' in page
    assert live_row(page, "All groups") == "All groups 7 at least 1 at least 0 0"
    assert "until at least 3 of its members" in page  # the rule is explained
    answer(session, cycle, heads[3])
    page = browser.get(url).get_data(as_text=True)
    assert live_row(page, "Headteachers") == "Headteachers 5 60% 3 of 5 (60%) 1 0"
    assert '<progress max="5" value="3"' in page
    assert live_row(page, "All groups") == "All groups 7 4 1 0"


def test_the_live_page_shows_the_next_reminder_and_the_close_time(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    # Closes Friday 12 July 2024 17:00 London; reminders 7 and 2 days before, at 08:00.
    closes = datetime(2024, 7, 12, 16, 0, tzinfo=UTC)
    cycle = make_cycle(trust, closes_at=closes, reminder_days="7,2")
    add_people(cycle, {"headteacher": 3})
    open_now(session, cycle)
    page = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "Friday 5 July 2024, 08:00 (BST)" in page  # the next reminder
    assert "Friday 12 July 2024, 17:00 (BST)" in page  # the close


def test_extend_moves_the_close_date_and_refuses_bad_dates(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, admin, trust = signed_in
    cycle = make_cycle(trust, closes_at=datetime(2024, 3, 8, 17, 0, tzinfo=UTC))
    add_people(cycle, {"headteacher": 3})
    open_now(session, cycle)
    url = f"/admin/cycles/{cycle.id}/extend"
    for value, message in (
        ("next week", "is not an ISO date"),
        ("2024-03-07T17:00", "not later than the current one"),
        ("", "Enter the new close date"),
    ):
        response = browser.post(url, {"closes": value}, page=f"/admin/cycles/{cycle.id}")
        assert response.status_code == 422, value
        assert message in response.get_data(as_text=True), value
        assert f'value="{value}"' in response.get_data(as_text=True)  # what was typed is kept
    browser.post(url, {"closes": "2024-03-15T17:00"}, page=f"/admin/cycles/{cycle.id}")
    session.refresh(cycle)
    assert cycle.closes_at == datetime(2024, 3, 15, 17, 0, tzinfo=UTC)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "cycle.extend"))
    assert event is not None and event.actor == admin.email


def test_close_early_asks_first_then_closes_and_seals(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, admin, trust = signed_in
    cycle = make_cycle(trust)
    (person,) = add_people(cycle, {"headteacher": 1})
    url = f"/admin/cycles/{cycle.id}/close"
    assert browser.get(url).status_code == 303  # a draft cannot be closed
    open_now(session, cycle)
    answer(session, cycle, person)
    page = browser.get(url).get_data(as_text=True)
    assert "This cannot be undone" in page and "Close the cycle now" in page
    session.refresh(cycle)
    assert cycle.state == CycleState.OPEN  # asking closed nothing
    assert browser.post(url).status_code == 303
    session.refresh(cycle)
    assert cycle.state == CycleState.CLOSED and cycle.sealed_at is not None
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "cycle.close"))
    assert event is not None and event.actor == admin.email
    page = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "The report is being compiled" in page
    # The date it actually closed, not the planned one, which is named as such.
    assert "<dt>Closed</dt>" in page and "(early: it was due to close" in page
    assert "<dt>Closes</dt>" not in page


@pytest.fixture
def reported_cycle(
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> Callable[[Trust], Cycle]:
    """A cycle with three answers per group, closed, compiled and marked reported."""

    def make(trust: Trust) -> Cycle:
        cycle = make_cycle(trust, groups=["headteacher:Headteachers"], scope="1A,1B")
        people = add_people(cycle, {"headteacher": 3})
        open_now(session, cycle)
        for person, key in zip(people, ("green", "amber-green", "red"), strict=True):
            answer(session, cycle, person, key)
        close_cycle(session, cycle, "test")
        store_report(session, cycle)
        cycle.mark_reported()
        session.commit()
        return cycle

    return make


def test_the_report_page_embeds_the_report_and_serves_each_file(
    signed_in: SignedIn, session: Session, reported_cycle: Callable[[Trust], Cycle]
) -> None:
    browser, admin, trust = signed_in
    cycle = reported_cycle(trust)
    page = browser.get(f"/admin/cycles/{cycle.id}/report").get_data(as_text=True)
    assert "Heat map" in page or "heat map" in page
    for name in FILES:
        assert f'href="/admin/cycles/{cycle.id}/report/{name}"' in page
    for name, content_type in FILES.items():
        response = browser.get(f"/admin/cycles/{cycle.id}/report/{name}")
        assert response.status_code == 200, name
        assert response.mimetype == content_type
        disposition = response.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="{trust.slug}-cycle-{cycle.id}-{name}"'
        assert len(response.data) > 50
    assert browser.get(f"/admin/cycles/{cycle.id}/report/secrets.txt").status_code == 404
    downloads = session.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.action == "report.download", AuditEvent.actor == admin.email
        )
    ).all()
    assert sorted(downloads) == sorted(FILES)


def test_personal_data_is_purged_only_after_the_report_and_only_when_confirmed(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    reported_cycle: Callable[[Trust], Cycle],
) -> None:
    browser, _, trust = signed_in
    draft = make_cycle(trust)
    early = browser.get(f"/admin/cycles/{draft.id}/purge")
    assert "only once the report has been sent" in browser.get(early.location).get_data(
        as_text=True
    )
    cycle = reported_cycle(trust)
    url = f"/admin/cycles/{cycle.id}/purge"
    assert "Remove personal data" in browser.get(url).get_data(as_text=True)
    assert session.scalar(select(Invitation.email).where(Invitation.cycle_id == cycle.id))
    assert browser.post(url).status_code == 303
    emails = session.scalars(select(Invitation.email).where(Invitation.cycle_id == cycle.id))
    assert list(emails) == [None, None, None]
    page = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "Names and email addresses were removed" in page
    assert "3 of 3" in page  # the counts are kept


def test_the_audit_log_shows_who_did_what_in_the_trusts_time_zone(
    browser: Browser,
    session: Session,
    make_admin: Callable[..., AdminUser],
    make_trust: Callable[..., Trust],
    make_cycle: Callable[..., Cycle],
) -> None:
    trust = make_trust("Kiwi Trust", timezone="Pacific/Auckland")
    other = make_trust("Elm Academies")
    admin = make_admin(trusts=[trust])
    outsider = make_admin("ceo@elm.example", trusts=[other])
    browser.sign_in(admin.email)
    cycle = make_cycle(trust)
    make_cycle(other, title="Elm's own cycle")
    event = session.scalar(select(AuditEvent).where(AuditEvent.cycle_id == cycle.id))
    assert event is not None
    event.occurred_at = datetime(2030, 1, 1, 0, 30, tzinfo=UTC)
    session.commit()
    page = browser.get(f"/admin/trusts/{trust.slug}/audit").get_data(as_text=True)
    assert "1 Jan 2030, 13:30:00 (NZDT)" in page  # UTC+13 in the southern summer
    assert "admin.sign-in" in page and admin.email in page
    assert "cycle.create" in page
    assert "Elm&#39;s own cycle" not in page and outsider.email not in page


def test_another_trusts_cycle_report_and_downloads_are_404(
    browser: Browser,
    session: Session,
    make_admin: Callable[..., AdminUser],
    make_trust: Callable[..., Trust],
    reported_cycle: Callable[[Trust], Cycle],
    make_cycle: Callable[..., Cycle],
) -> None:
    oak, elm = make_trust("Oak Learning Trust"), make_trust("Elm Academies")
    elm_cycle = reported_cycle(elm)
    elm_draft = make_cycle(elm, title="Elm draft")
    make_admin("ceo@oak.example", trusts=[oak])
    browser.sign_in("ceo@oak.example")
    for cycle in (elm_cycle, elm_draft):
        base = f"/admin/cycles/{cycle.id}"
        for url in (
            base,
            f"{base}/edit",
            f"{base}/recipients",
            f"{base}/invitations",
            f"{base}/launch",
            f"{base}/close",
            f"{base}/purge",
            f"{base}/report",
            *(f"{base}/report/{name}" for name in FILES),
        ):
            assert browser.get(url).status_code == 404, url
        for url in (f"{base}/extend", f"{base}/close", f"{base}/purge", f"{base}/launch"):
            assert browser.post(url, page="/admin/").status_code == 404, url
    assert browser.get("/admin/cycles/999999").status_code == 404
    session.refresh(elm_cycle)
    assert elm_cycle.purged_at is None
    assert (
        session.scalars(select(AuditEvent).where(AuditEvent.action == "report.download")).all()
        == []
    )
