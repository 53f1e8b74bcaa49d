"""The admin pages' forms: raw values as typed, field errors, and what they become.

Each form is a WTForms class whose length limits come from the columns the values are stored
in. The forms check only the shape of what was typed (present, a whole number, a date, an
email address, short enough); the rules of the domain (a group key used twice, an element code
the framework does not have, a previous cycle of another trust) stay in the services. The
new-cycle / edit-cycle form's group rows vary in number: a `FieldList` of `GroupForm`s, posted
as `group-0-label`, `group-0-key`, `group-0-open`, `group-1-label`, ... CSRF is checked globally
by Flask-WTF for every POST.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, FieldList, Form, FormField, IntegerField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional, ValidationError

from survey.errors import UserError
from survey.models import DEFAULT_REMINDER_DAYS, MIN_THRESHOLD, Cycle, Group, Invitation, Trust
from survey.services.cycles import (
    CycleSettings,
    GroupSpec,
    default_groups,
    parse_recipient_emails,
    parse_reminder_days,
    slugify,
)
from survey.services.frameworks import DEFAULT_FRAMEWORK
from survey.services.limits import MAX_ID, MAX_THRESHOLD, length_problem, max_length
from survey.timeutil import (
    DEFAULT_TIMEZONE,
    EARLIEST_YEAR,
    LATEST_YEAR,
    DateOutOfRange,
    local,
    parse_datetime,
    utcnow,
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


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


class ColumnLength:
    """At most as many characters as the column `attribute` holds, in the services' words."""

    def __init__(self, attribute: Any, what: str) -> None:
        self.attribute, self.what = attribute, what

    def __call__(self, form: Form, field: Any) -> None:
        problem = length_problem(field.data or "", self.attribute, self.what)
        if problem:
            raise ValidationError(problem)


class WholeNumberField(IntegerField):
    """A whole number, with our own words when what was typed is not one (or is empty)."""

    def __init__(self, *args: Any, not_a_number: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.not_a_number = not_a_number

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.not_a_number) from None


class ModelThreshold:
    """The model's rule on a threshold (Cycle.check_threshold), asked here too so that every
    mistake on the form is shown on the first try; the service asks it again."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __call__(self, form: Form, field: WholeNumberField) -> None:
        if field.data is not None:
            problem = Cycle.check_threshold(field.data, self.what)
            if problem:
                raise ValidationError(_sentence(problem))


def _threshold(what: str, default: int) -> WholeNumberField:
    """A reporting threshold: a whole number from anonymity's floor to MAX_THRESHOLD."""
    sentence = _sentence(what)
    return WholeNumberField(
        default=default,
        not_a_number=f"Enter {what} as a whole number, {MIN_THRESHOLD} or more",
        validators=[
            ModelThreshold(what),
            NumberRange(max=MAX_THRESHOLD, message=f"{sentence} must be {MAX_THRESHOLD:,} or less"),
        ],
    )


class GroupForm(Form):
    """One row of the groups table: a blank row (no name, no key) is left out."""

    label = StringField(
        default="", filters=[_strip], validators=[ColumnLength(Group.label, "A group's name")]
    )
    key = StringField(
        default="", filters=[_lower], validators=[ColumnLength(Group.key, "A group key")]
    )
    is_open = BooleanField(name="open")

    @property
    def is_blank(self) -> bool:
        return not self.label.data and not self.key.data

    def validate_label(self, field: StringField) -> None:
        if not field.data and self.key.data:
            raise ValidationError("Enter a name for the group")


_GROUP_FIELD = re.compile(r"group-(\d{1,2})-")


def _bounded_groups(data: Mapping[str, Any]) -> MultiDict[str, Any]:
    """The posted fields, keeping only group rows 0 to MAX_GROUPS - 1 (as the page posts them)."""
    kept: MultiDict[str, Any] = MultiDict()
    items = data.items(multi=True) if isinstance(data, MultiDict) else data.items()
    for name, value in items:
        row = _GROUP_FIELD.match(name)
        if name.startswith("group-") and not (row and int(row.group(1)) < MAX_GROUPS):
            continue
        kept.add(name, value)
    return kept


class CycleForm(Form):
    """The new-cycle / edit-cycle form. `messages` holds one message per field after
    `to_settings` (the field's HTML name -> message), in the page's order, plus any error the
    service reports when the settings are saved."""

    title = StringField(
        default="",
        filters=[_strip],
        validators=[
            DataRequired("Enter a title for the cycle"),
            ColumnLength(Cycle.title, "The title"),
        ],
    )
    framework = StringField(default=DEFAULT_FRAMEWORK)
    scope = StringField(
        default="start",
        validators=[AnyOf(("start", "all", "codes"), message="Choose which questions to ask")],
    )
    scope_codes = StringField(default="", filters=[_strip])
    group = FieldList(FormField(GroupForm), min_entries=1, max_entries=MAX_GROUPS)
    opens = StringField(
        default="", filters=[_strip], validators=[DataRequired("Enter the open date")]
    )
    closes = StringField(
        default="", filters=[_strip], validators=[DataRequired("Enter the close date")]
    )
    reminder_days = StringField(default=DEFAULT_REMINDER_DAYS, filters=[_strip])
    remind_at_weekends = BooleanField()
    min_group_size = _threshold("the minimum group size", 3)
    min_comment_group_size = _threshold("the minimum group size for comments", 5)
    report_to = StringField(default="", filters=[_strip])
    previous_cycle = WholeNumberField(
        not_a_number="Choose a previous cycle from the list",
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_ID, message="Choose a previous cycle from the list"),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: dict[str, str] = {}
        self.timezone = DEFAULT_TIMEZONE
        self.opens_at: datetime | None = None
        self.closes_at: datetime | None = None
        self.report_to_list: list[str] = []
        self.reminder_days_text = ""

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def blank(cls) -> CycleForm:
        groups = [{"label": g.label, "key": g.key, "is_open": g.is_open} for g in default_groups()]
        form = cls(data={"group": groups})
        form.add_blank_rows()
        return form

    @classmethod
    def from_cycle(cls, cycle: Cycle) -> CycleForm:
        tz = cycle.trust.timezone
        scope = cycle.scope if cycle.scope in ("start", "all") else "codes"
        form = cls(
            data={
                "title": cycle.title,
                "framework": cycle.framework_key,
                "scope": scope,
                "scope_codes": cycle.scope if scope == "codes" else "",
                "group": [
                    {"label": g.label, "key": g.key, "is_open": g.is_open} for g in cycle.groups
                ],
                "opens": to_local_input(cycle.opens_at, tz),
                "closes": to_local_input(cycle.closes_at, tz),
                "min_group_size": cycle.min_group_size,
                "min_comment_group_size": cycle.min_comment_group_size,
                "report_to": ", ".join(cycle.report_recipient_list),
                "previous_cycle": cycle.previous_cycle_id,
                "reminder_days": cycle.reminder_days,
                "remind_at_weekends": cycle.remind_at_weekends,
            }
        )
        form.add_blank_rows()
        return form

    @classmethod
    def from_request(cls, data: Mapping[str, Any]) -> CycleForm:
        return cls(_bounded_groups(data))

    def add_blank_rows(self, count: int = BLANK_GROUP_ROWS) -> None:
        """Blank rows for custom groups (the "add a group" button adds one more)."""
        for _ in range(min(count, MAX_GROUPS - len(self.group))):
            self.group.append_entry()

    def has_blank_row(self) -> bool:
        return any(entry.form.is_blank for entry in self.group)

    # -- checking --------------------------------------------------------------------------------

    def validate_scope(self, field: StringField) -> None:
        if field.data == "codes" and not self.scope_codes.data:
            raise ValidationError("Enter the element codes to ask about, e.g. 1A, 2B")

    def _moment(self, field: StringField, what: str) -> datetime:
        try:
            return parse_datetime(field.data, self.timezone)
        except DateOutOfRange:
            raise ValidationError(
                f"Enter the {what} between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
            ) from None
        except UserError:
            raise ValidationError(
                f"Enter the {what} as a date and time, e.g. 2026-03-02T09:00"
            ) from None

    def validate_opens(self, field: StringField) -> None:
        self.opens_at = self._moment(field, "open date")

    def validate_closes(self, field: StringField) -> None:
        self.closes_at = self._moment(field, "close date")
        problem = self.opens_at and Cycle.check_dates(self.opens_at, self.closes_at)
        if problem:
            raise ValidationError(_sentence(problem))
        if self.closes_at <= utcnow():
            # Said now, not first at launch: a draft that could never open is no use.
            raise ValidationError("The close date has already passed: choose a later one")

    def validate_reminder_days(self, field: StringField) -> None:
        try:
            self.reminder_days_text = parse_reminder_days(field.data)
        except UserError as exc:
            raise ValidationError(_sentence(str(exc))) from None

    def validate_report_to(self, field: StringField) -> None:
        try:
            self.report_to_list = parse_recipient_emails(field.data)
        except UserError as exc:
            raise ValidationError(_sentence(str(exc))) from None

    def _collect_messages(self) -> None:
        """Every field's first complaint at once, keyed by the field's HTML name (the id of the
        input it sits beside), in the page's order."""
        self.messages.clear()
        for name, field in self._fields.items():
            if name == "group":
                for entry in self.group:
                    for subfield in entry.form:
                        if subfield.errors:
                            self.messages[subfield.name] = subfield.errors[0]
                if not any(not entry.form.is_blank for entry in self.group) and not any(
                    n.startswith("group-") for n in self.messages
                ):
                    self.messages["groups"] = "Add at least one group"
            elif field.errors:
                self.messages[name] = field.errors[0]

    def to_settings(self, timezone: str) -> CycleSettings | None:
        """The settings, or None with `messages` filled in (field name -> message)."""
        self.timezone = timezone
        self.opens_at = self.closes_at = None
        self.validate()
        self._collect_messages()
        if self.messages:
            return None
        assert self.opens_at and self.closes_at
        groups = []
        for entry in self.group:
            row = entry.form
            if row.is_blank:
                continue
            key = row.key.data or slugify(row.label.data)[:40].strip("-")
            row.key.data = key
            groups.append(GroupSpec(key, row.label.data, row.is_open.data))
        return CycleSettings(
            title=self.title.data,
            opens_at=self.opens_at,
            closes_at=self.closes_at,
            framework_key=self.framework.data,
            scope=self.scope_codes.data if self.scope.data == "codes" else self.scope.data,
            groups=groups,
            min_group_size=self.min_group_size.data,
            min_comment_group_size=self.min_comment_group_size.data,
            report_to=self.report_to_list,
            previous_cycle_id=self.previous_cycle.data,
            reminder_days=self.reminder_days_text,
            remind_at_weekends=self.remind_at_weekends.data,
        )
