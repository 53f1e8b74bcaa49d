"""Trusts and cycles: create, set up, launch, open, extend, close (and seal), purge, status."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from email_validator import EmailNotValidError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import NotFound, UserError
from survey.mail.outbox import enqueue_invitations
from survey.models import (
    ALL_SHOWN,
    DEFAULT_GROUPS,
    DEFAULT_REMINDER_DAYS,
    AuditEvent,
    Cycle,
    CycleState,
    Group,
    Invitation,
    OutboxMessage,
    Trust,
)
from survey.queries import count_invitations
from survey.services.audit import record_event
from survey.services.frameworks import DEFAULT_FRAMEWORK, get_current_version, get_framework
from survey.services.limits import (
    MAX_REMINDER_DAYS,
    MAX_THRESHOLD,
    check_length,
    is_id,
)
from survey.services.recipients import (
    INVITATION_EDIT,
    INVITATION_REMOVE,
    RecipientRow,
    add_invitations,
    normalise_email,
)
from survey.services.sealing import seal_cycle
from survey.storage import request_scrub
from survey.timeutil import DEFAULT_TIMEZONE, as_utc, get_zone, utcnow

GROUP_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


# -- trusts -------------------------------------------------------------------------------------


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:60] or "trust"


def create_trust(session: Session, name: str, timezone: str = DEFAULT_TIMEZONE) -> Trust:
    name = name.strip()
    if not name:
        raise UserError("a trust needs a name", field="name")
    check_length(name, Trust.name, "the trust's name", field="name")
    check_length(timezone, Trust.timezone, "the time zone", field="timezone")
    get_zone(timezone)
    base = slugify(name)
    slug, n = base, 1
    while session.scalar(select(Trust.id).where(Trust.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    trust = Trust(name=name, slug=slug, timezone=timezone)
    session.add(trust)
    session.flush()
    return trust


def get_trust(session: Session, slug: str) -> Trust:
    trust = session.scalar(select(Trust).where(Trust.slug == slug))
    if trust is None:
        raise NotFound(f"no trust with slug {slug!r}")
    return trust


def list_trusts(session: Session) -> list[Trust]:
    return list(session.scalars(select(Trust).order_by(Trust.name)))


# -- cycles -------------------------------------------------------------------------------------


def get_cycle(session: Session, cycle_id: int | str) -> Cycle:
    try:
        key = int(cycle_id)
    except (TypeError, ValueError):
        raise NotFound(f"no cycle {cycle_id!r} (a cycle id is a number)") from None
    cycle = session.get(Cycle, key)
    if cycle is None:
        raise NotFound(f"no cycle {cycle_id}")
    return cycle


@dataclass(frozen=True)
class GroupSpec:
    key: str
    label: str
    is_open: bool = False


def parse_group_spec(spec: str) -> GroupSpec:
    """`KEY:LABEL[:open]` as the CLI takes it."""
    parts = spec.split(":")
    is_open = len(parts) >= 3 and parts[-1].strip().lower() == "open"
    if is_open:
        parts = parts[:-1]
    if len(parts) < 2 or not parts[0].strip() or not ":".join(parts[1:]).strip():
        raise UserError(f"group {spec!r} should be KEY:LABEL or KEY:LABEL:open")
    return GroupSpec(parts[0].strip().lower(), ":".join(parts[1:]).strip(), is_open)


def default_groups() -> list[GroupSpec]:
    return [GroupSpec(key, label) for key, label in DEFAULT_GROUPS]


def parse_recipient_emails(value: str | list[str]) -> list[str]:
    items = value if isinstance(value, list) else re.split(r"[,;\s]+", value)
    emails = []
    for item in items:
        if not item.strip():
            continue
        try:
            emails.append(normalise_email(item))
        except EmailNotValidError as exc:
            raise UserError(
                f"report recipient {item.strip()!r} is not a valid email ({exc})", field="report_to"
            ) from exc
    return list(dict.fromkeys(emails))


def parse_reminder_days(value: str) -> str:
    try:
        days = sorted(
            {int(d) for d in value.replace(";", ",").split(",") if d.strip()}, reverse=True
        )
    except ValueError:
        raise UserError(
            f"reminder days {value!r} should be whole numbers such as 7,2", field="reminder_days"
        ) from None
    if any(d < 0 or d > 365 for d in days):
        raise UserError(
            "reminder days must be between 0 and 365 days before close", field="reminder_days"
        )
    if len(days) > MAX_REMINDER_DAYS:
        raise UserError(
            f"at most {MAX_REMINDER_DAYS} reminder days, e.g. 7,2", field="reminder_days"
        )
    return ",".join(str(d) for d in days)


@dataclass
class CycleSettings:
    """Everything a draft cycle can be set up with (CLI options and the new-cycle form)."""

    title: str
    opens_at: datetime
    closes_at: datetime
    framework_key: str = DEFAULT_FRAMEWORK
    scope: str = "all"
    groups: list[GroupSpec] = field(default_factory=default_groups)
    min_group_size: int = 3
    min_comment_group_size: int = 5
    report_to: list[str] = field(default_factory=list)
    previous_cycle_id: int | None = None
    reminder_days: str = DEFAULT_REMINDER_DAYS
    remind_at_weekends: bool = False


def _check_settings(session: Session, trust: Trust, settings: CycleSettings) -> fw.Framework:
    if not settings.title.strip():
        raise UserError("a cycle needs a title", field="title")
    check_length(settings.title.strip(), Cycle.title, "the title", field="title")
    dates = Cycle.check_dates(settings.opens_at, settings.closes_at)
    if dates:
        raise UserError(dates, field="closes")
    for size, what, name in (
        (settings.min_group_size, "the minimum group size", "min_group_size"),
        (
            settings.min_comment_group_size,
            "the minimum group size for comments",
            "min_comment_group_size",
        ),
    ):
        threshold = Cycle.check_threshold(size, what)
        if threshold:
            raise UserError(threshold, field=name)
        if size > MAX_THRESHOLD:
            raise UserError(f"{what} must be {MAX_THRESHOLD:,} or less", field=name)
    if not settings.groups:
        raise UserError("a cycle needs at least one group", field="groups")
    keys = [g.key for g in settings.groups]
    for key in keys:
        if not GROUP_KEY.match(key):
            raise UserError(
                f"group key {key!r} should be 1 to 40 lower-case letters, digits and hyphens "
                "(e.g. trustee)",
                field="groups",
            )
    for group in settings.groups:
        check_length(group.label, Group.label, f"group {group.key!r}: its name", field="groups")
    if len(set(keys)) != len(keys):
        raise UserError("two groups have the same key", field="groups")
    if ALL_SHOWN in keys:
        raise UserError(
            f"'{ALL_SHOWN}' is reserved for the trust-wide column; choose another group key",
            field="groups",
        )
    row = get_current_version(session, settings.framework_key, trust)
    loaded = get_framework(session, row.key, row.version)
    try:
        scope = fw.parse_scope(settings.scope)
        loaded.validate_scope(scope)
    except fw.FrameworkError as exc:
        # The loader's own words already begin "scope: ".
        message = str(exc) if str(exc).startswith("scope") else f"scope: {exc}"
        raise UserError(message, field="scope") from exc
    settings.scope = check_length(
        str(scope), Cycle.scope, "scope: the list of element codes", field="scope"
    )
    if settings.previous_cycle_id is not None:
        previous = None
        if is_id(settings.previous_cycle_id):
            previous = session.get(Cycle, settings.previous_cycle_id)
        if previous is None or previous.trust_id != trust.id:
            raise UserError(
                "the previous cycle chosen is not a cycle of this trust", field="previous_cycle"
            )
    settings.reminder_days = parse_reminder_days(settings.reminder_days)
    return loaded


def create_cycle(session: Session, trust: Trust, settings: CycleSettings, actor: str) -> Cycle:
    loaded = _check_settings(session, trust, settings)
    cycle = Cycle(
        trust=trust,
        title=settings.title.strip(),
        framework_key=loaded.key,
        framework_version=loaded.version,
        scope=settings.scope,
        state=CycleState.DRAFT,
        opens_at=settings.opens_at,
        closes_at=settings.closes_at,
        min_group_size=settings.min_group_size,
        min_comment_group_size=settings.min_comment_group_size,
        report_recipients=",".join(settings.report_to),
        previous_cycle_id=settings.previous_cycle_id,
        reminder_days=settings.reminder_days,
        remind_at_weekends=settings.remind_at_weekends,
    )
    cycle.groups = [
        Group(key=g.key, label=g.label, is_open=g.is_open, position=i)
        for i, g in enumerate(settings.groups)
    ]
    session.add(cycle)
    session.flush()
    record_event(session, actor, "cycle.create", cycle=cycle, detail=cycle.title)
    return cycle


def update_cycle(session: Session, cycle: Cycle, settings: CycleSettings, actor: str) -> Cycle:
    """Edit a draft. Groups that already have invitations cannot be removed."""
    cycle.ensure_editable()
    loaded = _check_settings(session, cycle.trust, settings)
    used = set(session.scalars(select(Invitation.group_id).where(Invitation.cycle_id == cycle.id)))
    wanted = {g.key: g for g in settings.groups}
    for group in list(cycle.groups):
        if group.key not in wanted:
            if group.id in used:
                raise UserError(f"group {group.key!r} has invitations; remove them first")
            cycle.groups.remove(group)
    for position, spec in enumerate(settings.groups):
        existing = cycle.group_by_key(spec.key)
        if existing is None:
            cycle.groups.append(
                Group(key=spec.key, label=spec.label, is_open=spec.is_open, position=position)
            )
        else:
            existing.label, existing.is_open, existing.position = spec.label, spec.is_open, position
    cycle.title = settings.title.strip()
    cycle.framework_key, cycle.framework_version = loaded.key, loaded.version
    cycle.scope = settings.scope
    cycle.opens_at, cycle.closes_at = settings.opens_at, settings.closes_at
    cycle.min_group_size = settings.min_group_size
    cycle.min_comment_group_size = settings.min_comment_group_size
    cycle.report_recipients = ",".join(settings.report_to)
    cycle.previous_cycle_id = settings.previous_cycle_id
    cycle.reminder_days = settings.reminder_days
    cycle.remind_at_weekends = settings.remind_at_weekends
    session.flush()
    record_event(session, actor, "cycle.update", cycle=cycle)
    return cycle


# -- transitions --------------------------------------------------------------------------------


def launch_cycle(session: Session, cycle: Cycle, actor: str, now: datetime | None = None) -> Cycle:
    """Validate and lock the set-up; if the open date has come, open it now."""
    now = now or utcnow()
    cycle.launch(invitation_count=count_invitations(session, cycle), now=now)
    record_event(session, actor, "cycle.launch", cycle=cycle)
    if cycle.opens_at <= now:
        open_cycle(session, cycle, actor, now)
    session.flush()
    return cycle


def open_cycle(session: Session, cycle: Cycle, actor: str, now: datetime | None = None) -> Cycle:
    cycle.open(now)
    session.flush()
    enqueue_invitations(session, cycle)
    record_event(session, actor, "cycle.open", cycle=cycle)
    return cycle


def extend_cycle(
    session: Session, cycle: Cycle, closes_at: datetime, actor: str, now: datetime | None = None
) -> Cycle:
    previous = cycle.closes_at
    cycle.extend(closes_at, now)
    session.flush()
    record_event(
        session,
        actor,
        "cycle.extend",
        cycle=cycle,
        detail=f"{previous.isoformat()} -> {closes_at.isoformat()}",
    )
    return cycle


def close_cycle(session: Session, cycle: Cycle, actor: str, now: datetime | None = None) -> int:
    """Close and seal in one transaction; returns the number of responses sealed."""
    cycle.close(now)
    session.flush()
    sealed = seal_cycle(session, cycle)
    cycle.sealed_at = cycle.closed_at
    session.flush()
    request_scrub(session)
    record_event(session, actor, "cycle.close", cycle=cycle, detail=f"{sealed} responses sealed")
    return sealed


def purge_cycle(session: Session, cycle: Cycle, actor: str, now: datetime | None = None) -> int:
    """Remove names and emails once the report has been sent, keeping the counts."""
    cycle.ensure_can_purge()
    personal = {
        value
        for row in session.execute(
            select(Invitation.email, Invitation.name).where(Invitation.cycle_id == cycle.id)
        )
        for value in row
        if value and len(value.strip()) > 1
    }
    result = session.execute(
        update(Invitation)
        .where(Invitation.cycle_id == cycle.id, Invitation.is_purged.is_(False))
        .values(email=None, name=None, school=None, is_purged=True, delivery_error=None)
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.cycle_id == cycle.id, OutboxMessage.invitation_id.is_not(None))
        .values(recipient=None, body_text="", body_html="", last_error=None)
    )
    _scrub_audit_details(session, cycle, personal)
    cycle.purged_at = now or utcnow()
    purged = int(getattr(result, "rowcount", 0) or 0)
    record_event(session, actor, "cycle.purge", cycle=cycle, detail=f"{purged} invitations")
    session.flush()
    # The old row versions that still hold the names and emails leave the database's files.
    request_scrub(session, ["invitations", "outbox", "audit_events"])
    return purged


def _scrub_audit_details(session: Session, cycle: Cycle, personal: set[str]) -> None:
    """Purged names and addresses leave the audit log too (longest first, so a name inside an
    address does not leave the rest of the address behind)."""
    ordered = sorted(personal, key=len, reverse=True)
    for event in session.scalars(select(AuditEvent).where(AuditEvent.cycle_id == cycle.id)):
        if event.action in (INVITATION_EDIT, INVITATION_REMOVE):
            # They may name people no longer invited (removed, or an address corrected).
            event.detail = "[removed]"
            continue
        detail = event.detail
        for value in ordered:
            detail = re.sub(re.escape(value), "[removed]", detail, flags=re.IGNORECASE)
        if detail != event.detail:
            event.detail = detail


# -- copying a cycle ------------------------------------------------------------------------------


def _a_year_on(moment: datetime, now: datetime) -> datetime:
    """`moment` moved on by whole years until it is after `now` (29 February becomes the 28th)."""
    years = 0
    shifted = moment
    while shifted <= now:
        years += 1
        try:
            shifted = moment.replace(year=moment.year + years)
        except ValueError:
            shifted = moment.replace(year=moment.year + years, day=28)
    return shifted


def copy_cycle(
    session: Session,
    source: Cycle,
    actor: str,
    *,
    title: str | None = None,
    with_people: bool = False,
    now: datetime | None = None,
) -> Cycle:
    """A new draft from an earlier cycle of the same trust: its framework, scope, groups,
    thresholds, report recipients and reminder plan, dated a whole number of years later, with
    `source` as its previous cycle (for movement). With `with_people`, the same people are
    invited (name, email, group, school): nothing about who answered, declined or failed is
    copied. A cycle whose people were purged has none to copy."""
    moment = now or utcnow()
    if with_people and source.purged_at is not None:
        raise UserError(
            "the people of that cycle were removed after its report; copy it without them "
            "and add the people again"
        )
    opens_at = _a_year_on(as_utc(source.opens_at), moment)
    closes_at = opens_at + (as_utc(source.closes_at) - as_utc(source.opens_at))
    settings = CycleSettings(
        title=(title or "").strip() or f"{source.title} (copy)",
        opens_at=opens_at,
        closes_at=closes_at,
        framework_key=source.framework_key,
        scope=source.scope,
        groups=[GroupSpec(g.key, g.label, g.is_open) for g in source.groups],
        min_group_size=source.min_group_size,
        min_comment_group_size=source.min_comment_group_size,
        report_to=source.report_recipient_list,
        previous_cycle_id=source.id,
        reminder_days=source.reminder_days,
        remind_at_weekends=source.remind_at_weekends,
    )
    cycle = create_cycle(session, source.trust, settings, actor)
    if with_people:
        people = session.scalars(
            select(Invitation)
            .join(Invitation.group)
            .where(Invitation.cycle_id == source.id, Invitation.email.is_not(None))
            .order_by(Group.position, Invitation.email)
        ).all()
        rows = [
            RecipientRow(0, str(p.email), p.name or "", p.group.key, p.school or "") for p in people
        ]
        add_invitations(session, cycle, rows, actor)
    record_event(
        session,
        actor,
        "cycle.copy",
        cycle=cycle,
        detail=f"from “{source.title}”" + (" with its people" if with_people else ""),
    )
    return cycle


# -- who the invitations come from ----------------------------------------------------------------

INVITATION_NOTE_MAX = 1000


@dataclass(frozen=True)
class Sender:
    """The person invitations and reminders come from, and their note (all optional)."""

    name: str = ""
    role: str = ""
    reply_to: str = ""
    note: str = ""


def set_sender(session: Session, cycle: Cycle, sender: Sender, actor: str) -> Cycle:
    """Name who the cycle's emails come from, where replies go, and a short personal note.
    Emails already sent keep what they said; the rest use this."""
    if not cycle.is_accepting_invitations:
        raise UserError("the cycle has closed: its invitation emails can no longer change")
    name, role, note = sender.name.strip(), sender.role.strip(), sender.note.strip()
    check_length(name, Cycle.sender_name, "the sender's name", field="sender_name")
    check_length(role, Cycle.sender_role, "the sender's role", field="sender_role")
    if len(note) > INVITATION_NOTE_MAX:
        raise UserError(
            f"the note is {len(note):,} characters long: keep it to {INVITATION_NOTE_MAX:,}",
            field="invitation_note",
        )
    reply_to = sender.reply_to.strip()
    if reply_to:
        try:
            reply_to = normalise_email(reply_to)
        except EmailNotValidError as exc:
            raise UserError(
                f"the reply-to address {reply_to!r} is not a valid email ({exc})", field="reply_to"
            ) from exc
    if (role or reply_to) and not name:
        raise UserError("give the sender's name as well", field="sender_name")
    cycle.sender_name, cycle.sender_role = name or None, role or None
    cycle.reply_to, cycle.invitation_note = reply_to or None, note or None
    session.flush()
    record_event(
        session,
        actor,
        "cycle.sender",
        cycle=cycle,
        detail=", ".join(p for p in (name, role, reply_to) if p) or "no named sender",
    )
    return cycle
