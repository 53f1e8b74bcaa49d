"""The admin pages' forms: raw values as typed, field errors, and what they become.

The small fixed forms (a trust, one person) are WTForms classes, whose length limits come from
the columns the values are stored in. The new-cycle / edit-cycle form is hand-written because
its group rows vary in number; it checks the same limits itself. CSRF is checked globally by
Flask-WTF for every POST.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import Form, StringField
from wtforms.validators import DataRequired, Length

from survey.errors import UserError
from survey.models import DEFAULT_REMINDER_DAYS, Cycle, Group, Invitation, Trust
from survey.services.cycles import (
    CycleSettings,
    GroupSpec,
    default_groups,
    parse_recipient_emails,
    parse_reminder_days,
    slugify,
)
from survey.services.frameworks import DEFAULT_FRAMEWORK
from survey.services.limits import MAX_THRESHOLD, is_id, length_problem, max_length
from survey.timeutil import (
    DEFAULT_TIMEZONE,
    EARLIEST_YEAR,
    LATEST_YEAR,
    DateOutOfRange,
    local,
    parse_datetime,
)

LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
BLANK_GROUP_ROWS = 1
MAX_GROUPS = 20


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _limit(attribute: Any, what: str) -> Length:
    """At most as many characters as the column `attribute` holds."""
    message = f"{what} must be %(max)d characters or fewer (it has %(length)d)"
    return Length(max=max_length(attribute), message=message)


def first_errors(form: Form) -> dict[str, str]:
    """Each field's first complaint, as the templates show them (field name -> message)."""
    return {name: messages[0] for name, messages in form.errors.items() if messages}


class TrustForm(Form):
    name = StringField(
        filters=[_strip],
        validators=[DataRequired("Enter the trust's name"), _limit(Trust.name, "The trust's name")],
    )
    timezone = StringField(
        filters=[lambda value: _strip(value) or DEFAULT_TIMEZONE],
        validators=[_limit(Trust.timezone, "The time zone")],
    )


class PersonForm(Form):
    """One more person to invite; the recipient file's rules are then applied by the service."""

    email = StringField(
        filters=[_strip],
        validators=[
            DataRequired("Enter the person's email address"),
            _limit(Invitation.email, "The email address"),
        ],
    )
    name = StringField(filters=[_strip], validators=[_limit(Invitation.name, "Name")])
    group = StringField(filters=[_strip])
    school = StringField(filters=[_strip], validators=[_limit(Invitation.school, "School")])


def to_local_input(value: datetime | None, timezone: str) -> str:
    """A stored UTC time as a datetime-local input value in the trust's time zone."""
    shown = local(value, timezone)
    return shown.strftime(LOCAL_INPUT_FORMAT) if shown else ""


@dataclass
class GroupRow:
    key: str = ""
    label: str = ""
    is_open: bool = False

    @property
    def is_blank(self) -> bool:
        return not self.key.strip() and not self.label.strip()


@dataclass
class CycleForm:
    title: str = ""
    framework: str = DEFAULT_FRAMEWORK
    scope_kind: str = "start"  # start, all or codes
    scope_codes: str = ""
    groups: list[GroupRow] = field(default_factory=list)
    opens: str = ""
    closes: str = ""
    min_group_size: str = "3"
    min_comment_group_size: str = "5"
    report_to: str = ""
    previous_cycle: str = ""
    reminder_days: str = DEFAULT_REMINDER_DAYS
    remind_at_weekends: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def blank(cls) -> CycleForm:
        form = cls(groups=[GroupRow(g.key, g.label, g.is_open) for g in default_groups()])
        form.add_blank_rows()
        return form

    @classmethod
    def from_cycle(cls, cycle: Cycle) -> CycleForm:
        tz = cycle.trust.timezone
        scope_kind = cycle.scope if cycle.scope in ("start", "all") else "codes"
        form = cls(
            title=cycle.title,
            framework=cycle.framework_key,
            scope_kind=scope_kind,
            scope_codes=cycle.scope if scope_kind == "codes" else "",
            groups=[GroupRow(g.key, g.label, g.is_open) for g in cycle.groups],
            opens=to_local_input(cycle.opens_at, tz),
            closes=to_local_input(cycle.closes_at, tz),
            min_group_size=str(cycle.min_group_size),
            min_comment_group_size=str(cycle.min_comment_group_size),
            report_to=", ".join(cycle.report_recipient_list),
            previous_cycle=str(cycle.previous_cycle_id or ""),
            reminder_days=cycle.reminder_days,
            remind_at_weekends=cycle.remind_at_weekends,
        )
        form.add_blank_rows()
        return form

    @classmethod
    def from_request(cls, data: MultiDict[str, str]) -> CycleForm:
        groups = []
        for index in range(MAX_GROUPS):
            if f"group-{index}-key" not in data and f"group-{index}-label" not in data:
                continue
            groups.append(
                GroupRow(
                    data.get(f"group-{index}-key", "").strip().lower(),
                    data.get(f"group-{index}-label", "").strip(),
                    data.get(f"group-{index}-open") == "on",
                )
            )
        return cls(
            title=data.get("title", "").strip(),
            framework=data.get("framework", DEFAULT_FRAMEWORK),
            scope_kind=data.get("scope", "start"),
            scope_codes=data.get("scope_codes", "").strip(),
            groups=groups,
            opens=data.get("opens", "").strip(),
            closes=data.get("closes", "").strip(),
            min_group_size=data.get("min_group_size", "").strip(),
            min_comment_group_size=data.get("min_comment_group_size", "").strip(),
            report_to=data.get("report_to", "").strip(),
            previous_cycle=data.get("previous_cycle", "").strip(),
            reminder_days=data.get("reminder_days", "").strip(),
            remind_at_weekends=data.get("remind_at_weekends") == "on",
        )

    def add_blank_rows(self, count: int = BLANK_GROUP_ROWS) -> None:
        """Blank rows for custom groups (the "add a group" button adds one more)."""
        room = MAX_GROUPS - len(self.groups)
        self.groups.extend(GroupRow() for _ in range(min(count, room)))

    # -- checking --------------------------------------------------------------------------------

    @property
    def scope_text(self) -> str:
        return self.scope_codes if self.scope_kind == "codes" else self.scope_kind

    def _int(self, name: str, value: str, label: str) -> int | None:
        try:
            number = int(value)
        except ValueError:
            self.errors[name] = f"Enter {label} as a whole number, 3 or more"
            return None
        # The domain's rule, asked here too so that every mistake is shown on the first try.
        below = Cycle.check_threshold(number, label)
        if below:
            self.errors[name] = below[:1].upper() + below[1:]
            return None
        if number > MAX_THRESHOLD:
            self.errors[name] = f"{label[0].upper()}{label[1:]} must be {MAX_THRESHOLD:,} or less"
            return None
        return number

    def _date(self, name: str, value: str, label: str, timezone: str) -> datetime | None:
        if not value:
            self.errors[name] = f"Enter the {label}"
            return None
        try:
            return parse_datetime(value, timezone)
        except DateOutOfRange:
            self.errors[name] = (
                f"Enter the {label} between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
            )
        except UserError:
            self.errors[name] = f"Enter the {label} as a date and time, e.g. 2026-03-02T09:00"
        return None

    def _length(self, name: str, value: str, attribute: Any, what: str) -> None:
        problem = length_problem(value, attribute, what)
        if problem and name not in self.errors:
            self.errors[name] = problem

    def _groups(self) -> list[GroupSpec]:
        specs = []
        for index, row in enumerate(self.groups):
            if row.is_blank:
                continue
            if not row.label:
                self.errors[f"group-{index}"] = "Enter a name for the group"
                continue
            self._length(f"group-{index}", row.key, Group.key, "A group key")
            self._length(f"group-{index}", row.label, Group.label, "A group's name")
            key = row.key or slugify(row.label)[:40].strip("-")
            row.key = key
            specs.append(GroupSpec(key, row.label, row.is_open))
        if not specs and not any(k.startswith("group-") for k in self.errors):
            self.errors["groups"] = "Add at least one group"
        return specs

    def to_settings(self, timezone: str) -> CycleSettings | None:
        """The settings, or None with `errors` filled in (field name -> message)."""
        self.errors.clear()
        if not self.title:
            self.errors["title"] = "Enter a title for the cycle"
        self._length("title", self.title, Cycle.title, "The title")
        if self.scope_kind not in ("start", "all", "codes"):
            self.errors["scope"] = "Choose which questions to ask"
        elif self.scope_kind == "codes" and not self.scope_codes:
            self.errors["scope"] = "Enter the element codes to ask about, e.g. 1A, 2B"
        groups = self._groups()
        opens_at = self._date("opens", self.opens, "open date", timezone)
        closes_at = self._date("closes", self.closes, "close date", timezone)
        dates = opens_at and closes_at and Cycle.check_dates(opens_at, closes_at)
        if dates:
            self.errors["closes"] = dates[:1].upper() + dates[1:]
        min_group = self._int("min_group_size", self.min_group_size, "the minimum group size")
        min_comment = self._int(
            "min_comment_group_size",
            self.min_comment_group_size,
            "the minimum group size for comments",
        )
        report_to: list[str] = []
        try:
            report_to = parse_recipient_emails(self.report_to)
        except UserError as exc:
            self.errors["report_to"] = str(exc).capitalize()
        try:
            reminder_days = parse_reminder_days(self.reminder_days)
        except UserError as exc:
            self.errors["reminder_days"] = str(exc).capitalize()
        previous: int | None = None
        if self.previous_cycle:
            try:
                previous = int(self.previous_cycle)
            except ValueError:
                previous = None
            if previous is None or not is_id(previous):
                self.errors["previous_cycle"] = "Choose a previous cycle from the list"
        if self.errors:
            return None
        assert opens_at and closes_at and min_group is not None and min_comment is not None
        return CycleSettings(
            title=self.title,
            opens_at=opens_at,
            closes_at=closes_at,
            framework_key=self.framework,
            scope=self.scope_text,
            groups=groups,
            min_group_size=min_group,
            min_comment_group_size=min_comment,
            report_to=report_to,
            previous_cycle_id=previous,
            reminder_days=reminder_days,
            remind_at_weekends=self.remind_at_weekends,
        )
