"""Correcting and removing one person invited to a cycle (issue 17), on both databases: only
before they answer or decline; a corrected address gets a fresh invitation and the old link
stops working; a removed person's link is not valid and they leave the counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

import framework as fw
from survey.mail.dispatch import dispatch
from survey.models import (
    AuditEvent,
    Cycle,
    Invitation,
    InvitationLink,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)
from survey.queries import count_invitations, group_counts
from survey.services import responses
from survey.services.cycles import close_cycle, launch_cycle, purge_cycle
from survey.services.frameworks import get_cycle_framework
from survey.services.links import mint_link
from survey.services.recipients import read_recipients
from tests.admin.helpers import Browser
from tests.conftest import now

SignedIn = tuple[Browser, Any, Any]


def _open(
    session: Session,
    trust: Any,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> tuple[Cycle, list[Invitation]]:
    cycle = make_cycle(trust, scope="1A")
    people = add_people(cycle, {"executive": 1, "headteacher": 3})
    launch_cycle(session, cycle, "test")
    session.commit()
    dispatch(session)
    session.expire_all()
    return cycle, people


def _token(link: str) -> str:
    return link.rsplit("/s/", 1)[1]


def test_a_corrected_address_gets_a_fresh_invitation_and_the_old_link_stops(
    signed_in: SignedIn,
    session: Session,
    client: Any,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, admin, trust = signed_in
    cycle, people = _open(session, trust, make_cycle, add_people)
    person = people[1]
    old_link = mint_link(session, person)
    session.commit()
    url = f"/admin/cycles/{cycle.id}/invitations/{person.id}"
    page = browser.get(url).get_data(as_text=True)
    assert 'value="headteacher1@school.example"' in page and "Remove from this cycle" in page

    taken = browser.post(
        url, {"email": "HEADTEACHER2@school.example", "name": "x", "group": "headteacher"}
    )
    assert taken.status_code == 422
    assert '<p class="error-message" id="email-error">' in taken.get_data(as_text=True)

    saved = browser.post(
        url,
        {
            "email": "head.one@school.example",
            "name": "Head One",
            "group": "Executive leaders and chair",  # a label, in any case, names its group
            "school": "Elm Primary",
        },
    )
    assert saved.status_code == 303
    session.expire_all()
    changed = session.get(Invitation, person.id)
    assert changed is not None
    assert (changed.email, changed.name, changed.school) == (
        "head.one@school.example",
        "Head One",
        "Elm Primary",
    )
    assert changed.group.key == "executive"
    # The old link no longer opens the survey; the new address has its own invitation queued.
    assert client.get(f"/s/{_token(old_link)}").status_code == 404
    assert (
        session.scalars(
            select(InvitationLink).where(InvitationLink.invitation_id == person.id)
        ).all()
        == []
    )
    queued = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.invitation_id == person.id,
            OutboxMessage.kind == MessageKind.INVITATION,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
    ).all()
    assert [m.recipient for m in queued] == ["head.one@school.example"]
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.edit"))
    assert event is not None and event.actor == admin.email
    assert "email headteacher1@school.example → head.one@school.example" in event.detail
    assert "group Headteachers → Executive leaders and chair" in event.detail


def test_a_removed_persons_link_is_not_valid_and_they_leave_the_counts(
    signed_in: SignedIn,
    session: Session,
    client: Any,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle, people = _open(session, trust, make_cycle, add_people)
    person = people[3]
    person_id = person.id
    link = mint_link(session, person)
    session.commit()
    before = {g.key: g.invited for g in group_counts(session, cycle)}
    removed = browser.post(f"/admin/cycles/{cycle.id}/invitations/{person_id}/remove", {})
    assert removed.status_code == 303
    assert "headteacher 3 &lt;headteacher3@school.example&gt; removed" in browser.get(
        removed.location
    ).get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Invitation.id).where(Invitation.id == person_id)) is None
    after = {g.key: g.invited for g in group_counts(session, cycle)}
    assert after == {**before, "headteacher": before["headteacher"] - 1}
    response = client.get(f"/s/{_token(link)}")
    assert response.status_code == 404
    assert "This link is not valid" in response.get_data(as_text=True)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "invitation.remove"))
    assert event is not None and "headteacher3@school.example> from Headteachers" in event.detail


def test_after_answering_or_declining_nothing_can_be_changed(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle, people = _open(session, trust, make_cycle, add_people)
    framework = get_cycle_framework(session, cycle)
    answers = responses.parse_answers([("rating-1A", "green")], framework, fw.parse_scope("1A"))
    assert responses.record_response(session, people[1], answers, framework).name == "RECORDED"
    assert responses.decline(session, people[2]).name == "DECLINED"
    session.commit()
    invited = count_invitations(session, cycle)
    for person in (people[1], people[2]):
        url = f"/admin/cycles/{cycle.id}/invitations/{person.id}"
        moved = browser.post(url, {"email": person.email, "name": "", "group": "executive"})
        assert moved.status_code == 303
        said = browser.get(moved.location).get_data(as_text=True)
        assert "already answered or said they will not take part" in said
        assert "an answer stays counted under the group it was given in" in said
        assert browser.post(f"{url}/remove", {}).status_code == 303
    session.expire_all()
    assert count_invitations(session, cycle) == invited
    assert {p.group.key for p in (people[1], people[2])} == {"headteacher"}
    assert (
        session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.in_(("invitation.edit", "invitation.remove"))
            )
        ).all()
        == []
    )


def test_the_command_line_corrects_and_removes_and_a_purge_blanks_who_it_was(
    session: Session,
    runner: FlaskCliRunner,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    make_trust: Callable[..., Any],
) -> None:
    cycle, _ = _open(session, make_trust(), make_cycle, add_people)
    edited = runner.invoke(
        args=[
            "cycle", "invitation", "edit", str(cycle.id), "Headteacher1@School.example",
            "--name", "Ann Head", "--group", "HEADTEACHERS",
        ]
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    assert "headteacher1@school.example: Ann Head, Headteachers" in edited.output
    gone = runner.invoke(
        args=["cycle", "invitation", "remove", str(cycle.id), "headteacher2@school.example"]
    )
    assert gone.exit_code == 0, gone.output
    unknown = runner.invoke(args=["cycle", "invitation", "remove", str(cycle.id), "x@y.example"])
    assert unknown.exit_code == 1 and "nobody invited to this cycle" in unknown.output

    close_cycle(session, cycle, "test")
    cycle.mark_reported()
    purge_cycle(session, cycle, "test")
    session.commit()
    details = session.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.action.in_(("invitation.edit", "invitation.remove"))
        )
    ).all()
    assert details == ["[removed]", "[removed]"]


def test_a_file_may_name_groups_by_their_labels_in_any_case() -> None:
    groups = {"executive": "Executive leaders and chair", "headteacher": "Headteachers"}
    sheet = read_recipients(
        "email,name,group\n"
        "a@x.example,A,Executive Leaders and Chair\n"
        "b@x.example,B,headteachers\n"
        "c@x.example,C,HEADTEACHER\n"
        "d@x.example,D,governors\n",
        groups,
    )
    assert [r.group for r in sheet.rows] == ["executive", "headteacher", "headteacher"]
    (problem,) = sheet.problems
    assert "unknown group 'governors'" in problem.message
    assert "headteacher (Headteachers)" in problem.message


def test_the_upload_page_offers_a_template_with_the_cycles_groups(
    signed_in: SignedIn,
    make_cycle: Callable[..., Cycle],
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust, groups=["head:Headteachers", "trustee:Trustees"])
    page = browser.get(f"/admin/cycles/{cycle.id}/recipients").get_data(as_text=True)
    assert f"/admin/cycles/{cycle.id}/recipients/template.csv" in page
    response = browser.get(f"/admin/cycles/{cycle.id}/recipients/template.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffemail,name,group,school\r\n")
    # The template, filled in as it comes, checks out against this very cycle.
    sheet = read_recipients(text, {g.key: g.label for g in cycle.groups})
    assert [r.group for r in sheet.rows] == ["head", "trustee"] and sheet.problems == []


def test_reminders_that_can_never_be_sent_are_named(
    signed_in: SignedIn,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(
        trust,
        opens_at=now() + timedelta(days=1),
        closes_at=now() + timedelta(days=10),
        reminder_days="30,2",
    )
    add_people(cycle, {"headteacher": 3})
    for url in (f"/admin/cycles/{cycle.id}", f"/admin/cycles/{cycle.id}/launch"):
        page = browser.get(url).get_data(as_text=True)
        assert "This reminder will not be sent:</strong>" in page, url
        assert "30 days before the close" in page and "that day has already passed" in page
        assert "<li>2 days before the close" not in page
