"""Read models and small operations behind the CEO's pages.

Everything here answers "how many", never "who": the live page's counts are masked for small
groups, and the invitation list carries delivery status only (no completion, no reminder count,
since reminders go only to people who have not answered and would betray who has).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import NotFound, UserError
from survey.mail import outbox
from survey.mail.outbox import enqueue_resend
from survey.mail.reminders import reminder_slots
from survey.models import (
    AdminUser,
    AuditEvent,
    Cycle,
    CycleState,
    FrameworkVersion,
    Group,
    Invitation,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Trust,
)
from survey.queries import GroupStatus, cycle_status
from survey.services.audit import record_event
from survey.services.clockcheck import describe_span, get_clock_refusal
from survey.services.cycles import ADDED_AFTER_LAUNCH, add_invitations, existing_emails
from survey.services.frameworks import get_framework, list_framework_versions
from survey.services.recipients import REQUIRED_COLUMNS, RecipientSheet, read_recipients
from survey.timeutil import utcnow

# -- framework and scope --------------------------------------------------------------------------


def question_count_text(questions: int, elements: int) -> str:
    """e.g. "42 questions over 14 elements" (a trust's own framework may have just one)."""
    element_text = f"{elements} element{'' if elements == 1 else 's'}"
    if not questions:
        # The 2015 framework rates its elements on their descriptors alone.
        return f"{element_text}, no questions"
    return f"{questions} question{'' if questions == 1 else 's'} over {element_text}"


@dataclass(frozen=True)
class ScopeOption:
    value: str  # "start" or "all"
    label: str
    questions: int
    elements: int

    @property
    def summary(self) -> str:
        return question_count_text(self.questions, self.elements)


def scope_options(framework: fw.Framework) -> list[ScopeOption]:
    """The two whole-framework scopes with the number of questions each implies."""
    options = []
    for value, label in (("start", "Questions to start with"), ("all", "All questions")):
        scope = fw.parse_scope(value)
        options.append(
            ScopeOption(
                value,
                label,
                framework.question_count(scope),
                len(framework.elements_in_scope(scope)),
            )
        )
    return options


def describe_scope(framework: fw.Framework, scope_text: str) -> str:
    """e.g. "Questions to start with: 42 questions over 14 elements"."""
    scope = fw.parse_scope(scope_text)
    count = framework.question_count(scope)
    elements = len(framework.elements_in_scope(scope))
    name = {"start": "Questions to start with", "all": "All questions"}.get(
        scope.kind, f"Elements {', '.join(scope.codes)}"
    )
    return f"{name}: {question_count_text(count, elements)}"


# -- the live page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveGroup:
    """One group's counts as the live page may show them.

    `completed` and `declined` are None when they are masked: a group that is not open and has
    fewer completed responses than the threshold shows "fewer than N" instead, so that watching
    the page while people answer does not tell the CEO who has.
    """

    key: str
    label: str
    is_open: bool
    invited: int
    sent: int
    failed: int
    completed: int | None
    declined: int | None

    @property
    def is_masked(self) -> bool:
        return self.completed is None


@dataclass(frozen=True)
class LiveTotals:
    invited: int
    sent: int
    failed: int
    # Over the groups whose counts are shown; `is_partial` when some group is masked.
    completed: int
    declined: int
    is_partial: bool


@dataclass(frozen=True)
class LiveStatus:
    groups: list[LiveGroup]
    totals: LiveTotals
    threshold: int
    next_reminder: datetime | None


def mask_group(status: GroupStatus, threshold: int) -> LiveGroup:
    hidden = not status.is_open and status.completed < threshold
    return LiveGroup(
        key=status.key,
        label=status.label,
        is_open=status.is_open,
        invited=status.invited,
        sent=status.sent,
        failed=status.failed,
        completed=None if hidden else status.completed,
        declined=None if hidden else status.declined,
    )


def next_reminder(cycle: Cycle, now: datetime | None = None) -> datetime | None:
    """When the next reminder goes out (by the scheduler's own rule), if any is still to come."""
    if cycle.state not in (CycleState.SCHEDULED, CycleState.OPEN):
        return None
    moment = now or utcnow()
    return next((slot.at for slot in reminder_slots(cycle) if slot.at > moment), None)


def live_status(session: Session, cycle: Cycle, now: datetime | None = None) -> LiveStatus:
    threshold = cycle.min_group_size
    groups = [mask_group(s, threshold) for s in cycle_status(session, cycle)]
    shown = [g for g in groups if not g.is_masked]
    totals = LiveTotals(
        invited=sum(g.invited for g in groups),
        sent=sum(g.sent for g in groups),
        failed=sum(g.failed for g in groups),
        completed=sum(g.completed or 0 for g in shown),
        declined=sum(g.declined or 0 for g in shown),
        is_partial=len(shown) < len(groups),
    )
    return LiveStatus(
        groups=groups,
        totals=totals,
        threshold=threshold,
        next_reminder=next_reminder(cycle, now),
    )


# -- report emails and the scheduler's clock -------------------------------------------------------


@dataclass(frozen=True)
class ReportEmail:
    """One report email as the cycle and report pages show it."""

    id: int  # the outbox row
    recipient: str
    status: str  # "sent", "pending" (waiting or being retried) or "failed" (refused for good)
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None

    @property
    def is_delivered(self) -> bool:
        return self.status == "sent"


def list_report_emails(session: Session, cycle: Cycle) -> list[ReportEmail]:
    """The cycle's report emails, by recipient: delivered, still being tried, or refused."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.cycle_id == cycle.id,
            OutboxMessage.kind == MessageKind.REPORT,
            OutboxMessage.recipient.is_not(None),
            OutboxMessage.status != OutboxStatus.CANCELLED,
        )
        .order_by(OutboxMessage.recipient)
    )
    return [
        ReportEmail(
            id=row.id,
            recipient=str(row.recipient),
            status=row.status.value,
            attempts=row.attempts,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            sent_at=row.sent_at,
        )
        for row in rows
    ]


def resend_report_email(
    session: Session, cycle: Cycle, message_id: int, actor: str
) -> OutboxMessage:
    """Try an undelivered report email again now (audited)."""
    row = outbox.resend_report_email(session, cycle, message_id)
    record_event(session, actor, "report.resend", cycle=cycle, detail=str(row.recipient))
    session.flush()
    return row


@dataclass(frozen=True)
class ClockNotice:
    """Why the scheduler is not acting: the time it was to act as of and the database's clock
    disagreed at its last check."""

    job: str
    given_at: datetime
    database_at: datetime

    @property
    def skew_text(self) -> str:
        seconds = (self.given_at - self.database_at).total_seconds()
        return f"{describe_span(seconds)} {'ahead of' if seconds > 0 else 'behind'}"


def get_clock_notice(session: Session, cycle: Cycle) -> ClockNotice | None:
    """The scheduler's standing clock refusal, for a cycle it still has steps to take for."""
    if cycle.state not in (CycleState.SCHEDULED, CycleState.OPEN, CycleState.CLOSED):
        return None
    refusal = get_clock_refusal(session)
    if refusal is None:
        return None
    return ClockNotice(refusal.job, refusal.given_at, refusal.database_at)


# -- launch ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchGroup:
    label: str
    is_open: bool
    invited: int


def launch_summary(session: Session, cycle: Cycle) -> list[LaunchGroup]:
    """Who will be emailed at launch: the number of people in each group."""
    return [LaunchGroup(s.label, s.is_open, s.invited) for s in cycle_status(session, cycle)]


# -- recipients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    line: int
    email: str
    name: str
    group: str
    school: str
    problem: str | None  # None for a good row


@dataclass(frozen=True)
class RecipientPreview:
    rows: list[PreviewRow]
    sheet: RecipientSheet

    @property
    def bad_rows(self) -> list[PreviewRow]:
        return [r for r in self.rows if r.problem is not None]

    @property
    def is_valid(self) -> bool:
        return self.sheet.is_valid

    def counts_by_group(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.sheet.rows:
            counts[row.group] = counts.get(row.group, 0) + 1
        return counts


def preview_recipients(session: Session, cycle: Cycle, data: bytes | str) -> RecipientPreview:
    """Check a file without saving anything: every row, good or bad, in file order.

    Raises UserError when the file as a whole cannot be read (no header, not text, empty).
    """
    if not cycle.accepts_invitations:
        raise UserError(f"this cycle is {cycle.state.value}: it takes no more invitations")
    sheet = read_recipients(data, [g.key for g in cycle.groups], existing_emails(session, cycle))
    rows = [PreviewRow(r.line, r.email, r.name, r.group, r.school, None) for r in sheet.rows]
    rows += [
        PreviewRow(
            p.line,
            p.raw.get("email", ""),
            p.raw.get("name", ""),
            p.raw.get("group", ""),
            p.raw.get("school", ""),
            p.message,
        )
        for p in sheet.problems
    ]
    rows.sort(key=lambda r: r.line)
    return RecipientPreview(rows, sheet)


def add_one_person(
    session: Session,
    cycle: Cycle,
    *,
    email: str,
    name: str,
    group: str,
    school: str,
    actor: str,
) -> Invitation:
    """Invite one more person, checked by exactly the rules a file is checked by."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*REQUIRED_COLUMNS, "school"])
    writer.writerow([email, name, group, school])
    preview = preview_recipients(session, cycle, buffer.getvalue())
    if not preview.is_valid:
        # "Not added:" first, so that the message never starts with the address (the page
        # capitalises a message's first letter, which would change the address shown).
        raise UserError(f"not added: {preview.sheet.problems[0].message}")
    (invitation,) = add_invitations(session, cycle, preview.sheet.rows, actor)
    return invitation


@dataclass(frozen=True)
class InvitationRow:
    """What the invitation list shows: who was asked and whether the email reached them.
    Deliberately nothing about completion, declining or reminders."""

    id: int
    name: str
    email: str
    group: str
    school: str
    delivery_status: str
    delivery_error: str | None
    is_purged: bool


def list_invitations(session: Session, cycle: Cycle) -> list[InvitationRow]:
    rows = session.execute(
        select(
            Invitation.id,
            Invitation.name,
            Invitation.email,
            Group.label,
            Invitation.school,
            Invitation.delivery_status,
            Invitation.delivery_error,
            Invitation.is_purged,
        )
        .join(Group, Group.id == Invitation.group_id)
        .where(Invitation.cycle_id == cycle.id)
        # Alphabetical: never in the order people were added or answered.
        .order_by(Group.position, func.lower(func.coalesce(Invitation.name, "")), Invitation.email)
    ).all()
    return [
        InvitationRow(
            id=r[0],
            name=r[1] or "",
            email=r[2] or "",
            group=r[3],
            school=r[4] or "",
            delivery_status=r[5].value,
            delivery_error=r[6],
            is_purged=r[7],
        )
        for r in rows
    ]


def get_cycle_invitation(session: Session, cycle: Cycle, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.cycle_id != cycle.id:
        raise NotFound(f"no invitation {invitation_id} in cycle {cycle.id}")
    return invitation


def resend_invitation(session: Session, cycle: Cycle, invitation_id: int, actor: str) -> Invitation:
    """Queue a fresh invitation email for one person (a new link; the old ones keep working).

    Someone who has already answered or declined is quietly not emailed (enqueue_resend sees to
    it), and the caller is told nothing different: whether a resend "worked" must not reveal
    whether that person answered.
    """
    invitation = get_cycle_invitation(session, cycle, invitation_id)
    if cycle.state != CycleState.OPEN:
        raise UserError("invitations can be sent again only while the cycle is open")
    if invitation.is_purged or not invitation.email:
        raise UserError("this invitation's personal data has been removed")
    enqueue_resend(session, invitation)
    record_event(session, actor, "invitation.resend", cycle=cycle, detail=invitation.email)
    session.flush()
    return invitation


def list_added_after_launch(session: Session, cycle: Cycle) -> list[AuditEvent]:
    """Everyone invited after the cycle was launched, oldest first, as the audit log names them
    (so the list survives a removal, and a purge leaves "[removed]" in place of the names)."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.cycle_id == cycle.id, AuditEvent.action == ADDED_AFTER_LAUNCH)
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    )


# -- audit log ------------------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 100
ACCOUNT_ACTIONS = ("admin.sign-in", "admin.sign-in-failed", "admin.sign-out")


def list_trust_audit(
    session: Session, trust: Trust, page: int = 1
) -> tuple[list[AuditEvent], bool]:
    """The trust's events, newest first, with the sign-ins of the trust's own admins;
    returns (events, has_more)."""
    members = select(AdminUser.email).where(AdminUser.trusts.any(Trust.id == trust.id))
    query = (
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.trust_id == trust.id,
                AuditEvent.action.in_(ACCOUNT_ACTIONS) & AuditEvent.actor.in_(members),
            )
        )
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset((max(page, 1) - 1) * AUDIT_PAGE_SIZE)
        .limit(AUDIT_PAGE_SIZE + 1)
    )
    events = list(session.scalars(query))
    return events[:AUDIT_PAGE_SIZE], len(events) > AUDIT_PAGE_SIZE


def list_previous_cycle_choices(session: Session, trust: Trust, cycle: Cycle | None) -> list[Cycle]:
    """Cycles of the same trust that a cycle may name as its previous one."""
    query = select(Cycle).where(Cycle.trust_id == trust.id).order_by(Cycle.opens_at.desc())
    if cycle is not None:
        query = query.where(Cycle.id != cycle.id)
    return list(session.scalars(query))


# -- a trust's frameworks -------------------------------------------------------------------------

# The built-in MAT Assurance file is about 53 KB; a trust's own file has no reason to be much
# bigger, and the limit keeps a stray upload from being parsed at all.
MAX_FRAMEWORK_BYTES = 512 * 1024


@dataclass(frozen=True)
class FrameworkSummary:
    """One framework a trust can choose for a cycle, as its frameworks page lists it."""

    key: str
    title: str
    version: str
    kind: str  # "built-in", "own" (this trust's) or "shared" (added for every trust by the CLI)
    scopes: list[ScopeOption]


def _kind(row: FrameworkVersion) -> str:
    if row.is_builtin:
        return "built-in"
    return "shared" if row.trust_id is None else "own"


def list_trust_frameworks(session: Session, trust: Trust) -> list[FrameworkSummary]:
    """The newest version of every framework the trust can use: built-in ones first."""
    summaries = []
    for row in list_framework_versions(session, trust):
        loaded = get_framework(session, row.key, row.version)
        summaries.append(
            FrameworkSummary(
                row.key,
                row.title,
                row.version,
                _kind(row),
                scope_options(loaded),
            )
        )
    return sorted(summaries, key=lambda s: (s.kind != "built-in", s.key))


def get_trust_framework(session: Session, trust: Trust, key: str) -> fw.Framework:
    """The newest version of `key` that the trust can use; NotFound for any other key (another
    trust's own framework included)."""
    for row in list_framework_versions(session, trust):
        if row.key == key:
            return get_framework(session, row.key, row.version)
    raise NotFound(f"no framework {key!r}")


def read_framework_upload(data: bytes | str, source: str) -> str:
    """The text of an uploaded file (bytes, kept exactly, so its version is the one `mat-review
    framework add` gives the same file) or of pasted text (str). Raises `fw.FrameworkError`."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > MAX_FRAMEWORK_BYTES:
        raise fw.FrameworkError(
            f"too large ({size // 1024} KB; the limit is {MAX_FRAMEWORK_BYTES // 1024} KB)",
            source=source,
            path="file",
        )
    if isinstance(data, str):
        # Browsers send a textarea's line breaks as CRLF whatever was pasted: store LF, as a
        # file saved by an editor would have.
        return data.replace("\r\n", "\n")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise fw.FrameworkError(
            "file is not UTF-8 text (save it as UTF-8)", source=source, line=line, path="document"
        ) from None
    return text.removeprefix("\ufeff")


@dataclass(frozen=True)
class PreviewHeading:
    number: int
    title: str
    elements: list[fw.Element]


@dataclass(frozen=True)
class FrameworkPreview:
    """What a respondent would be asked for one scope, heading by heading."""

    framework: fw.Framework
    scope: fw.Scope
    headings: list[PreviewHeading]
    summary: str  # e.g. "Questions to start with: 42 questions over 14 elements"


def preview_framework(framework: fw.Framework, scope_text: str) -> FrameworkPreview:
    """Raises `fw.FrameworkError` for a scope that is not valid for this framework."""
    scope = fw.parse_scope(scope_text)
    elements = framework.elements_in_scope(scope)
    headings = []
    for heading in framework.headings:
        chosen = [e for e in elements if e.heading == heading.number]
        if chosen:
            headings.append(PreviewHeading(heading.number, heading.title, chosen))
    return FrameworkPreview(framework, scope, headings, describe_scope(framework, str(scope)))
