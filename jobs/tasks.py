"""The jobs: small, idempotent functions `(session, run) -> summary`, where `run.now` is the
time the job acts as of.

Each reads what is due from our own tables (cycle states and dates, invitation bookkeeping, the
outbox), never from the scheduler's store, does it, and flushes; the caller commits once at the
job's edge (the exceptions: `dispatch_outbox` commits per message, `compile_closed_cycles` per
report). Running a job twice, or in two processes at once, has the effect of running it once:
due cycles are selected with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serialises every
transaction that writes), each state change
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

from survey.db import read_only
from survey.mail.dispatch import dispatch
from survey.mail.messages import LINK_PLACEHOLDER, RenderedEmail
from survey.mail.outbox import (
    enqueue_invitations,
    enqueue_report_emails,
    has_outbox_message,
)
from survey.mail.reminders import enqueue_due_reminder
from survey.models import Cycle, CycleState, Invitation, MessageKind, Report
from survey.reports.compile import CycleInputs
from survey.reports.email import render_report_email
from survey.reports.store import (
    RenderedReport,
    load_inputs,
    render_report_in_background,
    save_report,
)
from survey.services.cycles import close_cycle, open_cycle
from survey.services.report_review import is_awaiting_release

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
        select(Cycle)
        .where(*conditions)
        .order_by(Cycle.id)
        .with_for_update(skip_locked=True)
        # Fresh from the row just locked: the session keeps its objects across commits.
        .execution_options(populate_existing=True)
    ).all()


def run_per_cycle_in_savepoint(
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
    done, failed = run_per_cycle_in_savepoint(
        session, cycles, "opening", lambda c: open_cycle(session, c, ACTOR, now)
    )
    missed = _due_cycles(
        session,
        Cycle.state == CycleState.OPEN,
        Cycle.id.in_(
            select(Invitation.cycle_id).where(
                Invitation.is_awaiting_email,
                ~has_outbox_message(MessageKind.INVITATION),
            )
        ),
    )
    run_per_cycle_in_savepoint(
        session, missed, "inviting", lambda c: enqueue_invitations(session, c, now=now)
    )
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

    _, failed = run_per_cycle_in_savepoint(session, cycles, "reminding", remind)
    total = sum(counts.values())
    text = f"{total} reminder(s) enqueued"
    if failed:
        text += f"; {len(failed)} cycle(s) failed ({', '.join(map(str, failed))})"
    return text


def close_due_cycles(session: Session, run: JobRun) -> str:
    """Close and seal open cycles whose close date has come."""
    now = run.now
    cycles = _due_cycles(session, Cycle.state == CycleState.OPEN, Cycle.closes_at <= now)
    done, failed = run_per_cycle_in_savepoint(
        session, cycles, "closing", lambda c: close_cycle(session, c, ACTOR, now)
    )
    return _summary("closed", done, failed)


def compile_closed_cycles(session: Session, run: JobRun) -> str:
    """Compile each closed cycle's report, store it, enqueue the report email and mark the
    cycle reported. The data is read in one short read-only transaction, the files (PDF, PNG:
    seconds of CPU) are rendered with no transaction open and at a lower CPU priority, and each
    report is then stored, emailed and marked in one transaction of its own, so a crash repeats
    nothing and loses nothing. (On SQLite, a transaction held through the rendering would stop
    every submit meanwhile.) A report held for the CEO's review is stored but not emailed (the
    cycle stays closed); releasing it drops that copy, so it is compiled again here, without the
    comments hidden, and emailed."""
    now = run.now
    has_report = exists().where(Report.cycle_id == Cycle.id)
    with read_only():
        due = session.scalars(
            select(Cycle).where(Cycle.state == CycleState.CLOSED, ~has_report).order_by(Cycle.id)
        ).all()
        inputs: dict[int, CycleInputs] = {}
        _, failed = run_per_cycle_in_savepoint(
            session, due, "reading", lambda c: inputs.__setitem__(c.id, load_inputs(session, c))
        )
        session.commit()

    done: list[int] = []
    held: list[int] = []
    stale: list[int] = []
    for cycle_id, data in inputs.items():
        try:
            rendered = render_report_in_background(data)
        except Exception:
            log.exception("compiling failed for cycle %s; will retry next run", cycle_id)
            failed.append(cycle_id)
            continue
        # Locked again (skipping a cycle another process holds), and only if still unreported.
        cycles = _due_cycles(
            session, Cycle.id == cycle_id, Cycle.state == CycleState.CLOSED, ~has_report
        )

        def store_one(
            cycle: Cycle,
            rendered: RenderedReport = rendered,
            version: int = data.comment_review_version,
        ) -> None:
            if cycle.comment_review_version != version:
                # A comment was hidden (or shown again) since the inputs were read: nothing is
                # stored, and the next run compiles the report again.
                log.info("cycle %s's comments changed while it was compiled", cycle.id)
                stale.append(cycle.id)
                return
            report = save_report(session, cycle, rendered)
            if is_awaiting_release(cycle):
                held.append(cycle.id)
                return  # compiled for the CEO's review; emailed once released
            subject, text, html = render_report_email(
                cycle, rendered.compiled, report, report_url=LINK_PLACEHOLDER
            )
            enqueue_report_emails(session, cycle, RenderedEmail(subject, text, html), now=now)
            cycle.mark_reported(now)
            session.flush()

        stored, not_stored = run_per_cycle_in_savepoint(
            session, cycles, "storing the report", store_one
        )
        session.commit()
        done += [c for c in stored if c not in held and c not in stale]
        failed += not_stored
    summary = _summary("compiled and reported", done, failed)
    if held:
        summary += f"; {len(held)} held for review ({', '.join(map(str, held))})"
    if stale:
        summary += f"; {len(stale)} to compile again ({', '.join(map(str, stale))})"
    return summary


def dispatch_outbox(session: Session, run: JobRun) -> str:
    """Send the due emails (commits per message)."""
    return str(dispatch(session, run.now, stop=run.stop, is_exclusive=run.is_exclusive))
