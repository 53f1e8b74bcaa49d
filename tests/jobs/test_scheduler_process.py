"""`mat-review jobs run` as a real process: killed with SIGKILL in the middle of dispatching it
loses nothing and duplicates at most the message in flight, and the next one sends the killed
one's claimed batch at once (claims last 5 minutes: they are released, not waited out); a second
one waits for the lock and takes over when the first stops; `jobs run-once` does nothing while a
scheduler holds the lock; SIGTERM stops it cleanly. Real SMTP (aiosmtpd on loopback), on
SQLite and PostgreSQL; the scheduler ticks every second so each test takes a few seconds.

The lock is checked from outside the scheduler: on SQLite the kernel's /proc/locks shows the
scheduler's flock on the lock file, on PostgreSQL pg_locks shows its advisory lock; each is freed
when the holder stops or is killed. "Nothing more arrives" waits for the scheduler to finish two
more runs of the sending job (its log line), not for a length of wall time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import SmtpSink
from scheduler_locks import scheduler_lock_holders
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.models import AuditEvent, CycleState, Invitation, OutboxMessage, OutboxStatus
from survey.services.cycles import launch_cycle
from survey.timeutil import utcnow

MAT_REVIEW = Path(sys.executable).with_name("mat-review")
# Logged by the scheduler each time a run of the sending job has finished (jobs/schedule.py).
DISPATCH_TICK = " jobs.schedule: dispatch-outbox: "


class Scheduler:
    """One `mat-review jobs run` process, its output in a log file."""

    def __init__(self, app: Flask, smtp: SmtpSink, workdir: Path, name: str):
        self.log_path = workdir / f"{name}.log"
        env = {
            **os.environ,
            "MAT_REVIEW_DATABASE_URL": app.config["DATABASE_URL"],
            "MAT_REVIEW_MAIL_URL": smtp.url,
            "MAT_REVIEW_MAIL_RATE_PER_MINUTE": "0",
            "MAT_REVIEW_MAIL_BATCH_SIZE": "20",
            "MAT_REVIEW_SECRET_KEY": app.config["SECRET_KEY"],
            "MAT_REVIEW_BASE_URL": app.config["BASE_URL"],
            "MAT_REVIEW_INSTANCE_PATH": str(workdir / "instance"),
            "MAT_REVIEW_JOBS_INTERVAL_SECONDS": "1",
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(MAT_REVIEW), "jobs", "run"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            assert self.process.poll() is None, f"scheduler exited early:\n{self.log}"
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.log}"
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def ticks(self) -> int:
        """How many runs of the sending job this scheduler has finished."""
        return self.log.count(DISPATCH_TICK)

    def wait_for_ticks(self, more: int, timeout: float = 30) -> None:
        """Wait until the sending job has finished `more` further runs: anything that run could
        send has been sent by then."""
        target = self.ticks() + more
        deadline = time.monotonic() + timeout
        while self.ticks() < target:
            assert self.process.poll() is None, f"scheduler exited early:\n{self.log}"
            assert time.monotonic() < deadline, f"fewer than {more} more runs:\n{self.log}"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()


@pytest.fixture
def start_scheduler(
    app: Flask, smtp: SmtpSink, tmp_path: Path
) -> Iterator[Callable[[str], Scheduler]]:
    started: list[Scheduler] = []

    def start(name: str) -> Scheduler:
        scheduler = Scheduler(app, smtp, tmp_path, name)
        started.append(scheduler)
        return scheduler

    yield start
    for scheduler in started:
        scheduler.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def count(session: Session, stmt: Any) -> int:
    value = int(session.scalar(stmt) or 0)
    session.commit()  # never sit on SQLite's write lock while the scheduler works
    return value


def test_a_scheduler_killed_mid_dispatch_loses_nothing_and_repeats_only_the_message_in_flight(
    app: Flask,
    session: Session,
    make_cycle: Any,
    add_people: Any,
    smtp: SmtpSink,
    start_scheduler: Callable[[str], Scheduler],
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    cycle = make_cycle()
    add_people(cycle, {"headteacher": 120, "middle-leader": 80})
    launch_cycle(session, cycle, "test")
    session.commit()
    pending = select(func.count()).select_from(OutboxMessage)
    assert count(session, pending.where(OutboxMessage.status == OutboxStatus.PENDING)) == 200
    smtp.delay = 0.01  # each message takes a moment, so the kill lands mid-run

    url = app.config["DATABASE_URL"]
    first = start_scheduler("first")
    wait_until(lambda: smtp.count >= 50, 60, "50 messages")
    assert scheduler_lock_holders(url) == [first.pid]
    first.kill()
    at_kill = smtp.count
    assert at_kill < 200, "the kill came too late to be mid-dispatch"
    # SIGKILL released nothing itself: the kernel (SQLite) or the server (PostgreSQL) did.
    wait_until(lambda: scheduler_lock_holders(url) == [], 10, "the killed one's lock to go")

    second = start_scheduler("second")
    assert smtp.wait_for_unique(200, timeout=60) == 200
    assert scheduler_lock_holders(url) == [second.pid]
    second.wait_for_ticks(2)  # two more sending runs: nothing else may arrive
    assert second.terminate() == 0, second.log
    assert scheduler_lock_holders(url) == []

    ids = smtp.message_ids()
    duplicates = len(ids) - len(set(ids))
    with capsys.disabled():
        print(
            f"\n[crash test, {backend}] killed after {at_kill} deliveries; "
            f"200 delivered, {duplicates} duplicate(s) seen (same Message-ID)"
        )
    assert duplicates <= 1  # at most the one message in flight at the kill
    assert count(session, pending.where(OutboxMessage.status == OutboxStatus.SENT)) == 200
    assert count(session, select(func.count(Invitation.sent_at))) == 200
    outbox_ids = set(session.scalars(select(OutboxMessage.message_id)))
    session.commit()
    assert set(ids) == outbox_ids


def test_a_second_scheduler_waits_for_the_lock_and_each_due_job_happens_once(
    app: Flask,
    session: Session,
    make_cycle: Any,
    add_people: Any,
    smtp: SmtpSink,
    start_scheduler: Callable[[str], Scheduler],
) -> None:
    now = utcnow()
    cycle = make_cycle()
    add_people(cycle, {"headteacher": 6})
    # Launched "yesterday" with an open date in the past: due for the scheduler to open.
    cycle.opens_at = now
    launch_cycle(session, cycle, "test", now=now - timedelta(days=1))
    session.commit()
    assert cycle.state == CycleState.SCHEDULED

    schedulers = [start_scheduler("a"), start_scheduler("b")]
    wait_until(
        lambda: any("scheduler lock acquired" in s.log for s in schedulers), 30, "a lock holder"
    )
    holder = next(s for s in schedulers if "scheduler lock acquired" in s.log)
    waiter = next(s for s in schedulers if s is not holder)
    waiter.wait_for_log("another scheduler holds the lock; waiting")
    url = app.config["DATABASE_URL"]
    assert scheduler_lock_holders(url) == [holder.pid]
    assert smtp.wait_for_unique(6, timeout=30) == 6
    holder.wait_for_ticks(2)  # two more sending runs, and the waiter still waiting
    assert smtp.count == 6
    opened = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "cycle.open")
    assert count(session, opened) == 1
    assert "scheduler lock acquired" not in waiter.log

    assert holder.terminate() == 0
    assert "scheduler stopped" in holder.log
    waiter.wait_for_log("scheduler lock acquired", timeout=30)
    assert scheduler_lock_holders(url) == [waiter.pid]
    session.refresh(cycle)
    assert cycle.state == CycleState.OPEN
    add_people(cycle, {"middle-leader": 1})  # invited at once: the cycle is open
    assert smtp.wait_for_unique(7, timeout=30) == 7
    assert waiter.terminate() == 0
    assert smtp.count == 7
    assert scheduler_lock_holders(url) == []  # released on a clean stop too


def test_run_once_does_nothing_while_a_scheduler_holds_the_lock(
    app: Flask,
    session: Session,
    runner: Any,
    make_cycle: Any,
    smtp: SmtpSink,
    start_scheduler: Callable[[str], Scheduler],
) -> None:
    running = start_scheduler("running")
    running.wait_for_log("scheduler lock acquired")
    assert scheduler_lock_holders(app.config["DATABASE_URL"]) == [running.pid]
    result = runner.invoke(args=["jobs", "run-once"])
    assert result.exit_code == 0, result.output
    assert "skipped: another scheduler holds the lock" in result.output
    assert "dispatch-outbox" not in result.output
    assert running.terminate() == 0
    result = runner.invoke(args=["jobs", "run-once"])
    assert result.exit_code == 0 and "dispatch-outbox: sent 0" in result.output
