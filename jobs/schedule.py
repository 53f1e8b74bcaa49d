"""The one list of jobs, and the scheduler that runs them (`mat-review jobs run` and `run-once`).

Every job is declared once in `JOBS` with a stable id. `run_once` runs them all in order (for
cron, tests and the demo). `run_scheduler` runs each job in a thread of its own, every
`JOBS_INTERVAL_SECONDS`, a run starting at once when the last one took longer (runs never pile
up). Both hold the scheduler lock (jobs/lock.py), so only one scheduler acts at a time. Runs are
timed on the monotonic clock, so a step of the system clock either way (an NTP correction, a
machine resumed from sleep) neither stalls nor bunches them (APScheduler 3, used before, waited
out a clock that had gone back). The scheduler keeps no state of its own: each job reads what is
due from our tables, so a restart at any point loses and repeats nothing.

A wrong clock: the jobs that act because a date has come (`acts_on_date`: open, remind, close and
seal, report) first check the time they are to act as of against the database's clock
(survey/services/clockcheck.py) and refuse when the two disagree by more than
`CLOCK_TOLERANCE_SECONDS`, saying so in the log and on the cycle page. `force` skips the check
(`jobs run-once --now ... --force`). Sending mail is never refused: it only sends what those jobs
decided, and report emails must not wait for a clock.

Stopping (SIGTERM): every job is told at once, and a send under way is cut off and put back
(survey/mail/outbox.py). A job still running after `STOP_GRACE_SECONDS` is left behind: its
thread ends with the process, and the database rolls back what it had not committed, as after a
crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from jobs import tasks
from jobs.lock import SchedulerLock, make_lock
from jobs.tasks import JobRun
from survey.config import get_settings
from survey.db import db, describe_database_error
from survey.errors import UserError
from survey.services.clockcheck import ClockDisagrees, check_clock, describe_span, read_clock
from survey.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

# How long a stopping scheduler waits for its jobs before it leaves them behind.
STOP_GRACE_SECONDS = 3.0
# A jump of the wall clock against the monotonic clock larger than this is logged as a step.
CLOCK_STEP_SECONDS = 30.0
# How often the scheduler checks that it still holds its lock (at most; or every interval).
LOCK_CHECK_SECONDS = 20.0
# While a job keeps being refused for a wrong clock, it says so again this often.
REFUSAL_REMINDER_SECONDS = 900.0


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[Session, JobRun], str]
    description: str
    # Acts because a date has come, for good: refused when the clock is not to be trusted.
    acts_on_date: bool = False


JOBS: tuple[Job, ...] = (
    Job("open-due-cycles", tasks.open_due_cycles, "open cycles whose open date has come", True),
    Job("enqueue-due-reminders", tasks.enqueue_due_reminders, "enqueue due reminders", True),
    Job("close-due-cycles", tasks.close_due_cycles, "close and seal cycles that are due", True),
    Job("compile-closed-cycles", tasks.compile_closed_cycles, "compile and send reports", True),
    Job("dispatch-outbox", tasks.dispatch_outbox, "send due emails"),
)


class SchedulerBusy(UserError):
    """Another scheduler holds the lock."""


def run_job(
    app: Flask,
    job: Job,
    now: datetime | None = None,
    *,
    force: bool = False,
    stop: threading.Event | None = None,
    is_exclusive: bool = False,
) -> str:
    """Run one job in its own app context and session, committing once at the end.

    A job that acts on a date first checks `now` against the database's clock, unless `force`;
    raises `ClockDisagrees` (the refusal recorded) when they disagree.
    """
    with app.app_context():
        session = db.session
        at = as_utc(now) if now is not None else utcnow()
        try:
            if job.acts_on_date and not force:
                try:
                    check_clock(session, at, get_settings(app).clock_tolerance_seconds, job=job.id)
                except ClockDisagrees:
                    session.commit()  # keep the refusal, for the cycle page
                    raise
            summary = job.func(session, JobRun(at, stop, is_exclusive))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return summary


@dataclass(frozen=True)
class JobOutcome:
    job: Job
    summary: str
    ok: bool


def run_once(app: Flask, now: datetime | None = None, *, force: bool = False) -> list[JobOutcome]:
    """Run every job once, in order, holding the scheduler lock; a failing job is reported and
    the rest still run.

    `now` (default: the clock) is the time every job acts as of. Unless `force`, a `now` far from
    the database's clock is refused before anything runs (`ClockDisagrees`), and the jobs that
    act on a date each check the clock themselves. Raises `SchedulerBusy` if another scheduler
    holds the lock.
    """
    lock = make_lock(get_settings(app).database_url)
    try:
        try:
            acquired = lock.acquire()
        except DBAPIError as exc:
            # The database is down or not initialised: one line says so; a traceback would not help.
            reason = describe_database_error(exc)
            log.error("cannot take the scheduler lock: database error: %s", reason)
            return [JobOutcome(job, f"failed: database error: {reason}", False) for job in JOBS]
        if not acquired:
            raise SchedulerBusy(
                "another scheduler holds the lock (`mat-review jobs run`, or a run-once still "
                "running): it does this work, so nothing was done"
            )
        if now is not None and not force:
            _check_given_time(app, as_utc(now))
        return _run_all(app, lock, now, force)
    finally:
        lock.close()


def _check_given_time(app: Flask, given: datetime) -> None:
    with app.app_context():
        reading = read_clock(db.session, given)
        db.session.rollback()
    tolerance = get_settings(app).clock_tolerance_seconds
    if not reading.agrees(tolerance):
        raise ClockDisagrees(
            reading,
            f"the time given, {reading.describe()}: more than {describe_span(tolerance)} apart",
        )


def _run_all(
    app: Flask, lock: SchedulerLock, now: datetime | None, force: bool
) -> list[JobOutcome]:
    outcomes: list[JobOutcome] = []
    for job in JOBS:
        if outcomes and not _still_held(lock):
            outcomes.append(JobOutcome(job, "not run: the scheduler lock was lost", False))
            continue
        try:
            summary = run_job(app, job, now, force=force, is_exclusive=True)
            outcomes.append(JobOutcome(job, summary, True))
        except ClockDisagrees as exc:
            log.error("%s", exc)
            outcomes.append(JobOutcome(job, f"refused: {exc}", False))
        except DBAPIError as exc:
            reason = describe_database_error(exc)
            log.error("job %s failed: database error: %s", job.id, reason)
            outcomes.append(JobOutcome(job, f"failed: database error: {reason}", False))
        except Exception as exc:
            log.exception("job %s failed", job.id)
            outcomes.append(JobOutcome(job, f"failed: {type(exc).__name__}: {exc}", False))
    return outcomes


def _still_held(lock: SchedulerLock) -> bool:
    try:
        return lock.keep()
    except Exception:
        log.exception("checking the scheduler lock failed")
        return False


# -- the scheduler process ----------------------------------------------------------------------


def run_scheduler(
    app: Flask, stop: threading.Event, *, clock: Callable[[], datetime] = utcnow
) -> None:
    """Wait for the scheduler lock, then run the jobs until `stop` is set (SIGTERM, SIGINT).

    If the lock is lost (a dropped connection, a lock file removed), the jobs stop and the
    process goes back to waiting for the lock. `clock` is the time each run acts as of.
    """
    interval = get_settings(app).jobs_interval_seconds
    lock = make_lock(get_settings(app).database_url)
    try:
        while not stop.is_set():
            if not _wait_for_lock(lock, stop, interval):
                break
            log.info("scheduler lock acquired; running %d jobs every %gs", len(JOBS), interval)
            lost = _run_until_stopped_or_lost(app, lock, stop, interval, clock)
            if lost:
                _quickly(lock.release, "releasing the scheduler lock")
                log.error("scheduler lock lost; jobs stopped, waiting for the lock again")
    finally:
        # PostgreSQL: unlocking may wait on a connection a job left behind holds busy; a
        # process that is gone loses its lock anyway (jobs/lock.py).
        _quickly(lock.close, "releasing the scheduler lock")
    log.info("scheduler stopped")


def _wait_for_lock(lock: SchedulerLock, stop: threading.Event, interval: float) -> bool:
    announced = False
    while not stop.is_set():
        try:
            if lock.acquire():
                return True
        except Exception:
            log.exception("cannot reach the database to take the scheduler lock; retrying")
        if not announced:
            log.info("another scheduler holds the lock; waiting (retrying every %gs)", interval)
            announced = True
        stop.wait(interval)
    return False


def _run_until_stopped_or_lost(
    app: Flask,
    lock: SchedulerLock,
    stop: threading.Event,
    interval: float,
    clock: Callable[[], datetime],
) -> bool:
    """Run every job in a thread of its own; this thread checks the lock and watches the clock.
    Returns True if the jobs stopped because the lock was lost."""
    halt = threading.Event()  # stop, or the lock lost
    threads = [
        threading.Thread(
            target=_job_loop, args=(app, job, halt, interval, clock), name=job.id, daemon=True
        )
        for job in JOBS
    ]
    for thread in threads:
        thread.start()
    check_every = min(interval, LOCK_CHECK_SECONDS)
    next_check = time.monotonic() + check_every
    watch = _ClockWatch(clock)
    lost = False
    while not stop.wait(0.2):
        watch.check()
        if time.monotonic() < next_check:
            continue
        next_check = time.monotonic() + check_every
        if not _still_held(lock):
            lost = True
            break
    halt.set()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    behind = [thread.name for thread in threads if thread.is_alive()]
    if behind:
        log.warning(
            "not waiting for %s: still running after %gs; what it had not committed is "
            "rolled back when the process ends",
            ", ".join(behind),
            STOP_GRACE_SECONDS,
        )
    return lost


def _job_loop(
    app: Flask,
    job: Job,
    halt: threading.Event,
    interval: float,
    clock: Callable[[], datetime],
) -> None:
    """Run `job` every `interval` seconds of monotonic time until `halt` is set; never raises."""
    refused_since: float | None = None
    said_at = 0.0
    while not halt.is_set():
        started = time.monotonic()
        try:
            summary = run_job(app, job, clock(), stop=halt, is_exclusive=True)
        except ClockDisagrees as exc:
            if refused_since is None or started - said_at >= REFUSAL_REMINDER_SECONDS:
                log.error("%s", exc)
                said_at = started
            refused_since = refused_since or started
        except Exception:
            log.exception("job %s failed; it runs again next interval", job.id)
        else:
            if refused_since is not None:
                log.info("%s: the clocks agree again", job.id)
                refused_since = None
            log.info("%s: %s", job.id, summary)
        halt.wait(max(interval - (time.monotonic() - started), 0.0))


class _ClockWatch:
    """Logs a step of the wall clock (measured against the monotonic clock). Runs need not
    react: they are timed on the monotonic clock, and each reads the wall clock afresh."""

    def __init__(self, clock: Callable[[], datetime]):
        self.clock = clock
        self.wall, self.monotonic = clock(), time.monotonic()

    def check(self) -> None:
        wall, monotonic = self.clock(), time.monotonic()
        step = (wall - self.wall).total_seconds() - (monotonic - self.monotonic)
        if abs(step) > CLOCK_STEP_SECONDS:
            log.warning(
                "the system clock stepped %s by %s; the jobs carry on",
                "forward" if step > 0 else "back",
                describe_span(step),
            )
        self.wall, self.monotonic = wall, monotonic


def _quickly(action: Callable[[], None], what: str, seconds: float = 2.0) -> None:
    """Do `action`, but wait at most `seconds` for it (a stopping process must not hang)."""
    thread = threading.Thread(target=_logged, args=(action, what), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        log.warning("%s is taking too long; not waiting for it", what)


def _logged(action: Callable[[], None], what: str) -> None:
    try:
        action()
    except Exception:
        log.exception("%s failed", what)
