"""Admin accounts: password hashing, signing in, sessions, and which trusts an account may see.

Passwords are hashed with werkzeug's default scheme (scrypt). A sign-in with an unknown email
still checks a password against a dummy hash, so the response time does not tell an attacker
which emails have accounts.

A signed-in session lives on the server (`admin_sessions`): the cookie holds a random token and
the database only its SHA-256. Signing out deletes the row, so a copy of the cookie stops working;
a password reset or a deactivated account ends every session of that account.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from survey.errors import NotFound, UserError
from survey.models import AdminSession, AdminUser, Cycle, Trust
from survey.services.audit import record_event
from survey.services.cycles import create_trust
from survey.signing import token_hash
from survey.timeutil import DEFAULT_TIMEZONE, as_utc, utcnow

MIN_PASSWORD_LENGTH = 10
SESSION_TOKEN_BYTES = 32  # 256 random bits per signed-in session


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def normalise_login_email(email: str) -> str:
    """Emails are matched case-insensitively: people type their address as they like."""
    return email.strip().lower()


def find_admin(session: Session, email: str) -> AdminUser | None:
    address = normalise_login_email(email)
    if not address:
        return None
    return session.scalar(select(AdminUser).where(func.lower(AdminUser.email) == address))


def authenticate(session: Session, email: str, password: str) -> AdminUser | None:
    """The active account with this email and password, or None (never says which was wrong).

    Records the sign-in (or a failed attempt on an existing account) in the audit log.
    """
    admin = find_admin(session, email)
    if admin is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(admin.password_hash, password) or not admin.is_active:
        record_event(session, admin.email, "admin.sign-in-failed")
        return None
    admin.last_login_at = utcnow()
    record_event(session, admin.email, "admin.sign-in")
    session.flush()
    return admin


# -- sessions -------------------------------------------------------------------------------------


class SessionExpired(UserError):
    """The session was signed in here but has outlived PERMANENT_SESSION_LIFETIME."""


def start_admin_session(
    session: Session, admin: AdminUser, lifetime: timedelta, now: datetime | None = None
) -> str:
    """A new server-side session for `admin`; returns the random token for the cookie (only its
    hash is stored). Expired sessions of every account are cleared out on the way."""
    now = now or utcnow()
    session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    session.add(
        AdminSession(
            token_hash=token_hash(token),
            admin_id=admin.id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def get_session_admin(
    session: Session, token: object, now: datetime | None = None
) -> AdminUser | None:
    """The admin whose session this cookie token is: None if no such session is held here (never
    started, signed out, ended by a password reset) or the account is no longer active. Only
    reads: the caller ends a refused session with `discard_admin_session`.

    Raises SessionExpired for a session past its lifetime.
    """
    if not isinstance(token, str) or not token:
        return None
    row = session.get(AdminSession, token_hash(token), options=[joinedload(AdminSession.admin)])
    if row is None:
        return None
    admin = row.admin
    if not admin.is_active:
        return None
    if as_utc(row.expires_at) <= (now or utcnow()):
        raise SessionExpired("the session has expired")
    return admin


def discard_admin_session(session: Session, token: object) -> None:
    """Delete a refused session: this token's, and every session of an account that is no longer
    active (flushed, for the caller to commit)."""
    if not isinstance(token, str) or not token:
        return
    row = session.get(AdminSession, token_hash(token), options=[joinedload(AdminSession.admin)])
    if row is None:
        return
    if not row.admin.is_active:
        end_all_admin_sessions(session, row.admin)
    else:
        session.delete(row)
    session.flush()


def end_admin_session(session: Session, token: object) -> None:
    """Sign out: the session of this cookie token stops working everywhere (no-op if unknown)."""
    if isinstance(token, str) and token:
        session.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash(token)))


def end_all_admin_sessions(session: Session, admin: AdminUser) -> int:
    """End every session of this account, wherever it is signed in; returns how many ended."""
    result = session.execute(delete(AdminSession).where(AdminSession.admin_id == admin.id))
    return int(getattr(result, "rowcount", 0) or 0)


def reset_admin_password(session: Session, admin: AdminUser, password: str, actor: str) -> int:
    """Give the account a new password and end all its open sessions; returns how many ended."""
    admin.password_hash = hash_password(password)
    ended = end_all_admin_sessions(session, admin)
    record_event(session, actor, "admin.password-reset", detail=admin.email)
    session.flush()
    return ended


# -- what an admin may see ------------------------------------------------------------------------


def list_visible_trusts(session: Session, admin: AdminUser) -> list[Trust]:
    query = select(Trust).order_by(Trust.name)
    if not admin.is_superuser:
        query = query.where(Trust.admins.any(AdminUser.id == admin.id))
    return list(session.scalars(query))


def get_visible_trust(session: Session, admin: AdminUser, slug: str) -> Trust:
    """The trust, if this admin may see it. Another trust is NotFound, exactly like a missing one,
    so that a URL never confirms that a trust exists."""
    trust = session.scalar(select(Trust).where(Trust.slug == slug))
    if trust is None or not admin.can_see(trust):
        raise NotFound(f"no trust {slug!r}")
    return trust


def get_visible_cycle(session: Session, admin: AdminUser, cycle_id: int) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or not admin.can_see(cycle.trust):
        raise NotFound(f"no cycle {cycle_id}")
    return cycle


def create_trust_for(
    session: Session, admin: AdminUser, name: str, timezone: str = DEFAULT_TIMEZONE
) -> Trust:
    """Create a trust with this admin as a member, so that it stays visible to them."""
    trust = create_trust(session, name, timezone)
    trust.admins.append(admin)
    session.flush()
    record_event(session, admin.email, "trust.create", trust=trust, detail=trust.name)
    return trust
