"""Report recipients' personal read-only links to the web report (SPEC sections 7 and 9).

A link is `<BASE_URL>/r/<token>`: the token is an itsdangerous URL-safe signature over a random
128-bit nonce, with a salt of its own (so an invitation token is never a report token, nor the
other way round). The database keeps only the SHA-256 of the nonce (`report_links`), so a copy of
the database cannot produce a working link, and the outbox stores the report email with a
placeholder: the dispatcher mints the link when it sends (survey/mail/dispatch.py).

A link opens its own cycle's report and files and nothing else. It works for `REPORT_LINK_DAYS`
(90) days from issue; the CEO may renew it (another 90 days from then) or revoke it. Issuing,
renewing, revoking and every use are audited, naming the recipient and never a respondent.
Keys in `SECRET_KEY_FALLBACKS` still verify after a key rotation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import NotFound, UserError
from survey.models import Cycle, ReportLink
from survey.services.audit import record_event
from survey.signing import signing_keys, token_hash
from survey.timeutil import as_utc, utcnow
from survey.urls import external_url

REPORT_LINK_SALT = "mat-review.report-link.v1"
REPORT_LINK_DAYS = 90
MAX_TOKEN_LENGTH = 200
# The audit actor when the dispatcher issues a link as it sends the report email.
MAILER = "mailer"


def _serializer() -> URLSafeSerializer:
    # Not timed: a link's expiry is its row's, so it can be renewed and revoked.
    return URLSafeSerializer(signing_keys(), salt=REPORT_LINK_SALT)


LIFETIME = timedelta(days=REPORT_LINK_DAYS)


def issue_report_link(
    session: Session, cycle: Cycle, recipient: str, actor: str, *, now: datetime | None = None
) -> tuple[ReportLink, str]:
    """A new link for `recipient` (flushed, audited); returns the row and its address. The
    address exists only in what this returns: it is not stored."""
    now = now or utcnow()
    nonce = secrets.token_urlsafe(16)  # 128 bits
    link = ReportLink(
        cycle_id=cycle.id,
        recipient=recipient.strip(),
        nonce_hash=token_hash(nonce),
        issued_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(link)
    session.flush()
    record_event(
        session, actor, "report-link.issue", cycle=cycle, detail=f"link {link.id} for {recipient}"
    )
    return link, external_url("reader.report", token=_serializer().dumps(nonce))


@dataclass(frozen=True)
class ReportLinkCheck:
    link: ReportLink | None
    reason: str  # "ok", "invalid", "revoked", "expired"

    @property
    def is_ok(self) -> bool:
        return self.link is not None and self.reason == "ok"


def resolve_report_token(
    session: Session, token: str, *, now: datetime | None = None
) -> ReportLinkCheck:
    """The link a token belongs to, and whether it still works. Never raises for a bad token."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return ReportLinkCheck(None, "invalid")
    try:
        nonce = _serializer().loads(token)
    except BadSignature:
        return ReportLinkCheck(None, "invalid")
    if not isinstance(nonce, str):
        return ReportLinkCheck(None, "invalid")
    link = session.scalar(select(ReportLink).where(ReportLink.nonce_hash == token_hash(nonce)))
    if link is None:
        return ReportLinkCheck(None, "invalid")
    if link.revoked_at is not None:
        return ReportLinkCheck(link, "revoked")
    if not link.is_valid(now or utcnow()):
        return ReportLinkCheck(link, "expired")
    return ReportLinkCheck(link, "ok")


def record_use(
    session: Session, link: ReportLink, what: str, *, now: datetime | None = None
) -> None:
    """Audit one use of a link (`what`: the page or a file's name)."""
    link.last_used_at = now or utcnow()
    record_event(
        session,
        f"link {link.id} ({link.recipient})",
        "report-link.use",
        cycle=link.cycle,
        detail=what,
    )


def list_report_links(session: Session, cycle: Cycle) -> list[ReportLink]:
    return list(
        session.scalars(
            select(ReportLink)
            .where(ReportLink.cycle_id == cycle.id)
            .order_by(ReportLink.recipient, ReportLink.id)
        )
    )


def get_report_link(session: Session, cycle: Cycle, link_id: int) -> ReportLink:
    """One of the cycle's links, locked for a change (NotFound: another cycle's, or none)."""
    link = session.scalar(
        select(ReportLink)
        .where(ReportLink.id == link_id, ReportLink.cycle_id == cycle.id)
        .with_for_update()
    )
    if link is None:
        raise NotFound(f"this cycle has no report link {link_id}")
    return link


def revoke_report_link(
    session: Session, cycle: Cycle, link_id: int, actor: str, *, now: datetime | None = None
) -> ReportLink:
    """Stop a link working, for good (a new email brings a new link). Flushes."""
    link = get_report_link(session, cycle, link_id)
    if link.revoked_at is not None:
        raise UserError(f"the report link {link.id} for {link.recipient} is already revoked")
    link.revoked_at = now or utcnow()
    session.flush()
    detail = f"link {link.id} for {link.recipient}"
    record_event(session, actor, "report-link.revoke", cycle=cycle, detail=detail)
    return link


def renew_report_link(
    session: Session, cycle: Cycle, link_id: int, actor: str, *, now: datetime | None = None
) -> ReportLink:
    """Make a link work for another `REPORT_LINK_DAYS` days from now (the recipient keeps the
    address they have). A revoked link stays revoked. Flushes."""
    link = get_report_link(session, cycle, link_id)
    if link.revoked_at is not None:
        raise UserError(f"the report link {link.id} for {link.recipient} is revoked")
    now = now or utcnow()
    link.expires_at = max(as_utc(link.expires_at), now + LIFETIME)
    session.flush()
    record_event(
        session,
        actor,
        "report-link.renew",
        cycle=cycle,
        detail=f"link {link.id} for {link.recipient}, until {link.expires_at:%Y-%m-%d}",
    )
    return link
