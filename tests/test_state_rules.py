"""The rules stated once on the model and beside the counts: an invitation that still awaits an
email (the same answer in Python and in SQL), the masking of small groups' counts, purge only once
after the report, and one person checked by the very rules a file's row is."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.models import Cycle, CycleState, Invitation
from survey.queries import GroupCounts, group_counts, total_counts
from survey.services.recipients import add_one_person, read_recipients


def test_awaiting_an_email_is_the_same_rule_in_python_and_in_sql(
    session: Session, make_cycle: Callable[..., Cycle], add_people: Callable[..., list[Any]]
) -> None:
    cycle = make_cycle()
    plain, completed, declined, purged, no_address = add_people(cycle, {"headteacher": 5})
    completed.is_completed = True
    declined.is_declined = True
    purged.is_purged = True
    no_address.email = None
    session.commit()

    in_python = {
        i.id for i in (plain, completed, declined, purged, no_address) if i.is_awaiting_email
    }
    in_sql = set(
        session.scalars(
            select(Invitation.id).where(
                Invitation.cycle_id == cycle.id, Invitation.is_awaiting_email
            )
        )
    )
    assert in_python == in_sql == {plain.id}
    assert [i.email_refusal for i in (plain, completed, declined, purged, no_address)] == [
        None,
        "already completed",
        "declined",
        "personal data removed",
        "personal data removed",
    ]


def test_a_small_closed_group_hides_who_has_answered_and_an_open_group_does_not() -> None:
    small = GroupCounts("head", "Heads", False, invited=4, sent=4, completed=2, declined=1)
    shown = GroupCounts("exec", "Executive", True, invited=2, sent=2, completed=1, declined=1)
    enough = GroupCounts("ml", "Middle", False, invited=9, sent=9, completed=3, declined=2)

    masked = [g.masked(3) for g in (small, shown, enough)]

    assert [g.is_masked for g in masked] == [True, False, False]
    assert (masked[0].completed, masked[0].declined) == (0, 0)
    assert masked[1] == shown and masked[2] == enough
    totals = total_counts(masked)
    assert (totals.invited, totals.completed, totals.declined, totals.is_partial) == (
        15,
        4,
        3,
        True,
    )
    assert not total_counts([small, shown, enough]).is_partial


def test_the_status_command_prints_each_group_and_the_totals_in_the_documented_order(
    runner: Any,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle()
    add_people(cycle, {"headteacher": 2, "executive": 1})
    result = runner.invoke(args=["cycle", "status", str(cycle.id), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    keys = ["key", "label", "open", "invited", "sent", "completed", "declined", "failed"]
    assert [list(g) for g in status["groups"]] == [keys] * len(cycle.groups)
    assert list(status["totals"]) == ["invited", "sent", "completed", "declined", "failed"]
    by_key = {g["key"]: g["invited"] for g in status["groups"]}
    assert by_key == {g.key: g.invited for g in group_counts(session, cycle)}
    assert by_key["headteacher"] == 2 and status["totals"]["invited"] == 3


def test_personal_data_is_removed_only_after_the_report_and_only_once() -> None:
    cycle = Cycle(id=7, state=CycleState.CLOSED)
    assert not cycle.can_purge
    with pytest.raises(UserError, match="once the report has been sent"):
        cycle.ensure_can_purge()
    cycle.state = CycleState.REPORTED
    assert cycle.can_purge
    cycle.ensure_can_purge()
    cycle.purged_at = datetime(2026, 1, 5, tzinfo=UTC)
    assert not cycle.can_purge
    with pytest.raises(UserError, match="already been removed"):
        cycle.ensure_can_purge()


@pytest.mark.parametrize(
    ("email", "name", "group", "expected"),
    [
        ("Headteacher1+x@School.Example", "Ann", "headteacher", "reaches the same mailbox as"),
        ("new@school.example", "A\x00nn", "headteacher", "contains a NUL character"),
        ("new@school.example", "Ann", "governor", "unknown group 'governor'"),
        ("", "Ann", "headteacher", "email is empty"),
    ],
)
def test_one_person_is_refused_for_exactly_what_refuses_a_files_row(
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
    email: str,
    name: str,
    group: str,
    expected: str,
) -> None:
    cycle = make_cycle()
    add_people(cycle, {"headteacher": 1})
    invited = [i.email for i in session.scalars(select(Invitation))]
    sheet = read_recipients(
        f"email,name,group,school\n{email},{name},{group},\n",
        {g.key: g.label for g in cycle.groups},
        invited,
    )
    (problem,) = sheet.problems
    assert expected in problem.message

    with pytest.raises(UserError) as refused:
        add_one_person(session, cycle, email=email, name=name, group=group, school="", actor="test")
    assert str(refused.value) == f"not added: {problem.message}"
