"""When reminders fall due: local dates in the trust's time zone, weekends moved to Friday,
correct across the October clock change (pure: no database, the clock is an argument)."""

from __future__ import annotations

from datetime import UTC, datetime

from survey.mail.reminders import due_reminder, reminder_slots
from survey.models import Cycle, Trust


def cycle(opens: datetime, closes: datetime, days: str = "7,2", weekends: bool = False) -> Cycle:
    return Cycle(
        trust=Trust(name="Oak", slug="oak", timezone="Europe/London"),
        title="Autumn",
        opens_at=opens,
        closes_at=closes,
        reminder_days=days,
        remind_at_weekends=weekends,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_reminders_are_at_eight_local_time_on_either_side_of_the_october_clock_change() -> None:
    # Clocks go back on Sunday 31 October 2027. Close: Thursday 4 November, 09:00 GMT.
    autumn = cycle(utc(2027, 10, 18, 8), utc(2027, 11, 4, 9))
    slots = reminder_slots(autumn)
    # 7 days before: Thursday 28 October, 08:00 BST = 07:00 UTC.
    # 2 days before: Tuesday 2 November, 08:00 GMT = 08:00 UTC.
    assert [(s.days_before, s.sequence, s.at) for s in slots] == [
        (7, "2027-10-28", utc(2027, 10, 28, 7)),
        (2, "2027-11-02", utc(2027, 11, 2, 8)),
    ]
    assert due_reminder(autumn, utc(2027, 10, 28, 6, 59)) is None
    assert due_reminder(autumn, utc(2027, 10, 28, 7)) == slots[0]
    assert due_reminder(autumn, utc(2027, 11, 2, 7, 59)) == slots[0]
    assert due_reminder(autumn, utc(2027, 11, 2, 8)) == slots[1]


def test_a_reminder_on_a_weekend_moves_to_the_friday_before() -> None:
    # Close Tuesday 2 November 2027: 2 days before is Sunday 31 October (the clock change).
    autumn = cycle(utc(2027, 10, 11, 8), utc(2027, 11, 2, 17))
    assert [s.sequence for s in reminder_slots(autumn)] == ["2027-10-26", "2027-10-29"]
    friday = reminder_slots(autumn)[1]
    assert friday.at == utc(2027, 10, 29, 7)  # Friday 08:00 BST
    allowed = cycle(utc(2027, 10, 11, 8), utc(2027, 11, 2, 17), weekends=True)
    assert [s.sequence for s in reminder_slots(allowed)] == ["2027-10-26", "2027-10-31"]
    assert reminder_slots(allowed)[1].at == utc(2027, 10, 31, 8)  # Sunday 08:00 GMT


def test_reminders_falling_on_the_same_friday_are_sent_once() -> None:
    # Close Monday 8 March 2027: 2 and 3 days before are Saturday and Friday.
    spring = cycle(utc(2027, 2, 22, 9), utc(2027, 3, 8, 17), days="3,2")
    assert [s.sequence for s in reminder_slots(spring)] == ["2027-03-05"]


def test_no_reminder_before_the_cycle_opens_or_after_it_closes() -> None:
    short = cycle(utc(2027, 3, 4, 9), utc(2027, 3, 10, 7), days="7,2,0")
    # 7 days before is before it opens; 0 days before (08:00 on the day) is after it closes.
    assert [s.days_before for s in reminder_slots(short)] == [2]
