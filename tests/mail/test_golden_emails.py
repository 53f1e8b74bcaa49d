"""Snapshots of the invitation, reminder and report emails, as sent over SMTP, against the files
in tests/mail/golden/ (read them: they are what people receive). One cycle is run through the
real services and jobs with the clock set at each step, so every date in them is fixed.

After a deliberate change to an email, rewrite the files and read the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -p no:cacheprovider tests/mail/test_golden_emails.py
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask
from mail.smtp_sink import SmtpSink
from sqlalchemy.orm import Session

from jobs.schedule import run_once
from survey.models import Cycle, CycleState, Invitation
from survey.services import responses
from survey.services.cycles import launch_cycle
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.timeutil import Clock

GOLDEN = Path(__file__).parent / "golden"
LINK = re.compile(r"http://survey\.test/[sr]/[A-Za-z0-9_.\-]+")
OPENS = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # Monday, GMT
CLOSES = datetime(2024, 3, 22, 17, 0, tzinfo=UTC)  # Friday, GMT
RATINGS = ("green", "amber-green", "amber-red", "red")


def snapshot(message: EmailMessage) -> dict[str, str]:
    """The subject and both bodies, with the personal link (random each time) as {link}, and
    the wire's CRLF line ends as LF."""
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    # CPython folds a long subject onto the next line ("Subject:\r\n Oak...") and its parser
    # keeps the fold's space; mail clients do not show it.
    subject = str(message["Subject"]).strip()
    return {
        "txt": f"Subject: {subject}\n\n{LINK.sub('{link}', text)}",
        "html": LINK.sub("{link}", html),
    }


def check(name: str, message: EmailMessage) -> None:
    for suffix, content in snapshot(message).items():
        path = GOLDEN / f"{name}.{suffix}"
        if os.environ.get("UPDATE_GOLDEN"):
            path.parent.mkdir(exist_ok=True)
            path.write_text(content, encoding="utf-8")
        expected = path.read_text(encoding="utf-8")
        assert content == expected, f"{path.name} differs (UPDATE_GOLDEN=1 rewrites it)"


def run_jobs(app: Flask, session: Session) -> None:
    session.commit()
    outcomes = run_once(app)  # as of the application's (set) clock
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    session.expire_all()


def answer(session: Session, cycle: Cycle, invitation: Invitation, n: int) -> None:
    framework = get_cycle_framework(session, cycle)
    scope = get_cycle_scope(cycle)
    fields = [
        (f"rating-{e.code}", RATINGS[(n + i) % len(RATINGS)])
        for i, e in enumerate(framework.elements_in_scope(scope))
    ]
    answers = responses.parse_answers(fields, framework, scope)
    assert responses.record_response(session, invitation, answers, framework) == (
        responses.Outcome.RECORDED
    )
    session.commit()


def test_the_invitation_reminder_and_report_emails_match_their_golden_files(
    app: Flask,
    session: Session,
    make_trust: Callable[..., Any],
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    smtp: SmtpSink,
    clock: Clock,
) -> None:
    clock.freeze(OPENS - timedelta(days=7))
    cycle = make_cycle(
        make_trust("Oak Learning Trust"),
        title="Spring review",
        opens_at=OPENS,
        closes_at=CLOSES,
        scope="1A,2A",
        groups=["headteacher:Headteachers"],
        reminder_days="7",
        report_to=["ceo@oak.example"],
    )
    people = add_people(cycle, {"headteacher": 4})
    launch_cycle(session, cycle, "test")
    session.commit()
    assert cycle.state == CycleState.SCHEDULED

    clock.freeze(OPENS + timedelta(minutes=1))  # the scheduler opens it and sends invitations
    run_jobs(app, session)
    check("invitation", smtp.to(str(people[0].email))[0])

    for n, person in enumerate(people[:3]):
        answer(session, cycle, person, n)
    clock.freeze(CLOSES - timedelta(days=6))  # past the reminder 7 days before the close
    run_jobs(app, session)
    (reminder,) = smtp.to(str(people[3].email))[1:]
    check("reminder", reminder)

    clock.freeze(CLOSES + timedelta(minutes=1))  # closed, sealed, compiled and reported
    run_jobs(app, session)
    assert cycle.state == CycleState.REPORTED
    (report,) = smtp.to("ceo@oak.example")
    check("report", report)
