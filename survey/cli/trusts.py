"""`mat-review trust add|list`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from survey.cli.common import user_errors
from survey.db import db
from survey.services import cycles as cycle_service

trust_group = AppGroup("trust", help="Trusts.")


@trust_group.command("add")
@click.argument("name")
@click.option("--timezone", default="Europe/London", show_default=True)
@user_errors
def trust_add_command(name: str, timezone: str) -> None:
    """Add a trust; prints its slug (the last word of the output)."""
    trust = cycle_service.create_trust(db.session, name, timezone)
    click.echo(f"trust {trust.name!r} added with slug {trust.slug}")


@trust_group.command("list")
@user_errors
def trust_list_command() -> None:
    """List trusts with their slugs."""
    for trust in cycle_service.list_trusts(db.session):
        click.echo(f"{trust.slug}\t{trust.name}\t{trust.timezone}\t{len(trust.cycles)} cycle(s)")
