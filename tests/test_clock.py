"""The one clock (survey.timeutil.clock): tests set, freeze and shift it; MAT_REVIEW_CLOCK_OFFSET
shifts it for a whole process and the processes it starts; the scheduler's clock check shifts the
database's clock alike, so a run a year ahead agrees with itself and still refuses a wrong time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from survey.models import Cycle, CycleState, OutboxMessage
from survey.services.clockcheck import ClockDisagrees, check_clock
from survey.services.cycles import launch_cycle
from survey.timeutil import OFFSET_ENV, Clock, parse_offset, system_now, utcnow
from survey.timeutil import clock as app_clock
from tests.conftest import TEST_SECRET

BIN = Path(sys.executable).parent
YEAR = timedelta(days=366)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("366d", 366 * 86400), ("-2h", -7200), ("+90m", 5400), ("45s", 45), ("45", 45), ("0", 0)],
)
def test_an_offset_is_read_in_days_hours_minutes_or_seconds(text: str, seconds: int) -> None:
    assert parse_offset(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "a year", "3w", "1d2h", "d"])
def test_an_offset_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=OFFSET_ENV):
        parse_offset(text)


def test_frozen_shifted_and_set_clocks() -> None:
    clock = Clock()
    assert abs(clock.now() - system_now()) < timedelta(seconds=1)
    at = datetime(2024, 2, 26, 12, tzinfo=UTC)
    assert clock.freeze(at) == at
    assert clock.now() == at and clock.now() == at  # stopped
    clock.shift(timedelta(days=2))
    assert clock.now() == at + timedelta(days=2)
    clock.unfreeze()  # runs on from where it stood
    assert timedelta(0) <= clock.now() - (at + timedelta(days=2)) < timedelta(seconds=1)
    clock.set(at)
    first = clock.now()
    assert timedelta(0) <= first - at < timedelta(seconds=1)
    assert clock.now() >= first  # running
    assert abs(clock.offset() - (at - system_now())) < timedelta(seconds=1)


def test_the_clock_fixture_moves_the_applications_clock_and_undoes_it(clock: Clock) -> None:
    before = utcnow()
    clock.shift(YEAR)
    assert YEAR <= utcnow() - before < YEAR + timedelta(seconds=5)


def test_the_fixture_undid_the_shift() -> None:
    # Runs after the test above in the same process (pytest keeps file order within a worker).
    assert abs(utcnow() - system_now() - parse_offset(os.environ.get(OFFSET_ENV) or "0")) < (
        timedelta(seconds=1)
    )


def test_the_offset_reaches_a_process_started_with_it() -> None:
    env = {**os.environ, OFFSET_ENV: "366d"}
    code = "from survey.timeutil import utcnow; print(utcnow().isoformat())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    ahead = datetime.fromisoformat(done.stdout.strip()) - system_now()
    assert YEAR - timedelta(seconds=30) < ahead <= YEAR


def test_the_clock_check_shifts_the_databases_clock_with_ours(
    session: Session, clock: Clock
) -> None:
    clock.shift(YEAR)
    reading = check_clock(session, utcnow(), 300, job="open-due-cycles")  # agrees: no raise
    assert abs(reading.skew_seconds) < 60
    # The real present is now a year behind this run's clock: refused, as a wrong clock is.
    with pytest.raises(ClockDisagrees, match="behind"):
        check_clock(session, system_now(), 300, job="open-due-cycles")
    session.rollback()


def test_jobs_run_once_a_year_ahead_opens_a_cycle_due_then(
    app: Any,
    session: Session,
    database_url: str,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
    tmp_path: Path,
) -> None:
    """`mat-review jobs run-once` in a process of its own, with the offset in its environment:
    it acts as of a year ahead (opening a cycle due in 365 days), and its clock check agrees."""
    opens = utcnow().replace(microsecond=0) + timedelta(days=365)
    cycle = make_cycle(opens_at=opens, closes_at=opens + timedelta(days=14))
    add_people(cycle, {"headteacher": 3})
    launch_cycle(session, cycle, "test")
    session.commit()
    assert cycle.state == CycleState.SCHEDULED
    env = {
        **os.environ,
        # A year ahead of this process's clock (which `make test-future` has already shifted).
        OFFSET_ENV: f"{(app_clock.offset() + YEAR).total_seconds():.0f}",
        "MAT_REVIEW_DATABASE_URL": database_url,
        "MAT_REVIEW_SECRET_KEY": TEST_SECRET,
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "instance"),
        "MAT_REVIEW_MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "MAT_REVIEW_MAIL_RATE_PER_MINUTE": "0",
    }
    done = subprocess.run(
        [str(BIN / "mat-review"), "jobs", "run-once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "refused" not in done.stdout + done.stderr
    session.expire_all()
    assert cycle.state == CycleState.OPEN
    opened_at = cycle.opened_at
    assert opened_at is not None and opened_at - utcnow() > timedelta(days=365)
    assert session.query(OutboxMessage).count() == 3
