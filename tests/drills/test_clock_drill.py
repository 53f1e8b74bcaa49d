"""Drill: the scheduler is given a clock a day ahead of the database's, while a cycle has 12 hours
left. It closes nothing: `jobs run-once --now` refuses without `--force`, and a long-running
scheduler refuses every step that acts on a date, says so in its log and on the cycle page, and
still sends mail. Once the clocks agree the notice goes. A scheduler whose clock steps back a
day, then forward again, keeps running its jobs. In-process (the scheduler's clock is a
parameter), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.schedule import run_scheduler
from survey.config import update_settings
from survey.models import AdminUser, AuditEvent, ClockRefusal, Cycle, CycleState, Invitation
from survey.services.accounts import hash_password
from survey.services.cycles import launch_cycle
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD, Browser

from .helpers import wait_until

DAY = timedelta(days=1)
NOTICE = "The scheduler is not acting: its clock is wrong"


@pytest.fixture
def outbox(app: Flask, tmp_path: Path) -> Path:
    folder = tmp_path / "mail"
    update_settings(app, MAIL_URL=f"file://{folder}", JOBS_INTERVAL_SECONDS=0.2)
    return folder


@pytest.fixture
def cycle_with_12_hours_left(
    app: Flask, session: Session, make_cycle: Callable[..., Cycle], add_people: Callable[..., Any]
) -> Cycle:
    now = utcnow()
    cycle = make_cycle(opens_at=now - 2 * DAY, closes_at=now + timedelta(hours=12))
    add_people(cycle, {"headteacher": 3})
    with app.app_context():  # opening it renders the invitations
        launch_cycle(session, cycle, "test", now=now - 2 * DAY)
        session.commit()
    return cycle


def signed_in(app: Flask, session: Session, cycle: Cycle) -> Browser:
    admin = AdminUser(
        email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[cycle.trust]
    )
    session.add(admin)
    session.commit()
    browser = Browser(app.test_client())
    assert browser.sign_in(admin.email).status_code == 303
    return browser


@contextmanager
def scheduler(app: Flask, clock: Callable[[], datetime]) -> Iterator[None]:
    """`jobs run` in a thread, on `clock`; stopped (and proved stopped) on leaving."""
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(app, stop), kwargs={"clock": clock})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the scheduler did not stop"


def mail_count(folder: Path) -> int:
    return len(list(folder.glob("*.eml"))) if folder.exists() else 0


def count(session: Session, stmt: Any) -> int:
    value = int(session.scalar(stmt) or 0)
    session.commit()  # never sit on SQLite's write lock while the scheduler works
    return value


def state(session: Session, cycle: Cycle) -> CycleState:
    value = session.scalar(select(Cycle.state).where(Cycle.id == cycle.id))
    session.commit()
    assert value is not None
    return value


def test_a_scheduler_a_day_ahead_closes_nothing_and_says_why(
    app: Flask,
    session: Session,
    cycle_with_12_hours_left: Cycle,
    outbox: Path,
    runner: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle = cycle_with_12_hours_left
    closes = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "cycle.close")
    browser = signed_in(app, session, cycle)

    # `run-once --now` a day ahead: refused before anything runs.
    ahead = (utcnow() + DAY).isoformat()
    result = runner.invoke(args=["jobs", "run-once", "--now", ahead])
    assert result.exit_code == 1
    assert "1 day ahead of" in result.output and "add --force" in result.output
    assert state(session, cycle) == CycleState.OPEN and mail_count(outbox) == 0

    # A long-running scheduler whose clock is a day ahead: every step that acts on a date is
    # refused, and says so; mail still goes out.
    caplog.set_level("INFO", logger="jobs.schedule")
    with scheduler(app, lambda: utcnow() + DAY):
        wait_until(lambda: mail_count(outbox) == 3, 30, "the invitations to be sent")
        wait_until(
            lambda: count(session, select(func.count()).select_from(ClockRefusal)) == 1,
            30,
            "the refusal to be recorded",
        )
        page = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert state(session, cycle) == CycleState.OPEN
    assert count(session, closes) == 0
    assert NOTICE in page and "1 day ahead of the database" in page
    refused = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("close-due-cycles refused" in line and "1 day ahead of" in line for line in refused)

    # The clock put right: the notice goes, and the cycle still has its 12 hours.
    with scheduler(app, utcnow):
        wait_until(
            lambda: count(session, select(func.count()).select_from(ClockRefusal)) == 0,
            30,
            "the refusal to be cleared",
        )
    assert NOTICE not in browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert state(session, cycle) == CycleState.OPEN
    assert count(session, closes) == 0


def test_a_scheduler_whose_clock_steps_back_and_forward_keeps_running_its_jobs(
    app: Flask,
    session: Session,
    cycle_with_12_hours_left: Cycle,
    outbox: Path,
    add_people: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle = cycle_with_12_hours_left
    offset = [timedelta(0)]
    caplog.set_level("INFO", logger="jobs.schedule")
    with scheduler(app, lambda: utcnow() + offset[0]):
        wait_until(lambda: mail_count(outbox) == 3, 30, "the invitations to be sent")
        for step, expected, said in (
            (-DAY, 4, "system clock stepped back by 1 day"),
            (timedelta(0), 5, "system clock stepped forward by 1 day"),
        ):
            offset[0] = step
            # Someone added now is invited by the next runs, whatever the clock did.
            with app.app_context():  # the cycle is open: invited at once
                add_people(cycle, {"middle-leader": 1}, domain=f"step{expected}.example")
            wait_until(lambda n=expected: mail_count(outbox) == n, 30, f"invitation {expected}")
            # The watch (every 0.2 s) says so, however soon the dispatcher sent that mail.
            wait_until(
                lambda s=said: any(s in r.getMessage() for r in list(caplog.records)),
                30,
                f"the log to say: {said}",
            )
    assert count(session, select(func.count()).select_from(Invitation)) == 5
