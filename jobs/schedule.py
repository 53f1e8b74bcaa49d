"""The one list of jobs, and the scheduler process that runs them (`mat-review jobs run`).

Every job is declared once in `JOBS` with a stable id. `run_once` runs them all in order (for
cron, tests and the demo); `run_scheduler` holds the database lock (jobs/lock.py) and runs each
job every `JOBS_INTERVAL_SECONDS` with APScheduler 3 (`coalesce`, `max_instances=1`, an explicit
`misfire_grace_time`, UTC). The scheduler keeps no state of its own (an in-memory job store):
each job reads what is due from our tables, so a restart at any point loses and repeats nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from jobs import tasks
from jobs.lock import SchedulerLock, make_lock
from survey.db import db, describe_database_error
from survey.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[Session, datetime], str]
    description: str


JOBS: tuple[Job, ...] = (
    Job("open-due-cycles", tasks.open_due_cycles, "open cycles whose open date has come"),
    Job("enqueue-due-reminders", tasks.enqueue_due_reminders, "enqueue due reminders"),
    Job("close-due-cycles", tasks.close_due_cycles, "close and seal cycles that are due"),
    Job("compile-closed-cycles", tasks.compile_closed_cycles, "compile and send reports"),
    Job("dispatch-outbox", tasks.dispatch_outbox, "send due emails"),
)


def run_job(app: Flask, job: Job, now: datetime | None = None) -> str:
    """Run one job in its own app context and session, committing once at the end."""
    with app.app_context():
        session = db.session
        try:
            summary = job.func(session, as_utc(now) if now is not None else utcnow())
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


def run_once(app: Flask, now: datetime | None = None) -> list[JobOutcome]:
    """Run every job once, in order; a failing job is reported and the rest still run."""
    outcomes = []
    for job in JOBS:
        try:
            outcomes.append(JobOutcome(job, run_job(app, job, now), True))
        except DBAPIError as exc:
            # The database is down or not initialised: one line says so; a traceback would not help.
            reason = describe_database_error(exc)
            log.error("job %s failed: database error: %s", job.id, reason)
            outcomes.append(JobOutcome(job, f"failed: database error: {reason}", False))
        except Exception as exc:
            log.exception("job %s failed", job.id)
            outcomes.append(JobOutcome(job, f"failed: {type(exc).__name__}: {exc}", False))
    return outcomes


# -- the scheduler process ----------------------------------------------------------------------


def _scheduled(app: Flask, job: Job) -> None:
    """What APScheduler calls: never raises, so one bad run cannot stop the schedule."""
    try:
        summary = run_job(app, job)
    except Exception:
        log.exception("job %s failed; it runs again next interval", job.id)
    else:
        log.info("%s: %s", job.id, summary)


def build_scheduler(app: Flask) -> BlockingScheduler:
    interval = max(float(app.config.get("JOBS_INTERVAL_SECONDS") or 60), 1.0)
    scheduler = BlockingScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(max_workers=len(JOBS))},
    )
    first = utcnow()
    for job in JOBS:
        scheduler.add_job(
            _scheduled,
            trigger="interval",
            seconds=interval,
            args=(app, job),
            id=job.id,
            name=job.description,
            coalesce=True,
            max_instances=1,
            # A run more than one interval late is skipped: the next one does the same work.
            misfire_grace_time=max(int(interval), 1),
            next_run_time=first,
        )
    return scheduler


def run_scheduler(app: Flask, stop: threading.Event) -> None:
    """Wait for the scheduler lock, then run the jobs until `stop` is set (SIGTERM, SIGINT).

    If the lock is lost (a dropped connection, a lease taken over), the jobs stop and the
    process goes back to waiting for the lock.
    """
    interval = max(float(app.config.get("JOBS_INTERVAL_SECONDS") or 60), 1.0)
    lease_seconds = max(float(app.config.get("JOBS_LEASE_SECONDS") or 60), 3 * interval)
    lock = make_lock(app.config["DATABASE_URL"], lease_seconds)
    tasks.STOP.clear()
    try:
        while not stop.is_set():
            if not _wait_for_lock(lock, stop, interval):
                break
            log.info("scheduler lock acquired; running %d jobs every %gs", len(JOBS), interval)
            lost = _run_until_stopped_or_lost(app, lock, stop, lease_seconds)
            lock.release()
            if lost:
                log.error("scheduler lock lost; jobs stopped, waiting for the lock again")
    finally:
        lock.close()
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
    app: Flask, lock: SchedulerLock, stop: threading.Event, lease_seconds: float
) -> bool:
    """Run the scheduler; a keeper thread renews the lock and stops the scheduler when asked
    to stop or when the lock is lost. Returns True if it stopped because the lock was lost."""
    scheduler = build_scheduler(app)
    started, ended, lost = threading.Event(), threading.Event(), threading.Event()
    scheduler.add_listener(lambda _event: started.set(), EVENT_SCHEDULER_STARTED)
    renew_every = lease_seconds / 3

    def keeper() -> None:
        started.wait()
        next_renewal = time.monotonic() + renew_every
        while not stop.is_set() and not ended.is_set():
            stop.wait(0.2)
            if time.monotonic() < next_renewal:
                continue
            next_renewal = time.monotonic() + renew_every
            try:
                still_held = lock.keep()
            except Exception:
                log.exception("renewing the scheduler lock failed")
                still_held = False
            if not still_held:
                lost.set()
                break
        tasks.STOP.set()  # a long dispatch ends after the message in hand
        if scheduler.running:
            # Waits for running jobs to finish, then ends scheduler.start() in the main thread.
            scheduler.shutdown(wait=True)

    thread = threading.Thread(target=keeper, name="scheduler-lock-keeper", daemon=True)
    thread.start()
    try:
        scheduler.start()
    finally:
        ended.set()
        started.set()  # if start() failed, let the keeper finish
        thread.join()
        tasks.STOP.clear()
    return lost.is_set()
