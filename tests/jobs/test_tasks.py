"""The jobs on a controlled clock, against a real SMTP server, on SQLite and PostgreSQL: a whole
cycle across the October clock change (open, invite, remind, close and seal, compile, report),
and each job's effect happening once however often, and however concurrently, it runs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from mail.smtp_sink import SmtpSink
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.schedule import JOBS, run_job, run_once
from survey.models import (
    AuditEvent,
    Cycle,
    CycleState,
    DeliveryStatus,
    Invitation,
    MessageKind,
    OutboxMessage,
    Report,
)
from survey.services.cycles import launch_cycle
from survey.timeutil import Clock


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run_jobs(app: Flask, session: Session, now: datetime) -> dict[str, str]:
    session.commit()  # hold no transaction (on SQLite it would hold the write lock)
    # Forced: these tests set the time explicitly, far from the database's clock.
    outcomes = run_once(app, now, force=True)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    session.expire_all()
    return {o.job.id: o.summary for o in outcomes}


def recipients(smtp: SmtpSink, subject_start: str) -> list[str]:
    return sorted(
        r.recipients[0]
        for r in smtp.snapshot()
        if str(r.message["Subject"]).startswith(subject_start)
    )


def by_email(session: Session, cycle: Cycle) -> dict[str, Invitation]:
    rows = session.scalars(select(Invitation).where(Invitation.cycle_id == cycle.id))
    return {str(i.email).split("@")[0]: i for i in rows}


def test_a_cycle_runs_itself_across_the_october_clock_change(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    # Opens Monday 18 October 2027 09:00 BST; closes Thursday 4 November 09:00 GMT (the clocks go
    # back on Sunday 31 October). Reminders: 7 days before (Thursday 28 October, 08:00 BST =
    # 07:00 UTC) and 2 days before (Tuesday 2 November, 08:00 GMT = 08:00 UTC).
    cycle = make_cycle(
        opens_at=utc(2027, 10, 18, 8),
        closes_at=utc(2027, 11, 4, 9),
        report_to=["ceo@oak.example", "chair@oak.example"],
    )
    add_people(cycle, {"executive": 3, "headteacher": 4})
    launch_cycle(session, cycle, "test", now=utc(2027, 10, 11, 9))
    assert cycle.state == CycleState.SCHEDULED
    smtp.reject.add("headteacher4@school.example")

    run_jobs(app, session, utc(2027, 10, 18, 7, 59))
    session.refresh(cycle)
    assert cycle.state == CycleState.SCHEDULED and smtp.count == 0

    summary = run_jobs(app, session, utc(2027, 10, 18, 8))
    session.refresh(cycle)
    assert cycle.state == CycleState.OPEN
    assert summary["dispatch-outbox"] == "sent 6, retried 0, failed 1, cancelled 0"
    run_jobs(app, session, utc(2027, 10, 18, 8, 1))
    assert smtp.count == 6

    people = by_email(session, cycle)
    assert people["headteacher4"].delivery_status == DeliveryStatus.FAILED
    people["executive1"].is_completed = True
    people["headteacher1"].is_declined = True

    run_jobs(app, session, utc(2027, 10, 28, 6, 59))
    assert recipients(smtp, "Reminder") == []
    run_jobs(app, session, utc(2027, 10, 28, 7))
    expected = ["executive2", "executive3", "headteacher2", "headteacher3"]
    assert recipients(smtp, "Reminder") == [f"{p}@school.example" for p in expected]
    reminder = smtp.to("executive2@school.example")[-1]
    assert str(reminder["Subject"]).startswith("Reminder: Oak Learning Trust")
    body = reminder.get_body(("plain",)).get_content()
    assert "closes on Thursday 4 November 2027, 09:00 (GMT)" in body
    assert "stored without your name, email or link" in body
    assert "http://survey.test/s/" in body
    run_jobs(app, session, utc(2027, 10, 28, 7, 30))
    run_jobs(app, session, utc(2027, 10, 29, 12))
    assert len(recipients(smtp, "Reminder")) == 4

    by_email(session, cycle)["executive2"].is_completed = True
    run_jobs(app, session, utc(2027, 11, 2, 7, 59))
    assert len(recipients(smtp, "Reminder")) == 4
    run_jobs(app, session, utc(2027, 11, 2, 8))
    second = ["executive3", "headteacher2", "headteacher3"]
    assert recipients(smtp, "Reminder") == sorted(
        [f"{p}@school.example" for p in expected + second]
    )
    people = by_email(session, cycle)
    assert people["executive3"].reminders_sent == 2
    assert people["executive2"].reminders_sent == 1
    assert people["executive1"].reminders_sent == 0

    run_jobs(app, session, utc(2027, 11, 4, 8, 59, 59))
    session.refresh(cycle)
    assert cycle.state == CycleState.OPEN
    summary = run_jobs(app, session, utc(2027, 11, 4, 9))
    session.refresh(cycle)
    assert summary["close-due-cycles"] == f"1 cycle(s) closed ({cycle.id})"
    assert cycle.state == CycleState.REPORTED
    assert cycle.closed_at == utc(2027, 11, 4, 9) and cycle.sealed_at is not None
    reports = [r for r in smtp.snapshot() if "report" in str(r.message["Subject"]).lower()]
    assert sorted(r.recipients[0] for r in reports) == ["ceo@oak.example", "chair@oak.example"]
    for received in reports:
        names = sorted(str(part.get_filename()) for part in received.message.iter_attachments())
        assert names == ["report.pdf", "results.xlsx"]
        pdf = next(
            p for p in received.message.iter_attachments() if p.get_filename() == "report.pdf"
        )
        assert pdf.get_content().startswith(b"%PDF")

    total = smtp.count
    run_jobs(app, session, utc(2027, 11, 5, 9))
    run_jobs(app, session, utc(2027, 11, 20, 9))
    assert smtp.count == total  # nothing is ever sent twice
    assert session.scalar(select(func.count()).select_from(Report)) == 1


def test_each_job_run_concurrently_has_its_effect_once(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    cycle = make_cycle(opens_at=utc(2027, 5, 3, 8), closes_at=utc(2027, 5, 17, 16))
    add_people(cycle, {"headteacher": 5})
    launch_cycle(session, cycle, "test", now=utc(2027, 5, 1, 9))
    session.commit()
    jobs = {job.id: job for job in JOBS}

    def twice_at_once(job_id: str, now: datetime) -> None:
        session.commit()  # our own reads must not hold SQLite's write lock
        errors: list[BaseException] = []

        def work() -> None:
            try:
                run_job(app, jobs[job_id], now, force=True)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors

    def events(action: str) -> int:
        session.expire_all()
        return int(
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
            or 0
        )

    twice_at_once("open-due-cycles", utc(2027, 5, 3, 8))
    assert events("cycle.open") == 1
    outbox = session.scalars(select(OutboxMessage)).all()
    assert len(outbox) == 5 and {m.kind for m in outbox} == {MessageKind.INVITATION}

    twice_at_once("dispatch-outbox", utc(2027, 5, 3, 8))
    assert smtp.count == 5 and len(set(smtp.message_ids())) == 5

    twice_at_once("enqueue-due-reminders", utc(2027, 5, 10, 8))
    reminders = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.REMINDER)
    ).all()
    assert len(reminders) == 5

    twice_at_once("close-due-cycles", utc(2027, 5, 17, 16))
    assert events("cycle.close") == 1
    # Reminders still waiting when the cycle closed are never sent: sealing drops the reminder
    # bookkeeping, which would date when each person completed.
    twice_at_once("dispatch-outbox", utc(2027, 5, 17, 16))
    assert smtp.count == 5
    statuses = session.scalars(
        select(OutboxMessage.status).where(OutboxMessage.kind == MessageKind.REMINDER)
    ).all()
    assert statuses == []

    twice_at_once("compile-closed-cycles", utc(2027, 5, 17, 16, 1))
    assert session.scalar(select(func.count()).select_from(Report)) == 1
    report_rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.REPORT)
    ).all()
    assert len(report_rows) == 1
    session.refresh(cycle)
    assert cycle.state == CycleState.REPORTED


def test_run_once_prints_one_line_per_job(
    app: Flask,
    runner: Any,
    session: Session,
    make_cycle: Any,
    add_people: Any,
    smtp: SmtpSink,
    clock: Clock,
) -> None:
    # The application's clock (and so, through the clock check, the database's) says 1 May 2027:
    # a --now two days later is refused as "ahead of" it, whatever the real date.
    clock.set(utc(2027, 5, 1, 9))
    cycle = make_cycle(opens_at=utc(2027, 5, 3, 8), closes_at=utc(2027, 5, 17, 16))
    add_people(cycle, {"headteacher": 2})
    launch_cycle(session, cycle, "test", now=utc(2027, 5, 1, 9))
    session.commit()

    at = ["--now", "2027-05-03T09:00:00+01:00"]
    refused = runner.invoke(args=["jobs", "run-once", *at])
    assert refused.exit_code == 1
    assert "add --force" in refused.output and "ahead of" in refused.output
    assert smtp.count == 0
    result = runner.invoke(args=["jobs", "run-once", *at, "--force"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [job.id for job in JOBS]
    assert f"open-due-cycles: 1 cycle(s) opened ({cycle.id})" in lines
    assert "dispatch-outbox: sent 2, retried 0, failed 0, cancelled 0" in lines
    assert smtp.count == 2

    bad = runner.invoke(args=["jobs", "run-once", "--now", "next tuesday"])
    assert bad.exit_code == 1
    assert "is not an ISO date" in bad.output


def test_the_scheduler_runs_the_one_list_of_jobs_with_stable_ids() -> None:
    assert [job.id for job in JOBS] == [
        "open-due-cycles",
        "enqueue-due-reminders",
        "close-due-cycles",
        "compile-closed-cycles",
        "dispatch-outbox",
    ]
    # Every job but sending mail acts because a date has come, and checks the clock first.
    assert [job.id for job in JOBS if not job.acts_on_date] == ["dispatch-outbox"]
