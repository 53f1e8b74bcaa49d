"""Read-only queries shared by services, reports, the admin pages and the CLI: counts per group,
never who. Nothing here writes or commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from survey.models import Cycle, DeliveryStatus, Group, Invitation
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


@dataclass
class GroupStatus:
    key: str
    label: str
    is_open: bool
    invited: int = 0
    sent: int = 0
    completed: int = 0
    declined: int = 0
    failed: int = 0


def cycle_status(session: Session, cycle: Cycle) -> list[GroupStatus]:
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
    statuses = []
    for group in cycle.groups:
        r = by_group.get(group.id)
        status = GroupStatus(group.key, group.label, group.is_open)
        if r is not None:
            status.invited, status.sent = int(r[1]), int(r[2])
            status.completed, status.declined, status.failed = (int(x or 0) for x in r[3:6])
        statuses.append(status)
    return statuses


def cycle_status_dict(session: Session, cycle: Cycle) -> dict[str, object]:
    tz = cycle.trust.timezone
    zone = get_zone(tz)
    groups = cycle_status(session, cycle)
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
        "groups": [
            {
                "key": g.key,
                "label": g.label,
                "open": g.is_open,
                "invited": g.invited,
                "sent": g.sent,
                "completed": g.completed,
                "declined": g.declined,
                "failed": g.failed,
            }
            for g in groups
        ],
        "totals": {
            k: sum(getattr(g, k) for g in groups)
            for k in ("invited", "sent", "completed", "declined", "failed")
        },
    }
