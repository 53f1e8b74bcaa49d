"""Fixtures for the report tests: the fixed golden cycle of tests/reports/golden/."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment
from sqlalchemy.orm import Session

import framework as fw
from survey import create_app
from survey.models import Cycle, CycleState, DeliveryStatus
from survey.services.cycles import add_invitations
from survey.services.recipients import RecipientRow

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


# -- a real-size cycle: all questions, four groups (one hidden), a previous cycle, comments that
# name people, schools, addresses and phone numbers -------------------------------------------

REAL_GROUPS = [
    "executive:Executive leaders and chair:open",
    "headteacher:Headteachers",
    "middle-leader:Middle leaders",
    "trustee:Trustees",
]
REAL_PEOPLE = {
    # group key -> (name, school) per invitation; emails are made from the names.
    "executive": [("Helen Achebe", "Trust central team"), ("Robert Lindqvist", ""),
                  ("Priya Raman", "Trust central team")],
    "headteacher": [("Siobhan Okafor", "Oakfield Primary School"),
                    ("Marcus Whitfield", "Brambleton Academy"),
                    ("Zoë Kowalczyk", "St Aidan's CE Junior School"),
                    ("Gareth Penhaligon", "Harrowdene High School"),
                    ("Amara Nwosu", "Kestrel Brook Primary"),
                    ("Tomasz Brzezinski", "Millbrook Infant School"),
                    ("Felicity Ashworth", "Wyvern Park Academy"),
                    ("Declan Muir", "Oakfield Primary School")],
    "middle-leader": [(f"Leader{n} Surname{n}", "Brambleton Academy") for n in range(1, 26)],
    "trustee": [("Imogen Carstairs", ""), ("Barnaby Quennell", "")],
}  # fmt: skip
# What each kind of comment must lose, and what it becomes.
IDENTIFYING_COMMENTS = [
    "Siobhan Okafor at Oakfield Primary School did not share the plan with us.",
    "Ask Mr Whitfield: Brambleton has the best moderation; email marcus.whitfield@oak.example.",
    "Our head Zoë never came to St Aidan's CE Junior School meetings.",
    "Ring me on 07700 900123 or +44 (0)20 7946 0958 and I'll explain.",
    "Write to someone.else@elsewhere.example for the minutes of Harrowdene High School.",
    "Gareth at Harrowdene is the only one who follows up; Kestrel Brook does not.",
]
IDENTIFIERS = [
    "Siobhan", "Okafor", "Oakfield", "Whitfield", "Brambleton", "marcus.whitfield", "Zoë",
    "St Aidan", "07700", "7946", "someone.else", "Harrowdene", "Gareth", "Kestrel Brook",
]  # fmt: skip


def _spread(rng: random.Random, n: int, weights: tuple[int, ...]) -> list[str]:
    keys = ["red", "amber-red", "amber-green", "green", "dont-know"]
    return rng.choices(keys, weights=weights, k=n)


@dataclass
class RealSize:
    cycle: Cycle
    previous: Cycle


@pytest.fixture
def real_size(
    session: Session,
    make_trust: Callable[..., Any],
    make_cycle: Callable[..., Cycle],
) -> RealSize:
    """All questions, 4 groups (trustees hidden: 2 responses), last year's cycle on the questions
    to start with, and comments naming people, schools, addresses and phone numbers."""
    trust = make_trust("Severn Valley Learning Trust")
    rng = random.Random(15)
    year_ago = datetime(2025, 11, 3, 9, tzinfo=UTC)
    previous = make_cycle(
        trust,
        title="Autumn review 2025",
        opens_at=year_ago,
        closes_at=year_ago + timedelta(days=21),
        scope="start",
        groups=REAL_GROUPS,
    )
    opens = datetime(2026, 11, 2, 9, tzinfo=UTC)
    cycle = make_cycle(
        trust,
        title="Autumn review 2026",
        opens_at=opens,
        closes_at=opens + timedelta(days=21),
        scope="all",
        groups=REAL_GROUPS,
        previous_cycle_id=previous.id,
    )
    rows = []
    for key, people in REAL_PEOPLE.items():
        for name, school in people:
            email = name.lower().replace(" ", ".").replace("ë", "e") + "@oak.example"
            rows.append(RecipientRow(len(rows) + 2, email, name, key, school))
    invitations = add_invitations(session, cycle, rows, "test")
    codes = [e.code for e in fw.load_builtin("mat-assurance").elements]
    # (responses now, responses last year, answer weights red..dont-know) per group.
    plan = {
        "executive": (3, 3, (0, 1, 4, 5, 0)),
        "headteacher": (7, 4, (2, 5, 3, 1, 1)),
        "middle-leader": (25, 12, (2, 4, 5, 2, 1)),
        "trustee": (2, 2, (1, 1, 1, 1, 0)),
    }
    for key, (now_n, before_n, weights) in plan.items():
        for invitation in [i for i in invitations if i.group.key == key][:now_n]:
            invitation.is_completed = True
        answers = {code: _spread(rng, now_n, weights) for code in codes}
        comments: dict[str, dict[int, str]] = {}
        if key == "middle-leader":
            for i, text in enumerate(IDENTIFYING_COMMENTS):
                comments.setdefault(codes[i], {})[i] = text
            comments.setdefault("2A", {})[10] = "Moderation is strong in English and maths."
        if key == "trustee":
            comments["1A"] = {0: "TRUSTEE-ONLY remark that must never be shown"}
        insert_responses(session, cycle, key, answers, comments)
        before = {code: _spread(rng, before_n, weights) for code in codes}
        insert_responses(session, previous, key, before)
    set_state(previous, CycleState.REPORTED)
    set_state(cycle, CycleState.CLOSED)
    session.commit()
    return RealSize(cycle, previous)
