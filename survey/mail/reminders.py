"""When a cycle's reminders fall due (SPEC section 7).

A cycle's `reminder_days` (default "7,2") count calendar days before the close date in the
trust's time zone; each reminder goes out at 08:00 local time that day. Unless the cycle allows
weekend reminders, one that falls on a Saturday or Sunday moves to the Friday before. Working in
local dates and then converting to UTC keeps "7 days before" right across a clock change.

A reminder is identified by its local date (its outbox sequence), so re-running the job never
sends it twice; after a close date is extended the reminders move with it, and a date already
used is not used again. If the scheduler was down over several reminder times, only the latest
one that has come is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.mail.outbox import enqueue_reminders
from survey.models import AuditEvent, Cycle
from survey.services.audit import record_event
from survey.timeutil import as_utc, get_zone, utcnow

REMINDER_LOCAL_TIME = time(8, 0)
# The audit action of "remind everyone now"; its detail is the trust's local date it was used on.
REMIND_NOW = "cycle.remind-now"
# Nobody is reminded less than this long after their invitation went out.
MIN_GAP_AFTER_INVITATION = timedelta(days=1)


@dataclass(frozen=True)
class ReminderSlot:
    days_before: int
    local_date: date
    at: datetime  # UTC

    @property
    def sequence(self) -> str:
        return self.local_date.isoformat()


def _planned(cycle: Cycle) -> list[ReminderSlot]:
    """Every reminder day the cycle's plan names, whether or not it falls inside the cycle."""
    zone = get_zone(cycle.trust.timezone)
    close_date = as_utc(cycle.closes_at).astimezone(zone).date()
    planned = []
    for days in cycle.reminder_day_list:
        day = close_date - timedelta(days=days)
        if not cycle.remind_at_weekends and day.weekday() >= 5:
            day -= timedelta(days=day.weekday() - 4)  # Saturday, Sunday -> Friday
        at = datetime.combine(day, REMINDER_LOCAL_TIME, tzinfo=zone).astimezone(UTC)
        planned.append(ReminderSlot(days, day, at))
    return planned


def reminder_slots(cycle: Cycle) -> list[ReminderSlot]:
    """The cycle's reminder times, earliest first (only those after it opens, before it closes)."""
    opens_at, closes_at = as_utc(cycle.opened_at or cycle.opens_at), as_utc(cycle.closes_at)
    slots: dict[date, ReminderSlot] = {}
    for slot in _planned(cycle):
        if opens_at < slot.at < closes_at:
            slots.setdefault(slot.local_date, slot)
    return sorted(slots.values(), key=lambda slot: slot.at)


@dataclass(frozen=True)
class SkippedReminder:
    slot: ReminderSlot
    reason: str


def skipped_reminders(cycle: Cycle, now: datetime | None = None) -> list[SkippedReminder]:
    """The planned reminders that will never be sent, and why: their day falls before the
    cycle opens, or has already passed before it was launched. Pages name them rather than
    dropping them silently."""
    moment = as_utc(now or utcnow())
    opens_at = as_utc(cycle.opened_at or cycle.opens_at)
    skipped = []
    for slot in _planned(cycle):
        if slot.at <= moment and cycle.opened_at is None:
            skipped.append(SkippedReminder(slot, "that day has already passed"))
        elif slot.at <= opens_at:
            skipped.append(SkippedReminder(slot, "it falls before the cycle opens"))
    return skipped


def due_reminder(cycle: Cycle, now: datetime) -> ReminderSlot | None:
    """The latest reminder time that has come, if any."""
    due = [slot for slot in reminder_slots(cycle) if slot.at <= as_utc(now)]
    return due[-1] if due else None


def enqueue_due_reminder(session: Session, cycle: Cycle, now: datetime) -> int:
    """Enqueue the cycle's due reminder for everyone who still needs it; returns how many."""
    slot = due_reminder(cycle, now)
    if slot is None:
        return 0
    return enqueue_reminders(
        session,
        cycle,
        slot.sequence,
        slot.at,
        invited_before=slot.at - MIN_GAP_AFTER_INVITATION,
    )


def remind_now(session: Session, cycle: Cycle, actor: str, now: datetime | None = None) -> None:
    """Queue a reminder now to everyone whose invitation has gone out and who has not answered,
    declined or failed: at most once a (local) day per cycle. The reminder is the day's reminder:
    it shares the scheduled one's sequence, so nobody gets two on the same day.

    How many were reminded is not said, here or in the audit log: with the response rates, it
    would tell who is still to answer."""
    moment = as_utc(now or utcnow())
    cycle.ensure_open("reminders can be sent")
    today = moment.astimezone(get_zone(cycle.trust.timezone)).date().isoformat()
    used = session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.cycle_id == cycle.id,
            AuditEvent.action == REMIND_NOW,
            AuditEvent.detail == today,
        )
    )
    if used is not None:
        raise UserError(
            "everyone who has not answered was already reminded today; "
            "you can remind them again tomorrow"
        )
    enqueue_reminders(session, cycle, today, moment)
    record_event(session, actor, REMIND_NOW, cycle=cycle, detail=today)
