"""The outbox (SPEC section 7): every email is a row first, and is sent from there.

Enqueueing: each row has a `dedupe_key` unique per (cycle, invitation or recipient, kind,
sequence), and rows are inserted with ON CONFLICT DO NOTHING, so running any job twice, or two
jobs at once, enqueues nothing twice. Each row gets one `Message-ID` when it is enqueued, so a
copy delivered twice (a crash between handing it to the server and recording that) carries the
same Message-ID and is recognisable as a duplicate. Enqueue functions flush and never commit.

Sending the rows is survey/mail/dispatch.py.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from survey.config import get_settings
from survey.db import dialect_insert
from survey.errors import UserError
from survey.mail.messages import (
    LINK_PLACEHOLDER,
    InvitationRenderer,
    RenderedEmail,
    new_message_id,
)
from survey.models import (
    Cycle,
    CycleState,
    DeliveryStatus,
    Invitation,
    InvitationLink,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    ReportLink,
)
from survey.services.audit import record_event
from survey.services.report_links import get_report_link
from survey.timeutil import utcnow

log = logging.getLogger(__name__)


def invitation_key(cycle_id: int, invitation_id: int, sequence: int) -> str:
    return f"{cycle_id}:inv{invitation_id}:invitation:{sequence}"


def reminder_key(cycle_id: int, invitation_id: int, sequence: str) -> str:
    return f"{cycle_id}:inv{invitation_id}:reminder:{sequence}"


def report_key(cycle_id: int, recipient: str, sequence: int = 1) -> str:
    return f"{cycle_id}:report:{recipient.lower()}:{sequence}"


def follow_up_key(cycle_id: int, invitation_id: int) -> str:
    """One "you said, we did" per invitation, ever: there is no second sequence."""
    return f"{cycle_id}:inv{invitation_id}:follow-up:1"


# -- enqueueing ---------------------------------------------------------------------------------


def _row(
    *,
    key: str,
    kind: MessageKind,
    cycle_id: int | None,
    invitation_id: int | None,
    recipient: str,
    rendered: RenderedEmail,
    due_at: datetime,
) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "kind": kind,
        "cycle_id": cycle_id,
        "invitation_id": invitation_id,
        "recipient": recipient,
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
        "message_id": new_message_id(get_settings().mail_from),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": due_at,
        "created_at": utcnow(),
    }


def _personal_rows(
    cycle: Cycle,
    invitations: Sequence[Invitation],
    kind: MessageKind,
    key: Callable[[Invitation], str],
    render: Callable[[Invitation], RenderedEmail],
    due_at: datetime,
) -> list[dict[str, Any]]:
    """One outbox row per invitation: an invitation or a reminder email, each with its key."""
    return [
        _row(
            key=key(inv),
            kind=kind,
            cycle_id=cycle.id,
            invitation_id=inv.id,
            recipient=str(inv.email),
            rendered=render(inv),
            due_at=due_at,
        )
        for inv in invitations
    ]


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose dedupe_key is new; returns how many were inserted."""
    if not rows:
        return 0
    insert = dialect_insert(session)
    stmt = (
        insert(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    inserted = 0
    for start in range(0, len(rows), 500):
        inserted += len(session.execute(stmt, rows[start : start + 500]).all())
    return inserted


def has_outbox_message(kind: MessageKind) -> Any:
    """SQL: the invitation in the query already has an outbox row of `kind`."""
    return exists().where(OutboxMessage.invitation_id == Invitation.id, OutboxMessage.kind == kind)


def enqueue_invitations(session: Session, cycle: Cycle, *, now: datetime | None = None) -> int:
    """One `invitation` row per invitation of an open cycle that has none yet; returns how many
    were added. Purged, declined and completed invitations are skipped. Idempotent."""
    if cycle.state != CycleState.OPEN:
        return 0
    session.flush()
    invitations = session.scalars(
        select(Invitation)
        .where(
            Invitation.cycle_id == cycle.id,
            Invitation.is_awaiting_email,
            ~has_outbox_message(MessageKind.INVITATION),
        )
        .order_by(Invitation.id)
    ).all()
    if not invitations:
        return 0
    # Due from the moment the cycle opened: a row enqueued by a job running "as of" a given time
    # is due at that time, whatever the wall clock says.
    due_at = now or cycle.opened_at or utcnow()
    renderer = InvitationRenderer(session, cycle)
    rows = _personal_rows(
        cycle,
        invitations,
        MessageKind.INVITATION,
        lambda inv: invitation_key(cycle.id, inv.id, 1),
        renderer.invitation,
        due_at,
    )
    return _insert_new(session, rows)


def enqueue_resend(
    session: Session, invitation: Invitation, *, now: datetime | None = None
) -> OutboxMessage | None:
    """Send the invitation email again (with a new link), as the next sequence number.

    If a copy is still waiting to be sent, that one is returned instead of adding another.
    Someone who has already answered or declined is quietly not emailed (None), with no error:
    whether a resend "worked" must not tell the person asking whether that person answered.
    """
    # Lock the invitation so that two clicks on "resend" cannot both pick the same sequence.
    locked = session.scalars(
        select(Invitation)
        .where(Invitation.id == invitation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    cycle = locked.cycle
    locked.ensure_may_resend()
    if not locked.is_awaiting_email:
        return None
    waiting = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.invitation_id == locked.id,
            OutboxMessage.kind == MessageKind.INVITATION,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
    ).first()
    if waiting is not None:
        return waiting
    count = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.invitation_id == locked.id,
            OutboxMessage.kind == MessageKind.INVITATION,
        )
    )
    rendered = InvitationRenderer(session, cycle).invitation(locked)
    message = OutboxMessage(
        **_row(
            key=invitation_key(cycle.id, locked.id, int(count or 0) + 1),
            kind=MessageKind.INVITATION,
            cycle_id=cycle.id,
            invitation_id=locked.id,
            recipient=str(locked.email),
            rendered=rendered,
            due_at=now or utcnow(),
        )
    )
    session.add(message)
    session.flush()
    return message


def enqueue_reminders(
    session: Session,
    cycle: Cycle,
    sequence: str,
    moment: datetime,
    *,
    invited_before: datetime | None = None,
) -> int:
    """One `reminder` row (for reminder `sequence`, e.g. its date), due at `moment`, per
    invitation that still needs one: its invitation delivered (before `invited_before`, default
    `moment`), not completed, not declined, not failed, not purged. Idempotent per (invitation,
    sequence). See survey.mail.reminders for when reminders fall due."""
    if cycle.state != CycleState.OPEN:
        return 0
    already = set(
        session.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.cycle_id == cycle.id, OutboxMessage.kind == MessageKind.REMINDER
            )
        )
    )
    candidates = session.scalars(
        select(Invitation)
        .where(
            Invitation.cycle_id == cycle.id,
            Invitation.is_awaiting_email,
            Invitation.delivery_status == DeliveryStatus.SENT,
            Invitation.sent_at <= (invited_before or moment),
        )
        .order_by(Invitation.id)
    ).all()
    invitations = [
        inv for inv in candidates if reminder_key(cycle.id, inv.id, sequence) not in already
    ]
    if not invitations:
        return 0
    renderer = InvitationRenderer(session, cycle)
    rows = _personal_rows(
        cycle,
        invitations,
        MessageKind.REMINDER,
        lambda inv: reminder_key(cycle.id, inv.id, sequence),
        renderer.reminder,
        moment,
    )
    return _insert_new(session, rows)


def enqueue_report_emails(
    session: Session, cycle: Cycle, rendered: RenderedEmail, *, now: datetime | None = None
) -> int:
    """One `report` row per report recipient, with the email the caller rendered from the
    report (the files are attached at send time)."""
    recipients = cycle.report_recipient_list
    if not recipients:
        return 0
    rows = [
        _row(
            key=report_key(cycle.id, recipient),
            kind=MessageKind.REPORT,
            cycle_id=cycle.id,
            invitation_id=None,
            recipient=recipient,
            rendered=rendered,
            due_at=now or utcnow(),
        )
        for recipient in dict.fromkeys(recipients)
    ]
    return _insert_new(session, rows)


def resend_report_email(
    session: Session, cycle: Cycle, message_id: int, actor: str, *, now: datetime | None = None
) -> OutboxMessage:
    """Try a report email that has not been delivered again now (audited): one still being
    retried is made due at once; one the server refused for good (5xx) is taken up again, with
    its same Message-ID (it never arrived). Raises `UserError` for one already delivered."""
    row = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.cycle_id == cycle.id,
            OutboxMessage.kind == MessageKind.REPORT,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None or not row.recipient:
        raise UserError("this cycle has no such report email")
    if row.status == OutboxStatus.SENT:
        raise UserError(f"the report email to {row.recipient} has already been delivered")
    row.status = OutboxStatus.PENDING
    row.next_attempt_at = now or utcnow()
    record_event(session, actor, "report.resend", cycle=cycle, detail=str(row.recipient))
    session.flush()
    return row


def enqueue_follow_ups(
    session: Session, cycle: Cycle, rendered: RenderedEmail, *, now: datetime | None = None
) -> int:
    """The same "you said, we did" email (`rendered`) to every invitation of the cycle whose
    address is still held, answered or not; one row per invitation, ever (see follow_up_key).
    Returns how many rows were added."""
    invitations = session.scalars(
        select(Invitation)
        .where(
            Invitation.cycle_id == cycle.id,
            Invitation.is_purged.is_(False),
            Invitation.email.is_not(None),
        )
        .order_by(Invitation.id)
    ).all()
    rows = [
        _row(
            key=follow_up_key(cycle.id, inv.id),
            kind=MessageKind.FOLLOW_UP,
            cycle_id=cycle.id,
            invitation_id=inv.id,
            recipient=str(inv.email),
            rendered=rendered,
            due_at=now or utcnow(),
        )
        for inv in invitations
    ]
    return _insert_new(session, rows)


# Emails to an admin that carry a single-use link, minted when the email is sent.
ADMIN_LINK_KINDS = (MessageKind.ADMIN_LOGIN, MessageKind.ADMIN_INVITE, MessageKind.PASSWORD_RESET)


def enqueue_admin_email(
    session: Session,
    kind: MessageKind,
    recipient: str,
    rendered: RenderedEmail,
    *,
    now: datetime | None = None,
) -> OutboxMessage:
    """An email to an admin whose body has the link's placeholder (see ADMIN_LINK_KINDS). A
    sign-in or reset email still waiting for this address is returned instead of adding another,
    so pressing the button again does not queue a pile of links."""
    if kind not in ADMIN_LINK_KINDS:
        raise ValueError(f"{kind.value} is not an admin email")
    if kind != MessageKind.ADMIN_INVITE:
        waiting = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == kind,
                func.lower(OutboxMessage.recipient) == recipient.lower(),
                OutboxMessage.status == OutboxStatus.PENDING,
            )
        ).first()
        if waiting is not None:
            return waiting
    message = OutboxMessage(
        **_row(
            # A random sequence: each request is its own message (these are never enqueued by a
            # job that could run twice).
            key=f"admin:{recipient.lower()}:{kind.value}:{secrets.token_hex(8)}",
            kind=kind,
            cycle_id=None,
            invitation_id=None,
            recipient=recipient,
            rendered=rendered,
            due_at=now or utcnow(),
        )
    )
    session.add(message)
    session.flush()
    return message


def enqueue_report_email_again(
    session: Session, cycle: Cycle, recipient: str, *, now: datetime | None = None
) -> OutboxMessage:
    """The cycle's report email once more to one of its recipients, as the next sequence, so
    that it carries a new read-only link (one was withdrawn, or has expired). The words are the
    ones first sent (the stored body, with the link's placeholder). Flushes."""
    wanted = recipient.strip().lower()
    if wanted not in {r.lower() for r in cycle.report_recipient_list}:
        raise UserError(f"{recipient} is not a report recipient of cycle {cycle.id}")
    if cycle.state != CycleState.REPORTED:
        raise UserError(f"cycle {cycle.id} has not been reported yet: its report email is not sent")
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.cycle_id == cycle.id, OutboxMessage.kind == MessageKind.REPORT)
        .order_by(OutboxMessage.id)
    ).all()
    first = next((row for row in rows if LINK_PLACEHOLDER in row.body_text), None)
    if first is None:
        raise UserError(f"cycle {cycle.id}'s report email has no place for a link")
    prefix = report_key(cycle.id, wanted, 0).rpartition(":")[0] + ":"
    sequence = 1 + sum(1 for row in rows if row.dedupe_key.startswith(prefix))
    message = OutboxMessage(
        **_row(
            key=report_key(cycle.id, wanted, sequence),
            kind=MessageKind.REPORT,
            cycle_id=cycle.id,
            invitation_id=None,
            recipient=next(r for r in cycle.report_recipient_list if r.lower() == wanted),
            rendered=RenderedEmail(first.subject, first.body_text, first.body_html),
            due_at=now or utcnow(),
        )
    )
    session.add(message)
    session.flush()
    return message


def send_report_link_again(
    session: Session, cycle: Cycle, link_id: int, actor: str, *, now: datetime | None = None
) -> ReportLink:
    """Email the report again to the recipient of one of the cycle's read-only links, carrying a
    new link of their own (audited). Returns the link it replaces."""
    link = get_report_link(session, cycle, link_id)
    enqueue_report_email_again(session, cycle, link.recipient, now=now)
    record_event(session, actor, "report-link.send-new", cycle=cycle, detail=link.recipient)
    return link


def forget_links_and_waiting_mail(session: Session, invitation: Invitation, reason: str) -> None:
    """The links emailed to this invitation stop working and its emails still waiting are not
    sent (an address corrected: whoever received the old one must not answer as this person)."""
    session.execute(delete(InvitationLink).where(InvitationLink.invitation_id == invitation.id))
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.invitation_id == invitation.id,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(
            status=OutboxStatus.CANCELLED, last_error=reason, claim_token=None, claimed_until=None
        )
        .execution_options(synchronize_session=False)
    )


def enqueue_notice(
    session: Session,
    kind: MessageKind,
    key: str,
    recipient: str,
    rendered: RenderedEmail,
    *,
    now: datetime | None = None,
) -> int:
    """A plain notice to an admin (no link minted when sent, such as a set's invitation), once
    per `key`: returns how many rows were added (0 if that key was queued already)."""
    if kind in ADMIN_LINK_KINDS or kind in (MessageKind.INVITATION, MessageKind.REMINDER):
        raise ValueError(f"{kind.value} is not a notice")
    row = _row(
        key=key,
        kind=kind,
        cycle_id=None,
        invitation_id=None,
        recipient=recipient,
        rendered=rendered,
        due_at=now or utcnow(),
    )
    return _insert_new(session, [row])
