"""In Chromium, checked with axe at 1280 and 375 px: the cycle page's notice that the scheduler
refuses to act on a wrong clock, and the report emails not yet delivered (still being tried, or
refused for good) on the cycle and report pages, each with its last error and a button that
sends it again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.schedule import JOBS, run_job
from survey.models import AdminUser, AuditEvent, Cycle, MessageKind, OutboxMessage, OutboxStatus
from survey.services.accounts import hash_password
from survey.services.clockcheck import ClockDisagrees, check_clock
from survey.services.cycles import launch_cycle
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD
from tests.admin.test_browser_journey import Checker, chromium, live_server  # noqa: F401

pytestmark = pytest.mark.browser
DAY = timedelta(days=1)


def reported_cycle_with_undelivered_emails(
    app: Flask, session: Session, make_cycle: Callable[..., Cycle], add_people: Callable[..., Any]
) -> Cycle:
    now = utcnow()
    cycle = make_cycle(
        title="Summer review",
        opens_at=now - 14 * DAY,
        closes_at=now - DAY,
        report_to=["ceo@oak.example", "chair@oak.example"],
    )
    add_people(cycle, {"headteacher": 3})
    launch_cycle(session, cycle, "test", now=now - 14 * DAY)
    cycle.close(now - DAY)  # nobody answered: nothing to seal
    session.commit()
    compile_job = next(job for job in JOBS if job.id == "compile-closed-cycles")
    run_job(app, compile_job, now)
    session.expire_all()
    ceo, chair = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == MessageKind.REPORT)
        .order_by(OutboxMessage.recipient)
    ).all()
    ceo.attempts, ceo.last_error = 12, "cannot connect to smtp://mail.oak.example:25: refused"
    chair.status, chair.attempts = OutboxStatus.FAILED, 1
    chair.last_error = "550 5.1.1 <chair@oak.example>: mailbox unavailable"
    session.commit()
    return cycle


def test_notices_of_a_wrong_clock_and_of_undelivered_report_emails_are_accessible(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    make_trust: Callable[..., Any],
    add_people: Callable[..., Any],
    live_server: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    backend: str,
) -> None:
    reported = reported_cycle_with_undelivered_emails(app, session, make_cycle, add_people)
    open_cycle = make_cycle(trust=reported.trust, title="Spring review")
    add_people(open_cycle, {"headteacher": 3})
    launch_cycle(session, open_cycle, "test")
    with pytest.raises(ClockDisagrees):  # the scheduler, a day ahead, refused to close
        check_clock(session, utcnow() + DAY, 300, job="close-due-cycles")
    session.commit()
    admin = AdminUser(
        email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[reported.trust]
    )
    session.add(admin)
    session.commit()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    check = Checker(page, backend)
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/admin/cycles/{open_cycle.id}")
    alert = page.get_by_role("alert")
    assert "The scheduler is not acting: its clock is wrong" in alert.inner_text()
    assert "1 day ahead of the database's clock" in alert.inner_text()
    check("cycle-clock-notice")

    page.goto(f"{live_server}/admin/cycles/{reported.id}")
    emails = page.locator("#report-emails-heading").locator("..").inner_text()
    assert "Not yet delivered to ceo@oak.example." in emails and "Tried 12 times" in emails
    assert "Not yet delivered to chair@oak.example." in emails and "refused it for good" in emails
    assert "550 5.1.1" in emails and "cannot connect to smtp://mail.oak.example" in emails
    assert page.get_by_role("alert").count() == 0  # a reported cycle has no steps left
    check("cycle-report-emails")

    page.goto(f"{live_server}/admin/cycles/{reported.id}/report")
    check("report-emails")
    page.get_by_role("button", name="Send the report email to chair@oak.example again now").click()
    assert "will be sent again within a minute" in page.locator(".flash").inner_text()
    assert page.url.endswith(f"/admin/cycles/{reported.id}/report")
    emails = page.locator("#report-emails-heading").locator("..").inner_text()
    assert "Waiting to be sent" not in emails  # it has been tried before: the count stays
    assert "Tried 1 time;" in emails
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.resend")).one()
    assert event.detail == "chair@oak.example"
    context.close()
