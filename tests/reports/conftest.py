"""Fixtures for the report tests: the fixed golden cycle of tests/reports/golden/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment
from sqlalchemy.orm import Session

from survey import create_app
from survey.models import Cycle, CycleState, DeliveryStatus

from .factories import (
    EXEC_SECRET,
    FORMULA_COMMENT,
    GOLDEN_GROUPS,
    SCRIPT_COMMENT,
    expand,
    insert_responses,
    set_state,
)


@pytest.fixture
def jinja_env(tmp_path: Path) -> Environment:
    """The app's one Jinja environment, for report code that needs no database."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
            "SECRET_KEY": "a test key that is long enough to sign with",
        }
    )
    return app.jinja_env


@dataclass
class Golden:
    cycle: Cycle
    previous: Cycle


@pytest.fixture
def golden(
    session: Session,
    make_trust: Callable[..., Any],
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> Golden:
    """Three groups of 2, 6 and 12 respondents, min_group_size 3, a previous cycle,
    don't-knows, and comments including <script> and =HYPERLINK(...)."""
    trust = make_trust("Oak Learning Trust")
    year_ago = datetime(2025, 3, 1, 9, tzinfo=UTC)
    previous = make_cycle(
        trust,
        title="Spring 2025 review",
        opens_at=year_ago,
        closes_at=year_ago + timedelta(days=21),
        scope="1A,2A,3A",
        groups=GOLDEN_GROUPS,
        min_group_size=3,
    )
    opens = datetime(2026, 3, 2, 9, tzinfo=UTC)
    cycle = make_cycle(
        trust,
        title="Spring 2026 review",
        opens_at=opens,
        closes_at=opens + timedelta(days=21),
        scope="1A,2A,3A",
        groups=GOLDEN_GROUPS,
        min_group_size=3,
        min_comment_group_size=5,
        previous_cycle_id=previous.id,
    )
    invitations = add_people(cycle, {"executive": 3, "headteacher": 8, "middle-leader": 15})
    by_group: dict[str, list[Any]] = {}
    for invitation in invitations:
        by_group.setdefault(invitation.group.key, []).append(invitation)
    for key, done in (("executive", 2), ("headteacher", 6), ("middle-leader", 12)):
        for invitation in by_group[key][:done]:
            invitation.is_completed = True
    by_group["headteacher"][7].is_declined = True
    by_group["middle-leader"][14].delivery_status = DeliveryStatus.FAILED

    # Last year: executive 1 (hidden), headteachers 5 (shown), middle leaders 2 (hidden).
    insert_responses(
        session,
        previous,
        "executive",
        {"1A": ["green"], "2A": ["green"], "3A": ["green"]},
        {"1A": {0: "Last year's executive comment"}},
    )
    insert_responses(
        session,
        previous,
        "headteacher",
        {
            "1A": expand({"amber-green": 2, "amber-red": 3}),
            "2A": expand({"red": 3, "amber-red": 2}),
            "3A": expand({"amber-green": 5}),
        },
    )
    insert_responses(
        session,
        previous,
        "middle-leader",
        {"1A": ["red", "red"], "2A": ["red", "green"], "3A": ["green", "green"]},
    )

    # This year.
    insert_responses(
        session,
        cycle,
        "executive",
        {
            "1A": ["green", "green"],
            "2A": ["red", "amber-red"],
            "3A": ["amber-green", "dont-know"],
        },
        {"1A": {0: EXEC_SECRET}},
    )
    insert_responses(
        session,
        cycle,
        "headteacher",
        {
            "1A": expand({"green": 2, "amber-green": 3, "dont-know": 1}),
            "2A": expand({"red": 2, "amber-red": 2, "amber-green": 1, "green": 1}),
            "3A": expand({"amber-green": 4, "green": 2}),
        },
        {"1A": {0: SCRIPT_COMMENT, 3: "Strong shared purpose across our schools"}},
    )
    insert_responses(
        session,
        cycle,
        "middle-leader",
        {
            "1A": expand({"red": 2, "amber-red": 4, "amber-green": 4, "green": 1, "dont-know": 1}),
            "2A": expand({"amber-red": 2, "amber-green": 6, "green": 4}),
            "3A": expand({"amber-red": 1, "amber-green": 5, "green": 5, "dont-know": 1}),
        },
        {"2A": {5: FORMULA_COMMENT}, "3A": {1: "Teaching is observed termly"}},
    )
    set_state(previous, CycleState.REPORTED)
    set_state(cycle, CycleState.CLOSED)
    session.commit()
    return Golden(cycle, previous)
