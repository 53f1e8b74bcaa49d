"""The outbox (SPEC section 7): every email is a row first, and is sent from there.

Enqueueing: each row has a `dedupe_key` unique per (cycle, invitation or recipient, kind,
sequence), and rows are inserted with ON CONFLICT DO NOTHING, so running any job twice, or two
jobs at once, enqueues nothing twice. Each row gets one `Message-ID` when it is enqueued, so a
copy delivered twice (a crash between handing it to the server and recording that) carries the
same Message-ID and is recognisable as a duplicate. Enqueue functions flush and never commit.

Dispatching (`dispatch`) is the one exception to "services never commit": it commits per
message, so a crash loses nothing and repeats at most the one message in flight.

1. Claim a batch of due rows in a short transaction: PostgreSQL `SELECT ... FOR UPDATE SKIP
   LOCKED`, so two dispatchers never take the same rows; SQLite transactions take the write lock
   up front (`BEGIN IMMEDIATE`, see survey/db.py), so claims are serialised. A claim is a random
   `claim_token` plus `claimed_until`; a crashed dispatcher's claim simply lapses.
2. Per row: check the claim is still ours and extend it, check the message still applies
   (a reminder to someone who has since answered is cancelled), mint the personal link, commit.
3. Hand the message to the server (no transaction open, so SQLite's write lock is free).
4. Record the outcome and commit: sent (and on the invitation `sent_at`, `delivery_status`);
   a temporary failure is retried with exponential backoff and jitter up to `MAIL_MAX_ATTEMPTS`;
   a permanent one (5xx) is marked failed with the server's reply, also on the invitation.

Sending is paced at `MAIL_RATE_PER_MINUTE` (0 = no limit) over one connection.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError

from survey.errors import UserError
from survey.mail.messages import (
    Attachment,
    InvitationRenderer,
    RenderedEmail,
    build_email,
    fill_link,
    new_message_id,
)
from survey.mail.transport import (
    ConnectionFailure,
    DeliveryFailure,
    PermanentFailure,
    transport_from_config,
)
from survey.models import (
    Cycle,
    CycleState,
    DeliveryStatus,
    Invitation,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Report,
)
from survey.services.links import mint_link
from survey.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from survey.reports.compile import CycleReport

log = logging.getLogger(__name__)

REPORT_ATTACHMENTS = ("report.pdf", "results.xlsx")
MAX_BACKOFF = timedelta(hours=6)
PERSONAL_KINDS = (MessageKind.INVITATION, MessageKind.REMINDER)


def invitation_key(cycle_id: int, invitation_id: int, sequence: int) -> str:
    return f"{cycle_id}:inv{invitation_id}:invitation:{sequence}"


def reminder_key(cycle_id: int, invitation_id: int, sequence: str) -> str:
    return f"{cycle_id}:inv{invitation_id}:reminder:{sequence}"


def report_key(cycle_id: int, recipient: str) -> str:
    return f"{cycle_id}:report:{recipient.lower()}:1"


# -- enqueueing ---------------------------------------------------------------------------------


def _row(
    *,
    key: str,
    kind: MessageKind,
    cycle_id: int,
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
        "message_id": new_message_id(current_app.config["MAIL_FROM"]),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": due_at,
        "created_at": utcnow(),
    }


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose dedupe_key is new; returns how many were inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    inserted = 0
    for start in range(0, len(rows), 500):
        inserted += len(session.execute(stmt, rows[start : start + 500]).all())
    return inserted


def _has_message(kind: MessageKind) -> Any:
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
            Invitation.is_purged.is_(False),
            Invitation.is_declined.is_(False),
            Invitation.is_completed.is_(False),
            Invitation.email.is_not(None),
            ~_has_message(MessageKind.INVITATION),
        )
        .order_by(Invitation.id)
    ).all()
    if not invitations:
        return 0
    # Due from the moment the cycle opened: a row enqueued by a job running "as of" a given time
    # is due at that time, whatever the wall clock says.
    due_at = now or cycle.opened_at or utcnow()
    renderer = InvitationRenderer(session, cycle)
    rows = [
        _row(
            key=invitation_key(cycle.id, inv.id, 1),
            kind=MessageKind.INVITATION,
            cycle_id=cycle.id,
            invitation_id=inv.id,
            recipient=str(inv.email),
            rendered=renderer.invitation(inv),
            due_at=due_at,
        )
        for inv in invitations
    ]
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
    if cycle.state != CycleState.OPEN:
        raise UserError(f"cannot resend: cycle {cycle.id} is {cycle.state.value}, not open")
    if locked.is_purged or not locked.email:
        raise UserError("cannot resend: this invitation's personal data has been removed")
    if locked.is_completed or locked.is_declined:
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
            recipient=locked.email,
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
            Invitation.is_purged.is_(False),
            Invitation.is_declined.is_(False),
            Invitation.is_completed.is_(False),
            Invitation.delivery_status == DeliveryStatus.SENT,
            Invitation.sent_at <= (invited_before or moment),
            Invitation.email.is_not(None),
        )
        .order_by(Invitation.id)
    ).all()
    invitations = [
        inv for inv in candidates if reminder_key(cycle.id, inv.id, sequence) not in already
    ]
    if not invitations:
        return 0
    renderer = InvitationRenderer(session, cycle)
    rows = [
        _row(
            key=reminder_key(cycle.id, inv.id, sequence),
            kind=MessageKind.REMINDER,
            cycle_id=cycle.id,
            invitation_id=inv.id,
            recipient=str(inv.email),
            rendered=renderer.reminder(inv),
            due_at=moment,
        )
        for inv in invitations
    ]
    return _insert_new(session, rows)


def enqueue_report_emails(
    session: Session,
    cycle: Cycle,
    report: Report,
    *,
    now: datetime | None = None,
    compiled: CycleReport | None = None,
) -> int:
    """One `report` row per report recipient (the files are attached at send time).
    `compiled`: the figures the report was rendered from, if the caller has them."""
    from survey.reports.email import render_report_email

    recipients = cycle.report_recipient_list
    if not recipients:
        return 0
    subject, text, html_body = render_report_email(
        session, cycle, report, report_url=_report_page_url(cycle), compiled=compiled
    )
    rendered = RenderedEmail(subject=subject, text=text, html=html_body)
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


def _report_page_url(cycle: Cycle) -> str | None:
    """The admin page of the cycle's report, from BASE_URL (never from a request's Host)."""
    try:
        path = current_app.url_map.bind("").build("admin.report", {"cycle_id": cycle.id})
    except BuildError:
        return None
    return f"{current_app.config['BASE_URL']}{path}"


# -- dispatching --------------------------------------------------------------------------------


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, retried {self.retried}, failed {self.failed}, "
            f"cancelled {self.cancelled}"
        )


class _Pacer:
    """Spaces sends `60 / rate` seconds apart, across dispatch calls within one process."""

    _lock = threading.Lock()
    _last = 0.0

    def __init__(self, per_minute: float, stop: threading.Event | None):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.stop = stop

    def wait(self) -> None:
        if not self.interval:
            return
        with _Pacer._lock:
            delay = _Pacer._last + self.interval - time.monotonic()
            if delay > 0:
                if self.stop is not None:
                    self.stop.wait(delay)
                else:
                    time.sleep(delay)
            _Pacer._last = time.monotonic()


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """Exponential backoff with jitter: base, 2 x base, 4 x base, ... (capped), each +0-25%."""
    delay = min(base_seconds * 2 ** max(attempts - 1, 0), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=delay * (1 + random.uniform(0, 0.25)))


def dispatch(
    session: Session,
    now: datetime | None = None,
    limit: int | None = None,
    *,
    stop: threading.Event | None = None,
) -> DispatchResult:
    """Send due outbox rows; commits per message (see the module docstring).

    `now` is the time the run starts at (the wall clock by default); it then runs on at real
    speed, so claims and backoff stay right during a long, rate-limited run. `limit` caps how many
    rows are taken; `stop` ends the run after the message in hand.
    """
    config = current_app.config
    started, origin = time.monotonic(), as_utc(now) if now is not None else utcnow()

    def clock() -> datetime:
        return origin + timedelta(seconds=time.monotonic() - started)

    session.commit()  # start from a clean slate: claims must be committed on their own
    rate = float(config.get("MAIL_RATE_PER_MINUTE") or 0)
    pacer = _Pacer(rate, stop)
    batch_size = max(int(config.get("MAIL_BATCH_SIZE") or 50), 1)
    lease = timedelta(seconds=float(config.get("MAIL_CLAIM_SECONDS") or 300))
    result = DispatchResult()
    remaining = limit
    transport = transport_from_config(config)
    with transport.connect() as connection:
        while remaining is None or remaining > 0:
            if stop is not None and stop.is_set():
                break
            size = batch_size if remaining is None else min(batch_size, remaining)
            token = secrets.token_hex(16)
            ids = _claim(
                session, clock(), size, lease + timedelta(seconds=size * pacer.interval), token
            )
            if not ids:
                break
            if remaining is not None:
                remaining -= len(ids)
            try:
                for position, row_id in enumerate(ids):
                    if stop is not None and stop.is_set():
                        break
                    outcome = _dispatch_one(
                        session, connection, row_id, token, clock, lease, pacer, result
                    )
                    if outcome == "unreachable":
                        log.warning(
                            "mail server unreachable; %d message(s) wait for the next run",
                            len(ids) - position - 1,
                        )
                        return result
            finally:
                _release(session, ids, token)
    return result


def _claim(session: Session, at: datetime, size: int, lease: timedelta, token: str) -> list[int]:
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= at,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < at),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(claim_token=token, claimed_until=at + lease)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return ids


def _release(session: Session, ids: list[int], token: str) -> None:
    """Give back rows this run claimed but did not finish (stopped, or the server went away)."""
    session.rollback()
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.claim_token == token,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _dispatch_one(
    session: Session,
    connection: Any,
    row_id: int,
    token: str,
    clock: Any,
    lease: timedelta,
    pacer: _Pacer,
    result: DispatchResult,
) -> str:
    """Prepare, send and record one row; returns what happened."""
    try:
        prepared = _prepare(session, row_id, token, clock(), lease)
    except Exception as exc:  # a bug or bad data in one row must not block the others
        session.rollback()
        log.exception("outbox row %s could not be prepared", row_id)
        outcome = _record_failure(
            session, row_id, f"could not be prepared: {type(exc).__name__}", clock()
        )
        if outcome == "failed":
            result.failed += 1
        else:
            result.retried += 1
        return outcome
    if prepared is None:
        return "lost"
    if isinstance(prepared, str):
        result.cancelled += 1
        return "cancelled"
    message, recipient, kind, invitation_id = prepared
    pacer.wait()
    try:
        connection.send(message, recipient)
    except DeliveryFailure as failure:
        outcome = _record_failure(
            session,
            row_id,
            failure.reason,
            clock(),
            permanent=isinstance(failure, PermanentFailure),
        )
        if outcome == "failed":
            result.failed += 1
        else:
            result.retried += 1
        if isinstance(failure, ConnectionFailure):
            log.warning("cannot deliver mail: %s", failure.reason)
            return "unreachable"
        return outcome
    _record_sent(session, row_id, kind, invitation_id, clock())
    result.sent += 1
    return "sent"


def _cancel_reason(session: Session, row: OutboxMessage) -> str | None:
    """Why a row should no longer be sent, if it should not."""
    if not row.recipient:
        return "no recipient (personal data removed)"
    if row.kind not in PERSONAL_KINDS:
        return None
    # Fresh from the database: the session lives for the whole run and its objects may be stale
    # (someone may have answered, declined or closed the cycle since the run began).
    invitation = (
        session.get(Invitation, row.invitation_id, populate_existing=True)
        if row.invitation_id
        else None
    )
    if invitation is None:
        return "the invitation no longer exists"
    cycle = session.get(Cycle, invitation.cycle_id, populate_existing=True)
    if cycle is None:
        return "the cycle no longer exists"
    if cycle.state != CycleState.OPEN:
        return f"the cycle is {cycle.state.value}"
    if invitation.is_purged:
        return "personal data removed"
    if invitation.is_completed:
        return "already completed"
    if invitation.is_declined:
        return "declined"
    if row.kind == MessageKind.REMINDER and invitation.delivery_status == DeliveryStatus.FAILED:
        return "an earlier email to this address failed"
    return None


def _prepare(
    session: Session, row_id: int, token: str, at: datetime, lease: timedelta
) -> tuple[EmailMessage, str, MessageKind, int | None] | str | None:
    """In one committed transaction: confirm and extend our claim, then either cancel the row
    (returns the reason) or mint its link and build the message. None if the claim was lost."""
    renewed = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.claim_token == token,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .values(claimed_until=at + lease)
        .execution_options(synchronize_session=False)
    )
    if getattr(renewed, "rowcount", 0) != 1:
        session.rollback()
        return None
    row = session.get(OutboxMessage, row_id, populate_existing=True)
    assert row is not None
    reason = _cancel_reason(session, row)
    if reason is not None:
        row.status = OutboxStatus.CANCELLED
        row.last_error = reason
        row.claim_token, row.claimed_until = None, None
        session.commit()
        return reason
    text, html_body = row.body_text, row.body_html
    attachments: list[Attachment] = []
    if row.kind in PERSONAL_KINDS:
        invitation = session.get(Invitation, row.invitation_id)
        assert invitation is not None
        text, html_body = fill_link(text, html_body, mint_link(session, invitation))
    elif row.kind == MessageKind.REPORT:
        attachments = _report_attachments(session, row)
    message = build_email(
        sender=current_app.config["MAIL_FROM"],
        recipient=str(row.recipient),
        subject=row.subject,
        text=text,
        html_body=html_body,
        message_id=row.message_id,
        attachments=attachments,
    )
    recipient = str(row.recipient)
    # The link's hash is committed before sending, so a link in a delivered email always works,
    # even if this process dies before recording the delivery.
    session.commit()
    return message, recipient, row.kind, row.invitation_id


def _report_attachments(session: Session, row: OutboxMessage) -> list[Attachment]:
    report = session.scalar(select(Report).where(Report.cycle_id == row.cycle_id))
    if report is None:
        return []
    files = []
    for name in REPORT_ATTACHMENTS:
        stored = report.file(name)
        if stored is None:
            log.warning("report of cycle %s has no %s to attach", row.cycle_id, name)
            continue
        files.append(Attachment(stored.name, stored.content_type, stored.content))
    return files


def _record_sent(
    session: Session, row_id: int, kind: MessageKind, invitation_id: int | None, at: datetime
) -> None:
    """Plain UPDATEs, no reloads: the row is ours, and counters go up atomically."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(
            status=OutboxStatus.SENT,
            sent_at=at,
            attempts=OutboxMessage.attempts + 1,
            last_error=None,
            claim_token=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if kind in PERSONAL_KINDS and invitation_id is not None:
        values: dict[str, Any] = {
            "delivery_status": DeliveryStatus.SENT,
            "delivery_error": None,
        }
        if kind == MessageKind.INVITATION:
            values["sent_at"] = at
        else:
            values["sent_at"] = func.coalesce(Invitation.sent_at, at)
            values["reminders_sent"] = Invitation.reminders_sent + 1
        session.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if session.get_bind().dialect.name == "postgresql":
        # Recording a delivery need not wait for the disk: if the database server itself crashed
        # before this commit reached it, the message would be sent once more with its same
        # Message-ID (at least once, never lost). The link's hash, committed before sending,
        # still waits for the disk, so a delivered link always works.
        session.execute(sql_text("SET LOCAL synchronous_commit TO OFF"))
    session.commit()


def _record_failure(
    session: Session, row_id: int, reason: str, at: datetime, *, permanent: bool = False
) -> str:
    """Schedule a retry, or mark the row (and its invitation) failed; returns which."""
    row = session.get(OutboxMessage, row_id, populate_existing=True)
    assert row is not None
    config = current_app.config
    row.attempts += 1
    row.last_error = reason
    row.claim_token, row.claimed_until = None, None
    max_attempts = int(config.get("MAIL_MAX_ATTEMPTS") or 8)
    if not permanent and row.attempts < max_attempts:
        row.next_attempt_at = at + backoff(
            row.attempts, float(config.get("MAIL_RETRY_SECONDS") or 120)
        )
        session.commit()
        return "retried"
    row.status = OutboxStatus.FAILED
    if row.kind in PERSONAL_KINDS and row.invitation_id is not None:
        invitation = session.get(Invitation, row.invitation_id)
        if invitation is not None:
            invitation.delivery_status = DeliveryStatus.FAILED
            invitation.delivery_error = reason
    session.commit()
    log.warning("outbox row %s failed after %d attempt(s): %s", row_id, row.attempts, reason)
    return "failed"
