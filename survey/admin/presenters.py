"""What the CEO's pages show, and their English: plain rows and summaries built from the
queries and services, for the templates. Nothing here writes.

The live page's counts come masked (`GroupCounts.masked`, the anonymity rule, lives with the
counts in survey/queries.py), and the invitation list carries delivery status only (no
completion, no reminder count, since reminders go only to people who have not answered and would
betray who has).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import framework as fw
from survey.mail.reminders import reminder_slots
from survey.models import Cycle, CycleState, FrameworkVersion, Group, Invitation, Trust
from survey.queries import CountTotals, GroupCounts, group_counts, total_counts
from survey.services.clockcheck import describe_span, get_clock_refusal
from survey.services.frameworks import get_framework, list_framework_versions
from survey.services.recipients import RecipientSheet, check_recipients
from survey.templating import counted
from survey.timeutil import utcnow

# -- framework and scope --------------------------------------------------------------------------

# The scopes that ask about the whole framework, as the pages name them.
WHOLE_SCOPES = {"start": "Questions to start with", "all": "All questions"}


def question_count_text(questions: int, elements: int) -> str:
    """e.g. "42 questions over 14 elements" (a trust's own framework may have just one)."""
    element_text = counted(elements, "element")
    if not questions:
        # The 2015 framework rates its elements on their descriptors alone.
        return f"{element_text}, no questions"
    return f"{counted(questions, 'question')} over {element_text}"


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
    for value, label in WHOLE_SCOPES.items():
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
    name = WHOLE_SCOPES.get(scope.kind, f"Elements {', '.join(scope.codes)}")
    return f"{name}: {question_count_text(count, elements)}"


# -- the live page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveStatus:
    groups: list[GroupCounts]  # masked
    totals: CountTotals
    threshold: int
    next_reminder: datetime | None


def next_reminder(cycle: Cycle, now: datetime | None = None) -> datetime | None:
    """When the next reminder goes out (by the scheduler's own rule), if any is still to come."""
    if not cycle.is_under_way:
        return None
    moment = now or utcnow()
    return next((slot.at for slot in reminder_slots(cycle) if slot.at > moment), None)


def live_status(session: Session, cycle: Cycle, now: datetime | None = None) -> LiveStatus:
    threshold = cycle.min_group_size
    groups = [g.masked(threshold) for g in group_counts(session, cycle)]
    return LiveStatus(
        groups=groups,
        totals=total_counts(groups),
        threshold=threshold,
        next_reminder=next_reminder(cycle, now),
    )


# -- the scheduler's clock ------------------------------------------------------------------------


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
    sheet = check_recipients(session, cycle, data)
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


# -- a trust's frameworks -------------------------------------------------------------------------


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
