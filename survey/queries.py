"""Read-only queries shared by services, reports, the admin pages and the CLI: counts per group
(never who, with the masking rule for small groups), the invited addresses, report emails, the
audit log. Nothing here writes or commits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from survey.models import (
    AdminUser,
    AuditEvent,
    Cycle,
    DeliveryStatus,
    Group,
    Invitation,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Report,
    Trust,
)
from survey.timeutil import get_zone


def count_group_invitations(session: Session, group: Group) -> int:
    """How many people were invited in one group (respondents are told, to judge their group)."""
    return (
        session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.group_id == group.id)
        )
        or 0
    )


def count_invitations(session: Session, cycle: Cycle) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.cycle_id == cycle.id)
        )
        or 0
    )


@dataclass(frozen=True)
class GroupCounts:
    """One group's invitation counts: how many, never who. The one shape for the live page, the
    launch page, the status command and the report's response rates.

    A copy from `masked` has `is_masked` set, and its `completed` and `declined` are zero: they
    must not be shown (the page says "fewer than N" instead).
    """

    key: str
    label: str
    is_open: bool
    invited: int = 0
    sent: int = 0
    completed: int = 0
    declined: int = 0
    failed: int = 0
    is_masked: bool = False

    @property
    def rate(self) -> float | None:
        return self.completed / self.invited if self.invited else None

    def masked(self, threshold: int) -> GroupCounts:
        """The counts as a page may show them while the cycle runs (the anonymity rule): a group
        that is not open and has fewer than `threshold` completed responses hides how many have
        completed or declined, so that watching the page while people answer does not tell who
        has."""
        if self.is_open or self.completed >= threshold:
            return self
        return replace(self, completed=0, declined=0, is_masked=True)

    def as_json(self) -> dict[str, object]:
        """As `mat-review cycle status --json` prints it (SPEC section 8)."""
        return {
            "key": self.key,
            "label": self.label,
            "open": self.is_open,
            "invited": self.invited,
            "sent": self.sent,
            "completed": self.completed,
            "declined": self.declined,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class CountTotals:
    invited: int
    sent: int
    failed: int
    # Over the groups whose counts are shown; `is_partial` when some group is masked.
    completed: int
    declined: int
    is_partial: bool

    def as_json(self) -> dict[str, int]:
        return {
            "invited": self.invited,
            "sent": self.sent,
            "completed": self.completed,
            "declined": self.declined,
            "failed": self.failed,
        }


def total_counts(groups: list[GroupCounts]) -> CountTotals:
    shown = [g for g in groups if not g.is_masked]
    return CountTotals(
        invited=sum(g.invited for g in groups),
        sent=sum(g.sent for g in groups),
        failed=sum(g.failed for g in groups),
        completed=sum(g.completed for g in shown),
        declined=sum(g.declined for g in shown),
        is_partial=len(shown) < len(groups),
    )


def group_counts(session: Session, cycle: Cycle) -> list[GroupCounts]:
    """Counts per group, in cycle order. Never says who."""
    rows = session.execute(
        select(
            Invitation.group_id,
            func.count(),
            func.count(Invitation.sent_at),
            func.sum(case((Invitation.is_completed, 1), else_=0)),
            func.sum(case((Invitation.is_declined, 1), else_=0)),
            func.sum(case((Invitation.delivery_status == DeliveryStatus.FAILED, 1), else_=0)),
        )
        .where(Invitation.cycle_id == cycle.id)
        .group_by(Invitation.group_id)
    ).all()
    by_group = {r[0]: r for r in rows}
    counts = []
    for group in cycle.groups:
        r = by_group.get(group.id)
        if r is None:
            counts.append(GroupCounts(group.key, group.label, group.is_open))
            continue
        completed, declined, failed = (int(x or 0) for x in r[3:6])
        counts.append(
            GroupCounts(
                group.key,
                group.label,
                group.is_open,
                invited=int(r[1]),
                sent=int(r[2]),
                completed=completed,
                declined=declined,
                failed=failed,
            )
        )
    return counts


def cycle_status_dict(session: Session, cycle: Cycle) -> dict[str, object]:
    tz = cycle.trust.timezone
    zone = get_zone(tz)
    groups = group_counts(session, cycle)
    return {
        "id": cycle.id,
        "trust": cycle.trust.slug,
        "title": cycle.title,
        "state": cycle.state.value,
        "framework": cycle.framework_key,
        "framework_version": cycle.framework_version,
        "scope": cycle.scope,
        "timezone": tz,
        "opens_at": cycle.opens_at.astimezone(zone).isoformat(),
        "closes_at": cycle.closes_at.astimezone(zone).isoformat(),
        "min_group_size": cycle.min_group_size,
        "min_comment_group_size": cycle.min_comment_group_size,
        "report_to": cycle.report_recipient_list,
        "previous_cycle": cycle.previous_cycle_id,
        "groups": [g.as_json() for g in groups],
        "totals": total_counts(groups).as_json(),
    }


# -- invitations ----------------------------------------------------------------------------------

# The audit action naming one person invited after the cycle was launched.
ADDED_AFTER_LAUNCH = "invitation.add-after-launch"


def list_invited_emails(session: Session, cycle: Cycle) -> set[str]:
    """The addresses invited to the cycle, as stored (the recipient checks find duplicates by
    mailbox, so that Ann+x@School.org is a duplicate of ann@school.org)."""
    return {
        e
        for e in session.scalars(
            select(Invitation.email).where(
                Invitation.cycle_id == cycle.id, Invitation.email.is_not(None)
            )
        )
        if e
    }


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


# -- report emails --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportEmail:
    """One report email as the cycle and report pages and `mat-review report emails` show it."""

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


# -- a trust's audit log and cycles ---------------------------------------------------------------

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


def has_report(session: Session, cycle: Cycle) -> bool:
    """Whether the cycle's report has been compiled and stored."""
    return session.scalar(select(Report.id).where(Report.cycle_id == cycle.id)) is not None
