"""Co-admins: a trust's members and their roles, invitations to a trust, and the emailed links
that let an admin sign in or set a password (SPEC sections 7 and 9).

A member of a trust is an `admin` (everything) or a `viewer` (reads cycles and reports, changes
nothing); the role lives on the membership (`trust_admins.role`). A superuser (the deployment's
operator) acts as an admin of every trust. A trust always keeps at least one admin.

Emails that carry a link (`admin-login`, `admin-invite`, `password-reset`) go through the outbox
like every other; the link itself is minted by the dispatcher when it sends (survey.services.
admin_links). Asking for a sign-in link or a reset for an address with no active account queues
nothing and says nothing different, so the pages never tell whether an address has an account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from survey.errors import NotFound, UserError
from survey.mail.messages import LINK_PLACEHOLDER, render_email
from survey.mail.outbox import enqueue_admin_email
from survey.models import (
    AdminLinkPurpose,
    AdminRole,
    AdminUser,
    Cycle,
    MessageKind,
    Trust,
    trust_admins,
)
from survey.services.accounts import find_admin, hash_password, reset_admin_password
from survey.services.admin_links import (
    end_admin_links,
    find_admin_link,
    lifetime_text,
    use_admin_link,
)
from survey.services.audit import record_event
from survey.services.limits import check_length, is_id
from survey.services.recipients import normalise_email
from survey.timeutil import utcnow

ROLE_DESCRIPTIONS = {
    AdminRole.ADMIN: "you can run its review cycles, change them and invite others.",
    AdminRole.VIEWER: "you can read its review cycles and reports, but not change them.",
}


# -- roles ----------------------------------------------------------------------------------------


def get_role(session: Session, admin: AdminUser, trust: Trust) -> AdminRole | None:
    """This account's role in the trust: ADMIN for a superuser, None for a non-member."""
    if admin.is_superuser:
        return AdminRole.ADMIN
    role = session.scalar(
        select(trust_admins.c.role).where(
            trust_admins.c.trust_id == trust.id, trust_admins.c.admin_id == admin.id
        )
    )
    return AdminRole(role) if role is not None else None


def parse_role(value: str) -> AdminRole:
    try:
        return AdminRole(value.strip().lower())
    except ValueError:
        raise UserError(f"{value!r} is not a role (choose admin or viewer)", field="role") from None


def trust_of_request(session: Session, slug: str | None, cycle_id: int | None) -> Trust | None:
    """The trust a trust-scoped address (a trust's slug or a cycle's id) is about, if any."""
    if slug is not None:
        return session.scalar(select(Trust).where(Trust.slug == slug))
    if cycle_id is not None and is_id(cycle_id):
        cycle = session.get(Cycle, cycle_id)
        return cycle.trust if cycle is not None else None
    return None


# -- members --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    admin_id: int
    email: str
    name: str
    role: AdminRole
    has_signed_in: bool
    is_active: bool


def list_members(session: Session, trust: Trust) -> list[Member]:
    rows = session.execute(
        select(AdminUser, trust_admins.c.role)
        .join(trust_admins, trust_admins.c.admin_id == AdminUser.id)
        .where(trust_admins.c.trust_id == trust.id)
        .order_by(trust_admins.c.role, func.lower(AdminUser.email))
    ).all()
    return [
        Member(
            admin_id=admin.id,
            email=admin.email,
            name=admin.name,
            role=AdminRole(role),
            has_signed_in=admin.last_login_at is not None,
            is_active=admin.is_active,
        )
        for admin, role in rows
    ]


def list_admin_names(session: Session, trust: Trust) -> list[str]:
    """Who a viewer can ask for a change: the trust's admins, by name or email."""
    return [m.name or m.email for m in list_members(session, trust) if m.role == AdminRole.ADMIN]


def _lock_trust(session: Session, trust: Trust) -> None:
    """Serialise changes to a trust's members, so two admins demoting each other at once cannot
    leave it with none (SQLite's writers are serialised already)."""
    session.execute(select(Trust.id).where(Trust.id == trust.id).with_for_update())


def _member(session: Session, trust: Trust, admin_id: int) -> tuple[AdminUser, AdminRole]:
    row = session.execute(
        select(AdminUser, trust_admins.c.role)
        .join(trust_admins, trust_admins.c.admin_id == AdminUser.id)
        .where(trust_admins.c.trust_id == trust.id, AdminUser.id == admin_id)
    ).first()
    if row is None:
        raise NotFound(f"no such member of {trust.name}")
    return row[0], AdminRole(row[1])


def _other_admins(session: Session, trust: Trust, admin_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(trust_admins)
            .join(AdminUser, AdminUser.id == trust_admins.c.admin_id)
            .where(
                trust_admins.c.trust_id == trust.id,
                trust_admins.c.role == AdminRole.ADMIN,
                trust_admins.c.admin_id != admin_id,
                AdminUser.is_active.is_(True),
            )
        )
        or 0
    )


def change_role(
    session: Session, trust: Trust, admin_id: int, role: AdminRole, actor: str
) -> AdminUser:
    _lock_trust(session, trust)
    member, current = _member(session, trust, admin_id)
    if current == role:
        return member
    if current == AdminRole.ADMIN and _other_admins(session, trust, admin_id) == 0:
        raise UserError(
            f"{member.email} is the only admin of {trust.name}: make someone else an admin first"
        )
    session.execute(
        update(trust_admins)
        .where(and_(trust_admins.c.trust_id == trust.id, trust_admins.c.admin_id == admin_id))
        .values(role=role)
    )
    record_event(
        session, actor, "trust.member-role", trust=trust, detail=f"{member.email}: {role.value}"
    )
    session.flush()
    return member


def remove_member(session: Session, trust: Trust, admin_id: int, actor: str) -> AdminUser:
    """The account no longer sees the trust (the account itself, and its other trusts, stay)."""
    _lock_trust(session, trust)
    member, current = _member(session, trust, admin_id)
    if current == AdminRole.ADMIN and _other_admins(session, trust, admin_id) == 0:
        raise UserError(
            f"{member.email} is the only admin of {trust.name}: make someone else an admin first"
        )
    session.execute(
        trust_admins.delete().where(
            trust_admins.c.trust_id == trust.id, trust_admins.c.admin_id == admin_id
        )
    )
    record_event(session, actor, "trust.member-remove", trust=trust, detail=member.email)
    session.flush()
    session.expire(member, ["trusts"])
    return member


def invite_member(
    session: Session,
    trust: Trust,
    email: str,
    role: AdminRole,
    inviter: AdminUser | None,
    *,
    actor: str | None = None,
    name: str = "",
    now: datetime | None = None,
) -> AdminUser:
    """Make the person a member of the trust with `role` and email them an invitation with a
    single-use link to choose a password. An address with no account gets one, with no usable
    password until they choose it (or sign in by emailed link). `inviter` is the admin who
    invites (named in the email); None for the operator at the command line (`actor`)."""
    try:
        address = normalise_email(email)
    except Exception as exc:
        raise UserError(f"{email.strip()!r} is not a valid email address", field="email") from exc
    name = name.strip()
    check_length(name, AdminUser.name, "the name")
    _lock_trust(session, trust)
    admin = find_admin(session, address)
    if admin is None:
        admin = AdminUser(
            email=address,
            name=name,
            # Nobody knows this password: the person chooses theirs with the invitation's link.
            password_hash=generate_password_hash(secrets.token_urlsafe(32)),
            is_superuser=False,
        )
        session.add(admin)
        session.flush()
    elif admin.is_superuser:
        raise UserError(f"{admin.email} already runs every trust", field="email")
    elif get_role(session, admin, trust) is not None:
        raise UserError(
            f"{admin.email} is already a member of {trust.name} (change their role below)",
            field="email",
        )
    elif not admin.is_active:
        raise UserError(f"the account {admin.email} has been deactivated", field="email")
    session.execute(trust_admins.insert().values(trust_id=trust.id, admin_id=admin.id, role=role))
    if inviter is None:
        inviter_name = "The operator of this mat-review service"
    else:
        inviter_name = f"{inviter.name} ({inviter.email})" if inviter.name else inviter.email
    rendered = render_email(
        "admin-invite",
        trust_name=trust.name,
        name=admin.name,
        email=admin.email,
        inviter=inviter_name,
        role=role.value,
        role_article="an" if role == AdminRole.ADMIN else "a",
        role_description=ROLE_DESCRIPTIONS[role],
        lifetime=lifetime_text(AdminLinkPurpose.INVITE),
        link=LINK_PLACEHOLDER,
    )
    enqueue_admin_email(session, MessageKind.ADMIN_INVITE, admin.email, rendered, now=now)
    record_event(
        session,
        actor or (inviter.email if inviter is not None else "cli"),
        "trust.member-invite",
        trust=trust,
        detail=f"{admin.email}: {role.value}",
    )
    session.flush()
    session.expire(admin, ["trusts"])
    return admin


# -- emailed sign-in links and password resets ----------------------------------------------------


def _active_account(session: Session, email: str) -> AdminUser | None:
    try:
        address = normalise_email(email)
    except Exception:
        return None
    admin = find_admin(session, address)
    return admin if admin is not None and admin.is_active else None


def _request_link_email(
    session: Session,
    email: str,
    kind: MessageKind,
    purpose: AdminLinkPurpose,
    action: str,
    now: datetime | None,
) -> None:
    """Queue an email carrying a single-use link if the address has an active account;
    otherwise nothing. Says nothing either way (no account enumeration), and renders the email
    either way, so the answer takes about as long."""
    admin = _active_account(session, email)
    rendered = render_email(
        kind.value,
        trust_name="mat-review",
        name=admin.name if admin is not None else "",
        email=admin.email if admin is not None else email,
        lifetime=lifetime_text(purpose),
        link=LINK_PLACEHOLDER,
    )
    if admin is None:
        return
    enqueue_admin_email(session, kind, admin.email, rendered, now=now)
    record_event(session, admin.email, action)
    session.flush()


def request_sign_in_link(session: Session, email: str, *, now: datetime | None = None) -> None:
    """Queue an `admin-login` email for an active account (see `_request_link_email`)."""
    _request_link_email(
        session,
        email,
        MessageKind.ADMIN_LOGIN,
        AdminLinkPurpose.SIGN_IN,
        "admin.sign-in-link-requested",
        now,
    )


def request_password_reset(session: Session, email: str, *, now: datetime | None = None) -> None:
    """Queue a `password-reset` email for an active account (see `_request_link_email`)."""
    _request_link_email(
        session,
        email,
        MessageKind.PASSWORD_RESET,
        AdminLinkPurpose.PASSWORD_RESET,
        "admin.password-reset-requested",
        now,
    )


# An invitation's link signs in too: the invitee may skip choosing a password.
SIGN_IN_PURPOSES = (AdminLinkPurpose.SIGN_IN, AdminLinkPurpose.INVITE)
PASSWORD_PURPOSES = (AdminLinkPurpose.PASSWORD_RESET, AdminLinkPurpose.INVITE)


def sign_in_with_link(
    session: Session, token: object, *, now: datetime | None = None
) -> AdminUser | None:
    """Use an emailed sign-in (or invitation) link: the account, or None if the link is not
    valid (unknown, used, expired). The caller starts the session."""
    used = use_admin_link(session, token, SIGN_IN_PURPOSES, now)
    if used is None:
        return None
    admin, purpose = used
    admin.last_login_at = now or utcnow()
    by_invitation = purpose == AdminLinkPurpose.INVITE
    record_event(
        session, admin.email, "admin.invite-accept" if by_invitation else "admin.sign-in-by-link"
    )
    session.flush()
    return admin


def set_password_with_link(
    session: Session, token: object, password: str, *, now: datetime | None = None
) -> AdminUser | None:
    """Use a reset (or invitation) link to set a new password: every session of the account
    ends, and every other reset link of it stops working. None if the link is not valid; a
    password too short is refused (UserError) and the link still works."""
    if find_admin_link(session, token, PASSWORD_PURPOSES, now) is None:
        return None
    hash_password(password)  # refuses a short password before the link is used
    used = use_admin_link(session, token, PASSWORD_PURPOSES, now)
    if used is None:
        return None
    admin, _purpose = used
    reset_admin_password(session, admin, password, actor=admin.email)
    end_admin_links(session, admin, (AdminLinkPurpose.PASSWORD_RESET,))
    admin.last_login_at = now or utcnow()
    session.flush()
    return admin
