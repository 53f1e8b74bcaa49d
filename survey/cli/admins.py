"""`mat-review create-admin`: admin accounts."""

from __future__ import annotations

import os
import secrets
import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from survey.cli.common import CLI_ACTOR, user_errors
from survey.db import db
from survey.errors import UserError
from survey.models import AdminUser
from survey.services import cycles as cycle_service
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
