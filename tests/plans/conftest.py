"""Fixtures for the plan tests: a compiled, reported cycle of all 14 elements with people who
answered, one who declined and some who did not; signed-in admins; a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from mail.smtp_sink import SmtpSink
from sqlalchemy import update
from sqlalchemy.orm import Session

import framework as fw
from survey.models import AdminRole, AdminUser, Cycle, CycleState, Invitation, Trust, trust_admins
from survey.reports.store import store_report
from survey.services.accounts import hash_password
from tests.admin.helpers import PASSWORD, Browser
from tests.reports.factories import insert_responses, set_state

CODES = [e.code for e in fw.load_builtin("mat-assurance").elements]
# Answers per group for every element: the executive rate highly, middle leaders lower.
PATTERNS = {
    "executive": ["green", "amber-green", "green"],
    "headteacher": ["amber-green", "amber-red", "amber-green", "green"],
    "middle-leader": ["amber-red", "red", "amber-green", "amber-red"],
}
WEAK = {"2A", "3B", "5A"}  # everyone rates these lower: the report's priorities


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {
        **app_config,
        "MAIL_URL": smtp.url,
        "MAIL_FROM": "Oak reviews <reviews@oak.example>",
        "MAIL_TIMEOUT": 5,
    }


@dataclass
class Reported:
    cycle: Cycle
    invitations: list[Invitation]


def _answers(key: str, shift: int) -> dict[str, list[str]]:
    keys = ["red", "amber-red", "amber-green", "green"]
    out = {}
    for code in CODES:
        row = PATTERNS[key]
        if code in WEAK:
            row = [keys[max(0, keys.index(k) - 1 - shift)] for k in row]
        elif shift:
            row = [keys[max(0, keys.index(k) - shift)] for k in row]
        out[code] = row
    return out


@pytest.fixture
def reported(
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> Callable[..., Reported]:
    """reported(trust, title=..., previous=None, shift=0, held=False) -> a reported cycle with
    its report stored: 14 people invited, 11 answered, 1 declined, 2 did not answer. With
    held=True the cycle is closed with its report held for review and not yet compiled."""

    def make(
        trust: Trust, *, title: str = "Spring 2026 review", previous: Cycle | None = None,
        shift: int = 0, opens_at: datetime | None = None, held: bool = False,
    ) -> Reported:  # fmt: skip
        opens = opens_at or datetime(2026, 3, 2, 9, tzinfo=UTC)
        cycle = make_cycle(
            trust,
            title=title,
            opens_at=opens,
            closes_at=opens + timedelta(days=21),
            scope="all",
            previous_cycle_id=previous.id if previous else None,
        )
        people = add_people(
            cycle,
            {"executive": 3, "headteacher": 5, "middle-leader": 6},
            domain=f"c{cycle.id}.example",
        )
        by_group: dict[str, list[Invitation]] = {}
        for person in people:
            by_group.setdefault(person.group.key, []).append(person)
        for key, answered in PATTERNS.items():
            for person in by_group[key][: len(answered)]:
                person.is_completed = True
            insert_responses(session, cycle, key, _answers(key, shift))
        by_group["middle-leader"][4].is_declined = True
        set_state(cycle, CycleState.CLOSED)
        if held:  # closed, its report held for review: the scheduler compiles it, unsent
            cycle.is_report_held = True
            session.commit()
            return Reported(cycle, people)
        session.commit()
        store_report(session, cycle)
        cycle.state = CycleState.REPORTED
        cycle.reported_at = cycle.closes_at
        session.commit()
        return Reported(cycle, people)

    return make


@pytest.fixture
def make_admin(session: Session) -> Callable[..., AdminUser]:
    def make(email: str, trust: Trust, role: AdminRole = AdminRole.ADMIN) -> AdminUser:
        admin = AdminUser(email=email, password_hash=hash_password(PASSWORD), trusts=[trust])
        session.add(admin)
        session.flush()
        session.execute(
            update(trust_admins)
            .where(trust_admins.c.admin_id == admin.id, trust_admins.c.trust_id == trust.id)
            .values(role=role)
        )
        session.commit()
        return admin

    return make


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)
