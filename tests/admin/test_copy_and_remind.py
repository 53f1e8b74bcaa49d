"""Copying last year's cycle, and "remind everyone now" (issue 17), on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

import framework as fw
from survey.mail.dispatch import dispatch
from survey.mail.reminders import remind_now
from survey.models import (
    AuditEvent,
    Cycle,
    CycleState,
    Invitation,
    MessageKind,
    OutboxMessage,
    Trust,
)
from survey.services import responses
from survey.services.cycles import close_cycle, launch_cycle, purge_cycle
from survey.services.frameworks import get_cycle_framework
from tests.admin.helpers import Browser
from tests.conftest import now

SignedIn = tuple[Browser, Any, Trust]


def _reminded(session: Session, cycle: Cycle) -> set[str]:
    session.expire_all()
    return set(
        session.scalars(
            select(OutboxMessage.recipient).where(
                OutboxMessage.cycle_id == cycle.id, OutboxMessage.kind == MessageKind.REMINDER
            )
        )
    )


def _open_with_answers(
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    trust: Trust,
) -> tuple[Cycle, list[Invitation]]:
    """An open cycle whose invitations went out; one person answered, one declined."""
    cycle = make_cycle(trust, scope="1A,1B")
    people = add_people(cycle, {"executive": 2, "headteacher": 2, "middle-leader": 2})
    launch_cycle(session, cycle, "test")
    session.commit()
    dispatch(session)
    session.expire_all()
    framework = get_cycle_framework(session, cycle)
    answers = responses.parse_answers(
        [("rating-1A", "green"), ("rating-1B", "amber-green")], framework, fw.parse_scope("1A,1B")
    )
    assert responses.record_response(session, people[0], answers, framework).name == "RECORDED"
    assert responses.decline(session, people[2]).name == "DECLINED"
    session.commit()
    return cycle, people


def test_remind_now_reaches_only_those_who_have_not_answered_once_a_day(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle, people = _open_with_answers(session, make_cycle, add_people, trust)
    assert _reminded(session, cycle) == set()

    page = browser.get(f"/admin/cycles/{cycle.id}/remind")
    assert page.status_code == 200 and "once a day" in page.get_data(as_text=True)
    sent = browser.post(f"/admin/cycles/{cycle.id}/remind", {})
    assert sent.status_code == 303
    expected = {str(p.email) for i, p in enumerate(people) if i not in (0, 2)}
    assert _reminded(session, cycle) == expected
    shown = browser.get(sent.location).get_data(as_text=True)
    assert "A reminder is on its way to everyone who has not answered yet" in shown

    again = browser.post(f"/admin/cycles/{cycle.id}/remind", {})
    assert again.status_code == 303
    assert "already reminded today" in browser.get(again.location).get_data(as_text=True)
    assert _reminded(session, cycle) == expected  # nothing more queued
    actions = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "cycle.remind-now")
    ).all()
    assert len(actions) == 1

    # The next day it may be used again; each person gets that day's reminder once.
    remind_now(session, cycle, "test", now=now() + timedelta(days=1))
    session.commit()
    rows = session.scalars(
        select(OutboxMessage.dedupe_key).where(
            OutboxMessage.cycle_id == cycle.id, OutboxMessage.kind == MessageKind.REMINDER
        )
    ).all()
    assert len(rows) == 2 * len(expected) and len(set(rows)) == len(rows)


def test_remind_now_needs_an_open_cycle(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    draft = make_cycle(trust)
    refused = browser.post(f"/admin/cycles/{draft.id}/remind", {})
    assert refused.status_code == 303
    assert "only while the cycle is open" in browser.get(refused.location).get_data(as_text=True)
    assert (
        session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.remind-now")).all()
        == []
    )


def test_copying_a_cycle_keeps_its_set_up_and_people_but_nothing_about_answers(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle, people = _open_with_answers(session, make_cycle, add_people, trust)
    page = browser.get(f"/admin/cycles/{cycle.id}/copy").get_data(as_text=True)
    assert "Invite the same 6 people again" in page
    made = browser.post(
        f"/admin/cycles/{cycle.id}/copy", {"title": "Next year", "with_people": "yes"}
    )
    assert made.status_code == 303
    session.expire_all()
    copy = session.scalar(select(Cycle).where(Cycle.title == "Next year"))
    assert copy is not None and copy.id != cycle.id
    assert copy.state == CycleState.DRAFT
    assert copy.previous_cycle_id == cycle.id
    assert (copy.scope, copy.framework_key) == (cycle.scope, cycle.framework_key)
    assert [(g.key, g.label, g.is_open) for g in copy.groups] == [
        (g.key, g.label, g.is_open) for g in cycle.groups
    ]
    assert (copy.min_group_size, copy.min_comment_group_size, copy.reminder_days) == (
        cycle.min_group_size,
        cycle.min_comment_group_size,
        cycle.reminder_days,
    )
    assert copy.report_recipient_list == cycle.report_recipient_list
    assert copy.opens_at > now() and copy.closes_at - copy.opens_at == (
        cycle.closes_at - cycle.opens_at
    )
    invited = session.scalars(select(Invitation).where(Invitation.cycle_id == copy.id)).all()
    assert {(i.email, i.group.key) for i in invited} == {(p.email, p.group.key) for p in people}
    assert not any(i.is_completed or i.is_declined or i.sent_at for i in invited)


def test_copy_without_people_and_after_a_purge(
    session: Session,
    runner: FlaskCliRunner,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    make_trust: Callable[..., Trust],
) -> None:
    cycle = make_cycle(make_trust(), title="Spring")
    add_people(cycle, {"executive": 3})
    result = runner.invoke(args=["cycle", "copy", str(cycle.id), "--title", "Spring again"])
    assert result.exit_code == 0, result.output
    new_id = int(result.output.split()[-1])
    assert session.scalars(select(Invitation).where(Invitation.cycle_id == new_id)).all() == []
    with_people = runner.invoke(args=["cycle", "copy", str(cycle.id), "--with-people"])
    assert with_people.exit_code == 0, with_people.output
    assert "3 people to invite" in with_people.output
    assert "Spring (copy)" in with_people.output

    # Through its life as the app takes it: launched (it opens at once), closed, reported.
    launch_cycle(session, cycle, "test")
    close_cycle(session, cycle, "test")
    cycle.mark_reported()
    purge_cycle(session, cycle, "test")
    session.commit()
    refused = runner.invoke(args=["cycle", "copy", str(cycle.id), "--with-people"])
    assert refused.exit_code == 1
    assert "were removed after its report" in refused.output


def test_remind_from_the_command_line(
    session: Session,
    runner: FlaskCliRunner,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    make_trust: Callable[..., Trust],
) -> None:
    cycle, _ = _open_with_answers(session, make_cycle, add_people, make_trust())
    first = runner.invoke(args=["cycle", "remind", str(cycle.id)])
    assert first.exit_code == 0, first.output
    assert len(_reminded(session, cycle)) == 4
    second = runner.invoke(args=["cycle", "remind", str(cycle.id)])
    assert second.exit_code == 1 and "already reminded today" in second.output
