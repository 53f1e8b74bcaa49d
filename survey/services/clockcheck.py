"""Does the clock a step is given agree with the database's? Irreversible steps ask first.

The scheduler opens cycles, sends reminders, closes and seals, and reports because a date has
come, and none of that can be undone. So before each such step it compares the time it is to act
as of with a second clock:

- PostgreSQL: the database server's own clock (`clock_timestamp()`: the time at that moment, not
  the start of the transaction). A scheduler machine whose clock is wrong, or a `--now` far from
  the present, disagrees with it.
- SQLite has no server, so the only other clock is this machine's own, read through SQLite. It
  catches a run given a time far from the present (`jobs run-once --now`), but not a wrong machine
  clock (which the web server, on the same machine, shares anyway): keep that machine's clock
  synchronised (NTP). Comparing with the newest time the database holds was considered and
  rejected: it cannot see a clock that runs ahead, the dangerous direction, and after a clock
  that ran ahead is put right it would refuse everything for as long as the clock had been ahead.

A run whose clock is shifted on purpose (`MAT_REVIEW_CLOCK_OFFSET`, or a test's frozen clock: see
survey/timeutil.py) shifts the database's clock by the same amount, so that it agrees with itself;
a `--now` far from that shifted present is still refused.

A disagreement of more than `CLOCK_TOLERANCE_SECONDS` refuses the step. The refusal is kept (one
`ClockRefusal` row) so that the cycle page can say why nothing happens, and is removed by the
next check that agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from survey.db import dialect_insert
from survey.errors import UserError
from survey.models import ClockRefusal
from survey.templating import counted
from survey.timeutil import as_utc, clock

REFUSAL_NAME = "scheduler"


@dataclass(frozen=True)
class ClockReading:
    """The time a step was given, beside the database's clock at the same moment."""

    given_at: datetime
    database_at: datetime
    is_server_clock: bool  # False on SQLite: the database's clock is this machine's

    @property
    def skew_seconds(self) -> float:
        """How far the given time is ahead of the database's clock (negative: behind)."""
        return (self.given_at - self.database_at).total_seconds()

    def agrees(self, tolerance_seconds: float) -> bool:
        return abs(self.skew_seconds) <= tolerance_seconds

    def describe(self) -> str:
        """e.g. "2026-11-25 14:00 UTC is 1 day ahead of the database server's clock (…)"."""
        direction = "ahead of" if self.skew_seconds > 0 else "behind"
        source = "the database server's clock" if self.is_server_clock else "this machine's clock"
        return (
            f"{format_utc(self.given_at)} is {describe_span(self.skew_seconds)} {direction} "
            f"{source} ({format_utc(self.database_at)})"
        )


class ClockDisagrees(UserError):
    """A step was refused because its clock and the database's disagree."""

    def __init__(self, reading: ClockReading, message: str):
        super().__init__(message)
        self.reading = reading


def format_utc(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_span(seconds: float) -> str:
    """A length of time in words, to the two largest units: "1 day 3 hours", "4 minutes"."""
    left = round(abs(seconds))
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(counted(count, name))
    return " ".join(parts[:2]) or "0 seconds"


def read_clock(session: Session, given_at: datetime) -> ClockReading:
    """The database's clock now (shifted as the application's clock is), beside `given_at`."""
    if session.get_bind().dialect.name == "postgresql":
        database_at = session.scalar(text("SELECT clock_timestamp()"))
        is_server = True
    else:
        stamp = session.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
        database_at = datetime.fromisoformat(str(stamp))
        is_server = False
    assert isinstance(database_at, datetime)
    return ClockReading(as_utc(given_at), as_utc(database_at) + clock.offset(), is_server)


def check_clock(
    session: Session, given_at: datetime, tolerance_seconds: float, *, job: str
) -> ClockReading:
    """Compare `given_at` with the database's clock for `job`; raises `ClockDisagrees` (after
    recording the refusal, flushed) when they are more than `tolerance_seconds` apart, and
    otherwise removes any refusal recorded before."""
    reading = read_clock(session, given_at)
    if reading.agrees(tolerance_seconds):
        standing = select(ClockRefusal.name).where(ClockRefusal.name == REFUSAL_NAME)
        if session.scalar(standing) is not None:
            # A plain DELETE: the scheduler's jobs may clear it at the same moment.
            session.execute(delete(ClockRefusal).where(ClockRefusal.name == REFUSAL_NAME))
        return reading
    values = {
        "name": REFUSAL_NAME,
        "job": job,
        "given_at": reading.given_at,
        "database_at": reading.database_at,
    }
    insert = dialect_insert(session)
    session.execute(
        insert(ClockRefusal)
        .values(**values)
        .on_conflict_do_update(index_elements=["name"], set_=values)
    )
    session.flush()
    raise ClockDisagrees(
        reading,
        f"{job} refused: the time it was to act as of, {reading.describe()}; "
        f"nothing is opened, reminded, closed, sealed or reported until the clocks agree "
        f"(within {describe_span(tolerance_seconds)})",
    )


def get_clock_refusal(session: Session) -> ClockRefusal | None:
    """The scheduler's standing refusal, if its last check disagreed."""
    return session.get(ClockRefusal, REFUSAL_NAME, populate_existing=True)
