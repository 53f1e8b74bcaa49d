"""Drill: the mail server is down for two days when a cycle's report is compiled: far longer than
the old retry budget (8 attempts, about 4 hours). The report emails keep being tried at the
capped interval; meanwhile the cycle page and the report page say "Not yet delivered to ..."
with the last error and a button to send again (audited). When the server is back, each
recipient gets the report once, with its attachments. Time is moved by the dispatcher's `now`,
not by waiting. In-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.schedule import JOBS, run_job
from survey.config import update_settings
from survey.db import db
from survey.mail.dispatch import dispatch
from survey.models import AdminUser, AuditEvent, Cycle, MessageKind, OutboxMessage, OutboxStatus
from survey.services.accounts import hash_password
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD, Browser

from .helpers import DAY, Inbox, open_cycle_now

RECIPIENTS = ["ceo@oak.example", "chair@oak.example"]
OLD_ATTEMPT_LIMIT = 8


def report_rows(session: Session) -> list[OutboxMessage]:
    rows = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == MessageKind.REPORT)
            .order_by(OutboxMessage.recipient)
            .execution_options(populate_existing=True)
        )
    )
    session.commit()  # never sit on SQLite's write lock
    return rows


def test_a_report_email_outlives_a_two_day_outage_and_the_pages_say_not_yet_delivered(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., Any],
    inbox: Inbox,
) -> None:
    update_settings(app, MAIL_URL=inbox.url)  # nothing listens there yet: the server is down
    start = utcnow()
    cycle = make_cycle(
        opens_at=start - 14 * DAY, closes_at=start - timedelta(hours=1), report_to=RECIPIENTS
    )
    open_cycle_now(session, cycle, len(add_people(cycle, {"headteacher": 3})), start - 14 * DAY)
    # Nobody answered, so there is nothing to seal: closed through the model's own transition.
    cycle.close(start - timedelta(hours=1))
    session.commit()
    compile_job = next(job for job in JOBS if job.id == "compile-closed-cycles")
    run_job(app, compile_job, start)  # compiles, and queues one report email per recipient
    assert [row.recipient for row in report_rows(session)] == RECIPIENTS

    admin = AdminUser(
        email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[cycle.trust]
    )
    session.add(admin)
    session.commit()
    browser = Browser(app.test_client())
    assert browser.sign_in(admin.email).status_code == 303

    # Two days of hourly dispatcher runs against a server that is down.
    for hour in range(48):
        with app.app_context():
            dispatch(db.session, now=start + timedelta(hours=hour))
    rows = report_rows(session)
    assert all(row.status == OutboxStatus.PENDING for row in rows)
    assert all(row.attempts > OLD_ATTEMPT_LIMIT for row in rows), [r.attempts for r in rows]
    for page in (f"/admin/cycles/{cycle.id}", f"/admin/cycles/{cycle.id}/report"):
        html = browser.get(page).get_data(as_text=True)
        for recipient in RECIPIENTS:
            assert f"Not yet delivered to {recipient}." in html, page
        assert f"cannot connect to smtp://127.0.0.1:{inbox.port}" in html
        assert html.count("Send again now</button>") == len(RECIPIENTS)

    # The CEO presses "Send again now" for the chair: audited, and due at once.
    chair = rows[1]
    resent = browser.post(
        f"/admin/cycles/{cycle.id}/report/emails/{chair.id}/resend",
        {"back": "report"},
        page=f"/admin/cycles/{cycle.id}/report",
    )
    assert resent.status_code == 303 and resent.location.endswith(f"/cycles/{cycle.id}/report")
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.resend")).one()
    session.commit()
    assert (event.actor, event.detail) == ("ceo@oak.example", "chair@oak.example")

    # The server is back: each recipient gets the report once, with its same Message-ID.
    inbox.start()
    with app.app_context():
        dispatch(db.session, now=start + 50 * timedelta(hours=1))
    rows = report_rows(session)
    assert all(row.status == OutboxStatus.SENT for row in rows)
    received = inbox.snapshot()
    assert Counter(str(m["To"]) for m in received) == Counter(RECIPIENTS)
    assert {str(m["Message-ID"]) for m in received} == {row.message_id for row in rows}
    for message in received:
        names = sorted(str(part.get_filename()) for part in message.iter_attachments())
        assert names == ["report.pdf", "results.xlsx"]
    html = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "Not yet delivered" not in html
    assert all(f"Delivered to {recipient}" in html for recipient in RECIPIENTS)
