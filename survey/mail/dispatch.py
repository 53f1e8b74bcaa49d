"""Dispatching the outbox (SPEC section 7): claim due rows, send them, record the outcome.

Dispatching (`dispatch`) is the one exception to "services never commit": it commits per
message, so a crash loses nothing and repeats at most the one message in flight. It does so in
sessions of its own: the caller's session only names the database, and must have no
transaction open (its work is never committed or rolled back here).

0. A run whose caller holds the scheduler lock (`is_exclusive`: no other dispatcher can be
   running) first releases every claim: they were left by a run that died or failed, and would
   otherwise hold their rows until the claims lapse.
1. Claim a batch of due rows in a short transaction: PostgreSQL `SELECT ... FOR UPDATE SKIP
   LOCKED`, so two dispatchers never take the same rows; SQLite transactions take the write lock
   up front (`BEGIN IMMEDIATE`, see survey/db.py), so claims are serialised. A claim is a random
   `claim_token` plus `claimed_until`; a claim nobody releases lapses after `MAIL_CLAIM_SECONDS`.
2. Per row: check the claim is still ours and extend it, check the message still applies
   (a reminder to someone who has since answered is cancelled), mint the personal link (or an
   admin email's single-use link, survey/services/admin_links.py, or a report email's read-only
   link to the web report, survey/services/report_links.py), commit.
3. Hand the message to the server (no transaction open, so SQLite's write lock is free), by a
   deadline: `MAIL_MESSAGE_SECONDS` for the message, and never past the run's own deadline
   (`MAIL_RUN_SECONDS`). The transport enforces it whatever the server does (see
   survey/mail/transport.py). When the run's deadline comes, it takes no more messages.
4. Record the outcome and commit: sent (and on the invitation `sent_at`, `delivery_status`);
   a temporary failure (4xx, a dropped or too slow connection, a full disk) is retried with
   exponential backoff and jitter, capped at `MAIL_RETRY_MAX_SECONDS`: invitations and reminders
   up to `MAIL_MAX_ATTEMPTS`, the kinds a person is waiting for (`WAITED_FOR_KINDS`: the report,
   a sign-in link) for as long as it takes. A permanent failure (5xx) is marked failed with the
   server's reply, also on the invitation; the CEO may resend a report email that failed.
5. `stop` (the scheduler is stopping) ends the run at once. A send under way is cut off and its
   message put back untouched (no attempt counted), so a later run sends it once more, with the
   same Message-ID: the server may or may not have kept the copy that was cut off.

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
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from survey.config import get_settings
from survey.mail.messages import (
    LINK_PLACEHOLDER,
    Attachment,
    build_email,
    fill_link,
    sender_header,
)
from survey.mail.outbox import ADMIN_LINK_KINDS
from survey.mail.transport import (
    ConnectionFailure,
    DeliveryFailure,
    PermanentFailure,
    SendAbandoned,
    transport_from_config,
)
from survey.models import (
    AdminLinkPurpose,
    Cycle,
    CycleState,
    DeliveryStatus,
    Invitation,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Report,
)
from survey.services.admin_links import find_admin_by_address, mint_admin_link
from survey.services.links import mint_link
from survey.services.report_links import MAILER, issue_report_link
from survey.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

REPORT_ATTACHMENTS = ("report.pdf", "results.xlsx")
PERSONAL_KINDS = (MessageKind.INVITATION, MessageKind.REMINDER)
# Kinds someone is waiting for: a temporary failure never gives up on them (only a 5xx does).
WAITED_FOR_KINDS = (MessageKind.REPORT, *ADMIN_LINK_KINDS)
# The single-use link each admin email carries, minted when it is sent.
ADMIN_LINK_PURPOSES = {
    MessageKind.ADMIN_LOGIN: AdminLinkPurpose.SIGN_IN,
    MessageKind.ADMIN_INVITE: AdminLinkPurpose.INVITE,
    MessageKind.PASSWORD_RESET: AdminLinkPurpose.PASSWORD_RESET,
}


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


def backoff(attempts: int, base_seconds: float, cap_seconds: float) -> timedelta:
    """Exponential backoff with jitter: base, 2 x base, 4 x base, ... up to the cap, each +0-25%."""
    delay = min(base_seconds * 2 ** min(max(attempts - 1, 0), 30), cap_seconds)
    return timedelta(seconds=delay * (1 + random.uniform(0, 0.25)))


@dataclass(frozen=True)
class _Limits:
    """The time limits of one run, on the monotonic clock."""

    run_deadline: float
    message_seconds: float

    def message_deadline(self) -> float:
        return min(time.monotonic() + self.message_seconds, self.run_deadline)

    @property
    def is_over(self) -> bool:
        return time.monotonic() >= self.run_deadline


def dispatch(
    session: Session,
    now: datetime | None = None,
    limit: int | None = None,
    *,
    stop: threading.Event | None = None,
    is_exclusive: bool = False,
) -> DispatchResult:
    """Send due outbox rows; commits per message (see the module docstring), in a session of its
    own on `session`'s database. The caller's session is never committed or rolled back here, and
    must have no transaction open: its work is the caller's to commit first (on SQLite, an open
    transaction would also hold the write lock the dispatcher needs).

    `now` is the time the run starts at (the wall clock by default); it then runs on at real
    speed, so claims and backoff stay right during a long, rate-limited run. `limit` caps how many
    rows are taken; `stop` ends the run at once (a send under way is cut off and put back).
    `is_exclusive`: the caller guarantees no other dispatcher is running (it holds the scheduler
    lock), so claims found at the start are left over from a dead or failed run and are released.
    """
    if session.in_transaction():
        raise RuntimeError(
            "dispatch() sends in a session of its own: commit or roll back the caller's work first"
        )
    with Session(bind=session.get_bind(), expire_on_commit=False) as own:
        return _dispatch_run(own, now, limit, stop, is_exclusive)


def _dispatch_run(
    session: Session,
    now: datetime | None,
    limit: int | None,
    stop: threading.Event | None,
    is_exclusive: bool,
) -> DispatchResult:
    settings = get_settings()
    started, origin = time.monotonic(), as_utc(now) if now is not None else utcnow()

    def clock() -> datetime:
        return origin + timedelta(seconds=time.monotonic() - started)

    if is_exclusive:
        released = release_claims(session)
        if released:
            log.info("released %d claim(s) left by an earlier dispatcher run", released)
    pacer = _Pacer(settings.mail_rate_per_minute, stop)
    batch_size = settings.mail_batch_size
    lease = timedelta(seconds=settings.mail_claim_seconds)
    limits = _Limits(
        run_deadline=started + settings.mail_run_seconds,
        message_seconds=settings.mail_message_seconds,
    )
    result = DispatchResult()
    remaining = limit
    transport = transport_from_config(settings)
    with transport.connect(stop) as connection:
        while remaining is None or remaining > 0:
            if (stop is not None and stop.is_set()) or limits.is_over:
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
                    if limits.is_over:
                        log.warning(
                            "dispatch run reached its %gs limit; %d message(s) wait for the "
                            "next run",
                            limits.run_deadline - started,
                            len(ids) - position,
                        )
                        return result
                    outcome = _dispatch_one(
                        session, connection, row_id, token, clock, lease, pacer, limits, result
                    )
                    if outcome == "unreachable":
                        log.warning(
                            "mail cannot be handed over; %d message(s) wait for the next run",
                            len(ids) - position - 1,
                        )
                        return result
                    if outcome == "abandoned":
                        return result
            finally:
                _release(session, ids, token)
    return result


def release_claims(session: Session) -> int:
    """Release every claim on a pending row; returns how many. Only for a caller that knows no
    other dispatcher is running (see `dispatch`'s `is_exclusive`)."""
    released = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.claim_token.is_not(None))
        .values(claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(getattr(released, "rowcount", 0) or 0)


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
    limits: _Limits,
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
    if pacer.stop is not None and pacer.stop.is_set():
        return "abandoned"  # not sent; `dispatch` releases the claim
    try:
        connection.send(message, recipient, deadline=limits.message_deadline())
    except SendAbandoned as abandoned:
        # Cut off mid-send because we are stopping: the row is released as it was (no attempt
        # counted), so a later run sends it once more with its same Message-ID.
        log.warning("outbox row %s put back unsent: %s", row_id, abandoned.reason)
        return "abandoned"
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
    if row.kind in ADMIN_LINK_KINDS:
        admin = find_admin_by_address(session, row.recipient)
        return None if admin is not None and admin.is_active else "no active account"
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
    if invitation.email_refusal is not None:
        return invitation.email_refusal
    if row.kind == MessageKind.REMINDER and invitation.delivery_status == DeliveryStatus.FAILED:
        return "an earlier email to this address failed"
    return None


def _from_cycle(cycle: Cycle, sender: str) -> tuple[str, str]:
    """The From and Reply-To of a cycle's mail to its people: from the person the cycle names
    (replies go to them), else the service's own `sender` with no Reply-To."""
    shown = cycle.sender_display_name
    return (sender_header(sender, shown), cycle.reply_to or "") if shown else (sender, "")


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
    sender, reply_to = get_settings().mail_from, ""
    if row.kind in PERSONAL_KINDS:
        invitation = session.get(Invitation, row.invitation_id)
        assert invitation is not None
        text, html_body = fill_link(text, html_body, mint_link(session, invitation))
        sender, reply_to = _from_cycle(invitation.cycle, sender)
    elif row.kind in ADMIN_LINK_KINDS:
        # The link's 15 minutes (or its purpose's lifetime) start now, when it is sent.
        admin = find_admin_by_address(session, str(row.recipient))
        assert admin is not None
        link = mint_admin_link(session, admin, ADMIN_LINK_PURPOSES[row.kind], at)
        text, html_body = fill_link(text, html_body, link)
    elif row.kind == MessageKind.FOLLOW_UP and row.cycle_id is not None:
        # "You said, we did" comes from whoever the invitations came from.
        cycle = session.get(Cycle, row.cycle_id)
        if cycle is not None:
            sender, reply_to = _from_cycle(cycle, sender)
    elif row.kind == MessageKind.REPORT:
        attachments = _report_attachments(session, row)
        if LINK_PLACEHOLDER in text and row.cycle_id is not None:
            # The recipient's own read-only link to the web report, minted now (never stored).
            cycle = session.get(Cycle, row.cycle_id)
            assert cycle is not None
            _, link = issue_report_link(session, cycle, str(row.recipient), MAILER)
            text, html_body = fill_link(text, html_body, link)
    message = build_email(
        sender=sender,
        recipient=str(row.recipient),
        subject=row.subject,
        text=text,
        html_body=html_body,
        message_id=row.message_id,
        reply_to=reply_to,
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
    settings = get_settings()
    row.attempts += 1
    row.last_error = reason
    row.claim_token, row.claimed_until = None, None
    max_attempts = settings.mail_max_attempts
    if not permanent and (row.kind in WAITED_FOR_KINDS or row.attempts < max_attempts):
        row.next_attempt_at = at + backoff(
            row.attempts,
            settings.mail_retry_seconds,
            settings.mail_retry_max_seconds,
        )
        session.commit()
        if row.kind in WAITED_FOR_KINDS and row.attempts >= max_attempts:
            log.warning(
                "outbox row %s (%s) not yet delivered after %d attempts; still trying: %s",
                row_id,
                row.kind.value,
                row.attempts,
                reason,
            )
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
