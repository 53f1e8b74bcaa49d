"""Single-use links emailed to admins: sign in (`admin-login`), reset a password
(`password-reset`), accept an invitation to a trust (`admin-invite`).

A link is `<BASE_URL>/admin/.../<token>` with a random 256-bit token. Only the token's SHA-256 is
stored (`admin_links`), like an admin session's, and the link is minted by the mail dispatcher
when it sends the email (survey/mail/dispatch.py), never when the email is queued: the outbox
holds a placeholder, so no copy of the database, its WAL or its dumps holds a usable link. Using
a link deletes its row in the same statement that finds it (DELETE ... RETURNING), so two clicks
racing each other cannot both use it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from survey.models import AdminLink, AdminLinkPurpose, AdminUser
from survey.signing import token_hash
from survey.templating import counted
from survey.timeutil import as_utc, utcnow
from survey.urls import external_url

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100
# How long each kind of link works once it is sent.
LIFETIMES: dict[AdminLinkPurpose, timedelta] = {
    AdminLinkPurpose.SIGN_IN: timedelta(minutes=15),
    AdminLinkPurpose.PASSWORD_RESET: timedelta(minutes=30),
    AdminLinkPurpose.INVITE: timedelta(days=7),
}
# The page each kind of link opens.
ENDPOINTS: dict[AdminLinkPurpose, str] = {
    AdminLinkPurpose.SIGN_IN: "admin.link_sign_in",
    AdminLinkPurpose.PASSWORD_RESET: "admin.set_password",
    AdminLinkPurpose.INVITE: "admin.set_password",
}


def lifetime_text(purpose: AdminLinkPurpose) -> str:
    """The link's lifetime in words, for the email that carries it."""
    minutes = int(LIFETIMES[purpose].total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return counted(days, "day")
    return f"{minutes} minutes"


def _usable(token: object) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_LENGTH


def mint_admin_link(
    session: Session, admin: AdminUser, purpose: AdminLinkPurpose, now: datetime | None = None
) -> str:
    """A new link for `admin` (flushed: it works once the caller commits), valid from `now` for
    the purpose's lifetime. Expired links of every account are deleted on the way."""
    now = now or utcnow()
    session.execute(delete(AdminLink).where(AdminLink.expires_at <= now))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        AdminLink(
            token_hash=token_hash(token),
            admin_id=admin.id,
            purpose=purpose,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    session.flush()
    return external_url(ENDPOINTS[purpose], token=token)


def find_admin_link(
    session: Session,
    token: object,
    purposes: tuple[AdminLinkPurpose, ...],
    now: datetime | None = None,
) -> AdminLink | None:
    """The unexpired, unused link of one of these purposes, for an active account; None for
    any other token. Only reads (the page that asks "sign in?" before the link is used)."""
    if not _usable(token):
        return None
    assert isinstance(token, str)
    link = session.get(AdminLink, token_hash(token))
    if link is None or link.purpose not in purposes:
        return None
    if as_utc(link.expires_at) <= (now or utcnow()) or not link.admin.is_active:
        return None
    return link


def use_admin_link(
    session: Session,
    token: object,
    purposes: tuple[AdminLinkPurpose, ...],
    now: datetime | None = None,
) -> tuple[AdminUser, AdminLinkPurpose] | None:
    """Use the link: its row is deleted (single use) and its account and purpose returned; None
    if it is unknown, used, expired, of another purpose or for an account no longer active."""
    if not _usable(token):
        return None
    assert isinstance(token, str)
    row = session.execute(
        delete(AdminLink)
        .where(AdminLink.token_hash == token_hash(token), AdminLink.purpose.in_(purposes))
        .returning(AdminLink.admin_id, AdminLink.purpose, AdminLink.expires_at)
    ).first()
    if row is None:
        return None
    admin_id, purpose, expires_at = row
    if as_utc(expires_at) <= (now or utcnow()):
        return None  # expired: the row is gone all the same
    admin = session.get(AdminUser, admin_id)
    if admin is None or not admin.is_active:
        return None
    return admin, AdminLinkPurpose(purpose)


def find_admin_by_address(session: Session, address: str) -> AdminUser | None:
    """The account an admin email was queued for (addresses match case-insensitively)."""
    # Fresh from the database: the dispatcher's session lives for a whole run, and the account
    # may have been deactivated since it began.
    return session.scalar(
        select(AdminUser)
        .where(func.lower(AdminUser.email) == address.strip().lower())
        .execution_options(populate_existing=True)
    )


def end_admin_links(
    session: Session, admin: AdminUser, purposes: tuple[AdminLinkPurpose, ...]
) -> None:
    """Every outstanding link of these purposes for this account stops working."""
    session.execute(
        delete(AdminLink).where(AdminLink.admin_id == admin.id, AdminLink.purpose.in_(purposes))
    )
