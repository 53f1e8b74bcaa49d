"""`mat-review create-admin`: admin accounts."""

from __future__ import annotations

import os
import secrets
import sys

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from survey.cli.common import CLI_ACTOR, user_errors
from survey.db import db
from survey.errors import UserError
from survey.models import AdminRole, AdminUser, Trust
from survey.services import cycles as cycle_service
from survey.services import team
from survey.services.accounts import find_admin, hash_password, reset_admin_password
from survey.services.limits import check_length
from survey.services.recipients import normalise_email


@click.command("create-admin")
@with_appcontext
@click.argument("email")
@click.option("--name", default="", help="The person's name, shown in the audit log.")
@click.option("--trust", "trust_slugs", multiple=True, help="Limit the account to this trust.")
@click.option("--if-none", is_flag=True, help="Do nothing if any admin account exists already.")
@click.option(
    "--reset-password",
    is_flag=True,
    help="Give an existing account a new password (its open sessions end).",
)
@user_errors
def create_admin_command(
    email: str, name: str, trust_slugs: tuple[str, ...], if_none: bool, reset_password: bool
) -> None:
    """An admin account. Password from MAT_REVIEW_ADMIN_PASSWORD, a prompt, or generated."""
    check_length(name, AdminUser.name, "the name")
    if if_none and db.session.scalar(select(AdminUser.id).limit(1)) is not None:
        click.echo("an admin account exists already; sign in with it")
        return
    try:
        address = normalise_email(email)
    except Exception as exc:
        raise UserError(f"{email!r} is not a valid email address ({exc})") from None
    session = db.session
    existing = find_admin(session, address)
    if reset_password and existing is None:
        raise UserError(f"no admin with email {address}")
    if existing is not None and not reset_password:
        raise UserError(
            f"an admin with email {address} already exists (use --reset-password for a new one)"
        )
    password = os.environ.get("MAT_REVIEW_ADMIN_PASSWORD")
    generated = False
    if not password:
        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password, generated = secrets.token_urlsafe(12), True
    if existing is not None:
        ended = reset_admin_password(session, existing, password, CLI_ACTOR)
        click.echo(
            f"password of admin {existing.email} replaced; "
            f"its open sessions have ended ({ended} signed out)"
        )
        if generated:
            click.echo(f"password (shown once): {password}")
        return
    password_hash = hash_password(password)
    trusts = [cycle_service.get_trust(session, slug) for slug in trust_slugs]
    admin = AdminUser(
        email=address,
        name=name,
        password_hash=password_hash,
        is_superuser=not trusts,
        trusts=trusts,
    )
    session.add(admin)
    session.flush()
    scope = ", ".join(t.slug for t in trusts) if trusts else "all trusts"
    click.echo(f"admin {address} created ({scope})")
    if generated:
        click.echo(f"password (shown once): {password}")


# -- `mat-review admin ...`: a trust's co-admins and the emailed links ----------------------------

admin_group = AppGroup("admin", help="A trust's admins and viewers, and emailed sign-in links.")


def _member_id(trust: Trust, email: str) -> int:
    admin = find_admin(db.session, email)
    if admin is None:
        raise UserError(f"no admin with email {email.strip()}")
    if team.get_role(db.session, admin, trust) is None or admin.is_superuser:
        raise UserError(f"{admin.email} is not a member of {trust.name}")
    return admin.id


@admin_group.command("list")
@click.option("--trust", "slug", required=True, help="The trust's slug.")
@user_errors
def admin_list_command(slug: str) -> None:
    """The trust's members: email, role, and whether they have signed in yet."""
    trust = cycle_service.get_trust(db.session, slug)
    for member in team.list_members(db.session, trust):
        state = "signed in before" if member.has_signed_in else "not signed in yet"
        click.echo(f"{member.email}\t{member.role.value}\t{state}")


@admin_group.command("invite")
@click.option("--trust", "slug", required=True, help="The trust's slug.")
@click.argument("email")
@click.option(
    "--role", type=click.Choice([r.value for r in AdminRole]), default="viewer", show_default=True
)
@click.option("--name", default="", help="The person's name, used in the email.")
@user_errors
def admin_invite_command(slug: str, email: str, role: str, name: str) -> None:
    """Make EMAIL a member of the trust and queue an admin-invite email (sent by the jobs)."""
    trust = cycle_service.get_trust(db.session, slug)
    admin = team.invite_member(
        db.session, trust, email, AdminRole(role), None, actor=CLI_ACTOR, name=name
    )
    click.echo(f"{admin.email} invited to {trust.slug} as {role}; the invitation email is queued")


@admin_group.command("role")
@click.option("--trust", "slug", required=True, help="The trust's slug.")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in AdminRole]))
@user_errors
def admin_role_command(slug: str, email: str, role: str) -> None:
    """Change a member's role (a trust always keeps one admin)."""
    trust = cycle_service.get_trust(db.session, slug)
    member = team.change_role(
        db.session, trust, _member_id(trust, email), AdminRole(role), CLI_ACTOR
    )
    click.echo(f"{member.email} is now {role} of {trust.slug}")


@admin_group.command("remove")
@click.option("--trust", "slug", required=True, help="The trust's slug.")
@click.argument("email")
@user_errors
def admin_remove_command(slug: str, email: str) -> None:
    """Remove a member from the trust (not its last admin); the account itself stays."""
    trust = cycle_service.get_trust(db.session, slug)
    member = team.remove_member(db.session, trust, _member_id(trust, email), CLI_ACTOR)
    click.echo(f"{member.email} removed from {trust.slug}")


@admin_group.command("send-sign-in-link")
@click.argument("email")
@user_errors
def admin_send_sign_in_link_command(email: str) -> None:
    """Queue an admin-login email with a single-use sign-in link (sent by the jobs)."""
    if find_admin(db.session, email) is None:
        raise UserError(f"no admin with email {email.strip()}")
    team.request_sign_in_link(db.session, email)
    click.echo(f"a sign-in link for {email.strip()} is queued (if the account is active)")


@admin_group.command("send-password-reset")
@click.argument("email")
@user_errors
def admin_send_password_reset_command(email: str) -> None:
    """Queue a password-reset email with a single-use link (sent by the jobs)."""
    if find_admin(db.session, email) is None:
        raise UserError(f"no admin with email {email.strip()}")
    team.request_password_reset(db.session, email)
    click.echo(f"a password reset link for {email.strip()} is queued (if the account is active)")
