"""The insider-proof rules on a cycle compiled from the database (both backends): an open
group's comments follow the comment threshold while its ratings are shown, and "Other groups
combined" holds only hidden groups of at least 2, withheld where all answers but one agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from survey.models import Cycle, CycleState
from survey.reports.compile import OTHER, compile_cycle
from survey.reports.outputs import render_report_html

from .factories import expand, insert_responses, set_state

GROUPS = [
    "executive:Executive team:open",
    "headteacher:Headteachers",
    "trustee:Trustees",
    "governor:Governors",
    "chair:Chair",
]


def test_an_open_groups_comments_follow_the_comment_threshold_and_small_groups_combine_safely(
    session: Session, make_cycle: Callable[..., Cycle], add_people: Callable[..., list[Any]]
) -> None:
    cycle = make_cycle(scope="1A,2A", groups=GROUPS, min_group_size=3, min_comment_group_size=5)
    add_people(cycle, {"executive": 2, "headteacher": 5, "trustee": 2, "governor": 2, "chair": 1})
    insert_responses(
        session,
        cycle,
        "executive",
        {"1A": ["green", "amber-green"], "2A": ["red", "red"]},
        {"1A": {0: "An executive's own words"}, "2A": {1: "Another executive remark"}},
    )
    insert_responses(
        session,
        cycle,
        "headteacher",
        {"1A": expand({"green": 3, "amber-red": 2}), "2A": expand({"amber-green": 5})},
        {"1A": {0: "A headteacher's view"}},
    )
    insert_responses(session, cycle, "trustee", {"1A": ["red", "green"], "2A": ["green", "red"]})
    insert_responses(
        session, cycle, "governor", {"1A": ["amber-red", "green"], "2A": ["green", "green"]}
    )
    insert_responses(session, cycle, "chair", {"1A": ["red"], "2A": ["red"]})
    set_state(cycle, CycleState.CLOSED)
    session.commit()

    report = compile_cycle(session, cycle)
    one_a, two_a = report.elements
    # The open group of two: its ratings shown, its comments not (2 < 5).
    assert report.column("executive").is_shown
    assert one_a.cells["executive"].counts is not None
    assert one_a.cells["executive"].counts["green"] == 1
    comments = [c for e in report.elements for c in e.comments]
    assert comments == ["A headteacher's view"]
    html = str(render_report_html(report))
    assert "An executive&#39;s own words" not in html and "Another executive remark" not in html

    # Trustees and governors (2 each) are combined; the chair's single response never is.
    other = report.column(OTHER)
    assert other.members == ("trustee", "governor") and other.responses == 4
    assert one_a.cells[OTHER].counts == {
        "red": 1, "amber-red": 1, "amber-green": 0, "green": 2, "dont-know": 0,
    }  # fmt: skip
    # 2A: three greens and one red among the four: the one who gave red would know the rest.
    assert two_a.cells[OTHER].is_hidden
    assert report.column("chair").is_shown is False
