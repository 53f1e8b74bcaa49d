"""Time helpers: everything is stored in UTC and shown in the trust's time zone."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
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


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (a callable default, never evaluated at import)."""
    return datetime.now(UTC)


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
