"""Admin accounts: password hashing, signing in, and which trusts an account may see.

Passwords are hashed with werkzeug's default scheme (scrypt). A sign-in with an unknown email
still checks a password against a dummy hash, so the response time does not tell an attacker
which emails have accounts.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from survey.errors import NotFound, UserError
from survey.models import AdminUser, Cycle, Trust
from survey.services.audit import record_event
from survey.services.cycles import create_trust
from survey.timeutil import DEFAULT_TIMEZONE, utcnow

MIN_PASSWORD_LENGTH = 10


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


def session_fingerprint(admin: AdminUser) -> str:
    """A short digest of the password hash kept in the session cookie: changing the password
    (or disabling the account) ends every session signed in with the old one."""
    return hashlib.sha256(f"{admin.id}:{admin.password_hash}".encode()).hexdigest()[:16]


def get_session_admin(session: Session, admin_id: object, fingerprint: object) -> AdminUser | None:
    """The admin a session cookie names, if the account still exists, is active and its
    password has not changed since the cookie was issued."""
    if not isinstance(admin_id, int) or not isinstance(fingerprint, str):
        return None
    admin = session.get(AdminUser, admin_id)
    if admin is None or not admin.is_active:
        return None
    if not secrets.compare_digest(session_fingerprint(admin), fingerprint):
        return None
    return admin


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
