"""The jobs: small, idempotent functions `(session, run) -> summary`, where `run.now` is the
time the job acts as of.

Each reads what is due from our own tables (cycle states and dates, invitation bookkeeping, the
outbox), never from the scheduler's store, does it, and flushes; the caller commits once at the
job's edge (`dispatch_outbox` is the exception: it commits per message). Running a job twice, or
in two processes at once, has the effect of running it once: due cycles are selected with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises every transaction), each state change
is guarded by the cycle's state machine, and every email has a unique outbox key.

One cycle that fails (a bug, bad data) is rolled back to its savepoint and logged, so it does
not stop the others; the failure is reported in the summary and the job tries again next run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from survey.mail.dispatch import dispatch
from survey.mail.messages import RenderedEmail
from survey.mail.outbox import (
    enqueue_invitations,
    enqueue_report_emails,
    report_page_url,
)
from survey.mail.reminders import enqueue_due_reminder
from survey.models import Cycle, CycleState, Invitation, MessageKind, OutboxMessage, Report
from survey.reports.compile import compile_cycle
from survey.reports.email import render_report_email
from survey.reports.store import store_report
from survey.services.cycles import close_cycle, open_cycle

log = logging.getLogger(__name__)

ACTOR = "scheduler"


@dataclass(frozen=True)
class JobRun:
    """What a job is given: the time it acts as of, and how it is being run."""

    now: datetime
    # Set when the scheduler is stopping: a long job ends early (a send under way is cut off).
    stop: threading.Event | None = None
    # The caller holds the scheduler lock, so no other scheduler, and no other dispatcher, runs.
    is_exclusive: bool = False


def _due_cycles(session: Session, *conditions: ColumnElement[bool]) -> Sequence[Cycle]:
    """Cycles matching `conditions`, locked; ones another process is working on are skipped."""
    return session.scalars(
        select(Cycle).where(*conditions).order_by(Cycle.id).with_for_update(skip_locked=True)
    ).all()


def _each(
    session: Session, cycles: Sequence[Cycle], what: str, action: Callable[[Cycle], object]
) -> tuple[list[int], list[int]]:
    """Run `action` per cycle in its own savepoint; returns (done ids, failed ids)."""
    done, failed = [], []
    for cycle in cycles:
        cycle_id = cycle.id
        try:
            with session.begin_nested():
                action(cycle)
        except Exception:
            log.exception("%s failed for cycle %s; will retry next run", what, cycle_id)
            failed.append(cycle_id)
        else:
            done.append(cycle_id)
    return done, failed


def _summary(verb: str, done: list[int], failed: list[int]) -> str:
    text = f"{len(done)} cycle(s) {verb}" + (f" ({', '.join(map(str, done))})" if done else "")
    if failed:
        text += f"; {len(failed)} failed ({', '.join(map(str, failed))})"
    return text


def open_due_cycles(session: Session, run: JobRun) -> str:
    """Open scheduled cycles whose open date has come; their invitations are enqueued.

    Also enqueues any invitation of an open cycle that has no invitation email yet (one added
    in a transaction that raced with the opening), so nobody is left uninvited.
    """
    now = run.now
    cycles = _due_cycles(session, Cycle.state == CycleState.SCHEDULED, Cycle.opens_at <= now)
    done, failed = _each(session, cycles, "opening", lambda c: open_cycle(session, c, ACTOR, now))
    missed = _due_cycles(
        session,
        Cycle.state == CycleState.OPEN,
        Cycle.id.in_(
            select(Invitation.cycle_id).where(
                Invitation.is_purged.is_(False),
                Invitation.is_declined.is_(False),
                Invitation.is_completed.is_(False),
                Invitation.email.is_not(None),
                ~exists().where(
                    OutboxMessage.invitation_id == Invitation.id,
                    OutboxMessage.kind == MessageKind.INVITATION,
                ),
            )
        ),
    )
    _each(session, missed, "inviting", lambda c: enqueue_invitations(session, c, now=now))
    return _summary("opened", done, failed)


def enqueue_due_reminders(session: Session, run: JobRun) -> str:
    """Enqueue each open cycle's latest due reminder for those who have not answered."""
    now = run.now
    cycles = session.scalars(
        select(Cycle)
        .where(Cycle.state == CycleState.OPEN, Cycle.closes_at > now)
        .order_by(Cycle.id)
    ).all()
    counts: dict[int, int] = {}

    def remind(cycle: Cycle) -> None:
        counts[cycle.id] = enqueue_due_reminder(session, cycle, now)

    _, failed = _each(session, cycles, "reminding", remind)
    total = sum(counts.values())
    text = f"{total} reminder(s) enqueued"
    if failed:
        text += f"; {len(failed)} cycle(s) failed ({', '.join(map(str, failed))})"
    return text


def close_due_cycles(session: Session, run: JobRun) -> str:
    """Close and seal open cycles whose close date has come."""
    now = run.now
    cycles = _due_cycles(session, Cycle.state == CycleState.OPEN, Cycle.closes_at <= now)
    done, failed = _each(session, cycles, "closing", lambda c: close_cycle(session, c, ACTOR, now))
    return _summary("closed", done, failed)


def compile_closed_cycles(session: Session, run: JobRun) -> str:
    """Compile each closed cycle's report, enqueue the report email, mark the cycle reported:
    all in the job's one transaction, so a crash repeats nothing and loses nothing."""
    now = run.now
    has_report = exists().where(Report.cycle_id == Cycle.id)
    cycles = _due_cycles(session, Cycle.state == CycleState.CLOSED, ~has_report)

    def compile_one(cycle: Cycle) -> None:
        compiled = compile_cycle(session, cycle)
        report = store_report(session, cycle, compiled)
        subject, text, html = render_report_email(
            cycle, compiled, report, report_url=report_page_url(cycle)
        )
        enqueue_report_emails(session, cycle, RenderedEmail(subject, text, html), now=now)
        cycle.mark_reported(now)
        session.flush()

    done, failed = _each(session, cycles, "compiling", compile_one)
    return _summary("compiled and reported", done, failed)


def dispatch_outbox(session: Session, run: JobRun) -> str:
    """Send the due emails (commits per message)."""
    return str(dispatch(session, run.now, stop=run.stop, is_exclusive=run.is_exclusive))
