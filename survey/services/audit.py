"""The audit log: who did what to which trust or cycle."""

from __future__ import annotations

from sqlalchemy.orm import Session

from survey.models import AuditEvent, Cycle, Trust


def record_event(
    session: Session,
    actor: str,
    action: str,
    *,
    trust: Trust | None = None,
    cycle: Cycle | None = None,
    detail: str = "",
) -> AuditEvent:
    trust_id = trust.id if trust is not None else (cycle.trust_id if cycle is not None else None)
    event = AuditEvent(
        actor=actor,
        action=action,
        trust_id=trust_id,
        cycle_id=cycle.id if cycle is not None else None,
        detail=detail,
    )
    session.add(event)
    return event
