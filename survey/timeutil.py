"""Time helpers: everything is stored in UTC and shown in the trust's time zone.

The one clock: application code reads "now" only through `utcnow()` (ruff's banned-api rule,
TID251, refuses `datetime.now`, `datetime.utcnow`, `date.today` and `time.time` elsewhere in
survey/ and jobs/; `time.monotonic` for durations is fine). `clock` is that seam:

- `MAT_REVIEW_CLOCK_OFFSET` (a testing aid, read once at import): a signed shift such as `366d`,
  `-2h`, `90m` or a number of seconds, added to the system clock for the whole process, and so for
  every process that inherits the environment (gunicorn workers, `mat-review jobs run`). `make
  test-future` runs the suite a year ahead with it. The scheduler's clock check shifts the
  database's clock by the same amount (survey/services/clockcheck.py), so a shifted run agrees
  with itself.
- Tests set, freeze or shift it in-process (`clock.set(at)`, `clock.freeze(at)`, `clock.shift(d)`;
  the `clock` fixture in tests/conftest.py undoes them).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from survey.errors import UserError

DEFAULT_TIMEZONE = "Europe/London"
# The years a date people type may fall in. Far enough either way for any review cycle, and far
# from the calendar's ends, where adding a reminder offset or a time zone would overflow.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2999


class DateOutOfRange(UserError):
    """A date that parses but lies outside EARLIEST_YEAR to LATEST_YEAR."""


OFFSET_ENV = "MAT_REVIEW_CLOCK_OFFSET"
_OFFSET_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_OFFSET_PATTERN = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([smhd]?)\s*")


def parse_offset(text: str) -> timedelta:
    """`366d`, `-2h`, `+90m`, `45s` or `45` (seconds) as a timedelta; ValueError otherwise."""
    match = _OFFSET_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{OFFSET_ENV}={text!r} is not a shift such as 366d, -2h, 90m or a number of seconds"
        )
    return timedelta(seconds=float(match.group(1)) * _OFFSET_UNITS[match.group(2)])


def system_now() -> datetime:
    """The system clock, unshifted: only for the clock itself and for comparing with it."""
    return datetime.now(UTC)


class Clock:
    """The application's clock: the system clock plus a shift, or a frozen moment."""

    def __init__(self, offset: timedelta = timedelta(0)):
        self._lock = threading.Lock()
        self._offset = offset
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        frozen = self._frozen
        if frozen is not None:
            return frozen
        return system_now() + self._offset

    def offset(self) -> timedelta:
        """How far this clock is from the system clock at this moment."""
        frozen = self._frozen
        if frozen is not None:
            return frozen - system_now()
        return self._offset

    def shift(self, delta: timedelta) -> None:
        """Move the clock by `delta` (a frozen clock stays frozen, at the moved moment)."""
        with self._lock:
            self._offset += delta
            if self._frozen is not None:
                self._frozen += delta

    def set(self, at: datetime) -> None:
        """Make it `at` now, the clock running on from there (a frozen clock stays frozen)."""
        with self._lock:
            if self._frozen is not None:
                self._frozen = as_utc(at)
            else:
                self._offset = as_utc(at) - system_now()

    def freeze(self, at: datetime | None = None) -> datetime:
        """Stop the clock at `at` (aware; default: now). Returns the frozen moment."""
        with self._lock:
            moment = as_utc(at) if at is not None else self.now()
            self._frozen = moment
            return moment

    def unfreeze(self) -> None:
        """Let a frozen clock run again from the moment it shows, keeping the shift that makes."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - system_now()
                self._frozen = None

    def state(self) -> tuple[timedelta, datetime | None]:
        return self._offset, self._frozen

    def restore(self, state: tuple[timedelta, datetime | None]) -> None:
        with self._lock:
            self._offset, self._frozen = state


clock = Clock(parse_offset(os.environ.get(OFFSET_ENV) or "0"))


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (a callable default, never evaluated at import).

    The one place application code reads the time: see `clock` above."""
    return clock.now()


@functools.cache
def time_zone_names() -> list[str]:
    """The IANA time zone names this machine knows, for a list to choose from."""
    return sorted(available_timezones())


def get_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise UserError(
            f"unknown time zone {name!r} (use a name such as Europe/London)", field="timezone"
        ) from exc


def parse_datetime(value: str, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """Parse an ISO 8601 date or date-time; a value without an offset is read in `timezone`.

    A bare date means the start of that day in the trust's time zone. A date outside the
    years EARLIEST_YEAR to LATEST_YEAR is refused (DateOutOfRange).
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UserError(
            f"{value!r} is not an ISO date or date-time (e.g. 2026-03-02T09:00)"
        ) from exc
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise DateOutOfRange(f"{value!r} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=get_zone(timezone))
    return parsed.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime | None, timezone: str) -> datetime | None:
    if value is None:
        return None
    return as_utc(value).astimezone(get_zone(timezone))


def format_local(value: datetime | None, timezone: str, fmt: str = "%A %-d %B %Y, %H:%M") -> str:
    shown = local(value, timezone)
    if shown is None:
        return ""
    return f"{shown.strftime(fmt)} ({shown.tzname()})"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
