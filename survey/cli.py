"""The `mat-review` command line (a Flask CLI group, so `flask --app survey` works too).

Exit status: 0 on success, 1 on a user error with a one-line message on stderr, 2 on bad usage.
"""

from __future__ import annotations

import functools
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

import framework as fw
from survey import queries
from survey.db import db, describe_database_error
from survey.errors import UserError
from survey.models import AdminUser
from survey.services import cycles as cycle_service
from survey.services.frameworks import (
    add_framework_file,
    get_current_version,
    get_framework,
    list_framework_versions,
    sync_builtin_frameworks,
)
from survey.timeutil import parse_datetime

F = TypeVar("F", bound=Callable[..., Any])
CLI_ACTOR = "cli"


def database_error_message(exc: DBAPIError) -> str:
    """One line for a database that is down, unreachable or not initialised."""
    return (
        f"database error: {describe_database_error(exc)} "
        "(is the database running and initialised? try `mat-review init`)"
    )


def user_errors(fn: F) -> F:
    """Turn domain errors into a one-line message and exit status 1, committing on success."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
            db.session.commit()
            return result
        except UserError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc).replace("\n", " ")) from None
        except DBAPIError as exc:
            db.session.rollback()
            raise click.ClickException(database_error_message(exc)) from None

    return wrapper  # type: ignore[return-value]


# -- init and admins ----------------------------------------------------------------------------


@click.command("init")
def init_command() -> None:
    """Create or upgrade the database and load the built-in frameworks (safe to re-run)."""
    from survey.migrate import upgrade_database

    try:
        revision = upgrade_database()
    except DBAPIError as exc:
        raise click.ClickException(f"database error: {describe_database_error(exc)}") from None
    added = _init_frameworks()
    click.echo(
        f"database at revision {revision}; frameworks: {', '.join(fw.builtin_keys())}"
        + (f" (newly loaded: {', '.join(added)})" if added else "")
    )


@user_errors
def _init_frameworks() -> list[str]:
    return sync_builtin_frameworks(db.session)


@click.command("create-admin")
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
    import os

    from survey.services.accounts import find_admin, hash_password, reset_admin_password
    from survey.services.limits import check_length
    from survey.services.recipients import normalise_email

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


# -- trusts -------------------------------------------------------------------------------------

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


# -- frameworks ---------------------------------------------------------------------------------

framework_group = AppGroup("framework", help="Frameworks (the questions a cycle asks).")


@framework_group.command("list")
@user_errors
def framework_list_command() -> None:
    """List the frameworks available for new cycles."""
    rows = list_framework_versions(db.session)
    if not rows:
        raise UserError("no frameworks loaded yet: run `mat-review init`")
    for row in rows:
        loaded = get_framework(db.session, row.key, row.version)
        kind = "built-in" if row.is_builtin else "custom"
        click.echo(
            f"{row.key}\t{row.title}\t{len(loaded.elements)} elements, "
            f"{loaded.question_count(fw.parse_scope('all'))} questions\t{kind}\t"
            f"version {row.version}"
        )


@framework_group.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--trust", "trust_slug", help="Offer it to this trust only.")
@user_errors
def framework_add_command(file: Path, trust_slug: str | None) -> None:
    """Validate and load a framework file of a trust's own."""
    if not file.exists():
        raise UserError(f"{file}: no such file")
    trust = cycle_service.get_trust(db.session, trust_slug) if trust_slug else None
    loaded = add_framework_file(db.session, file, trust)
    click.echo(
        f"framework {loaded.key} ({loaded.title}) loaded: {len(loaded.elements)} elements, "
        f"version {loaded.version}"
    )


@framework_group.command("show")
@click.argument("key")
@click.option("--scope", default="all", show_default=True, help="start, all, or codes like 1A,2B")
@user_errors
def framework_show_command(key: str, scope: str) -> None:
    """Print what a respondent would be asked."""
    row = get_current_version(db.session, key)
    loaded = get_framework(db.session, row.key, row.version)
    try:
        parsed = fw.parse_scope(scope)
        loaded.validate_scope(parsed)
    except fw.FrameworkError as exc:
        raise UserError(str(exc)) from None
    elements = loaded.elements_in_scope(parsed)
    click.echo(f"{loaded.title} (version {loaded.version}), scope {parsed}")
    click.echo(
        "Scale: "
        + ", ".join(f"{level.label} ({level.score})" for level in loaded.scale.levels)
        + ", Don't know / not enough evidence"
    )
    heading = None
    for element in elements:
        if element.heading != heading:
            heading = element.heading
            title = next(h.title for h in loaded.headings if h.number == heading)
            click.echo(f"\n{heading}. {title}")
        focus = f" ({', '.join(element.focus)})" if element.focus else ""
        click.echo(f"  {element.code}. {element.title}{focus}")
        for question in element.questions_for(parsed):
            click.echo(f"    {question.number}. [{question.stage}] {question.text}")
    questions = sum(len(e.questions_for(parsed)) for e in elements)
    click.echo(f"\n{questions} questions under {len(elements)} elements")


# -- cycles -------------------------------------------------------------------------------------

cycle_group = AppGroup("cycle", help="Review cycles.")


@cycle_group.command("create")
@click.option("--trust", "trust_slug", required=True)
@click.option("--title", required=True)
@click.option("--opens", required=True, help="ISO date or date-time, in the trust's time zone")
@click.option("--closes", required=True, help="ISO date or date-time, in the trust's time zone")
@click.option("--framework", "framework_key", default="mat-assurance", show_default=True)
@click.option("--scope", default="all", show_default=True, help="start, all, or 1A,2B,...")
@click.option("--group", "groups", multiple=True, help="KEY:LABEL[:open], repeatable")
@click.option("--min-group-size", type=int, default=3, show_default=True)
@click.option("--min-comment-group-size", type=int, default=5, show_default=True)
@click.option("--report-to", default="", help="Comma-separated emails that receive the report")
@click.option("--previous", "previous", type=int, default=None, help="Last year's cycle id")
@click.option("--reminder-days", default="7,2", show_default=True)
@user_errors
def cycle_create_command(
    trust_slug: str,
    title: str,
    opens: str,
    closes: str,
    framework_key: str,
    scope: str,
    groups: tuple[str, ...],
    min_group_size: int,
    min_comment_group_size: int,
    report_to: str,
    previous: int | None,
    reminder_days: str,
) -> None:
    """Create a draft cycle; prints its id (the last word of the output)."""
    session = db.session
    trust = cycle_service.get_trust(session, trust_slug)
    settings = cycle_service.CycleSettings(
        title=title,
        opens_at=parse_datetime(opens, trust.timezone),
        closes_at=parse_datetime(closes, trust.timezone),
        framework_key=framework_key,
        scope=scope,
        groups=[cycle_service.parse_group_spec(g) for g in groups]
        or cycle_service.default_groups(),
        min_group_size=min_group_size,
        min_comment_group_size=min_comment_group_size,
        report_to=cycle_service.parse_recipient_emails(report_to),
        previous_cycle_id=previous,
        reminder_days=reminder_days,
    )
    cycle = cycle_service.create_cycle(session, trust, settings, CLI_ACTOR)
    click.echo(f"draft cycle {cycle.title!r} created for {trust.slug} with id {cycle.id}")


@cycle_group.command("recipients")
@click.argument("cycle_id")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@user_errors
def cycle_recipients_command(cycle_id: str, file: Path) -> None:
    """Add the people in FILE.csv (email,name,group[,school]); all or nothing."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    if str(file) == "-":
        data = sys.stdin.buffer.read()
    else:
        if not file.exists():
            raise UserError(f"{file}: no such file")
        data = file.read_bytes()
    invitations = cycle_service.import_recipients(db.session, cycle, data, CLI_ACTOR)
    counts: dict[str, int] = {}
    for invitation in invitations:
        counts[invitation.group.key] = counts.get(invitation.group.key, 0) + 1
    summary = ", ".join(f"{key} {n}" for key, n in counts.items())
    click.echo(f"{len(invitations)} invitations added to cycle {cycle.id} ({summary})")


@cycle_group.command("launch")
@click.argument("cycle_id")
@user_errors
def cycle_launch_command(cycle_id: str) -> None:
    """Validate and launch: invitations go out when the cycle opens."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    cycle_service.launch_cycle(db.session, cycle, CLI_ACTOR)
    click.echo(f"cycle {cycle.id} launched: {cycle.state.value}")


@cycle_group.command("status")
@click.argument("cycle_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@user_errors
def cycle_status_command(cycle_id: str, as_json: bool) -> None:
    """State, dates, and per group: invited, sent, completed, declined, failed."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    status = queries.cycle_status_dict(db.session, cycle)
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    click.echo(f"cycle {cycle.id} {cycle.title!r} ({cycle.trust.name}): {status['state']}")
    click.echo(f"opens {status['opens_at']}  closes {status['closes_at']}")
    click.echo(f"{'group':<28}{'invited':>8}{'sent':>6}{'done':>6}{'declined':>9}{'failed':>7}")
    for g in status["groups"]:  # type: ignore[attr-defined]
        click.echo(
            f"{g['label'][:27]:<28}{g['invited']:>8}{g['sent']:>6}{g['completed']:>6}"
            f"{g['declined']:>9}{g['failed']:>7}"
        )


@cycle_group.command("extend")
@click.argument("cycle_id")
@click.option("--closes", required=True, help="The new close date (ISO, trust's time zone)")
@user_errors
def cycle_extend_command(cycle_id: str, closes: str) -> None:
    """Move the close date later."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    cycle_service.extend_cycle(
        db.session, cycle, parse_datetime(closes, cycle.trust.timezone), CLI_ACTOR
    )
    click.echo(f"cycle {cycle.id} now closes {cycle.closes_at.isoformat()}")


@cycle_group.command("close")
@click.argument("cycle_id")
@user_errors
def cycle_close_command(cycle_id: str) -> None:
    """Close now and seal the responses; the report is compiled by the scheduler."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    sealed = cycle_service.close_cycle(db.session, cycle, CLI_ACTOR)
    click.echo(f"cycle {cycle.id} closed; {sealed} responses sealed")


@cycle_group.command("purge")
@click.argument("cycle_id")
@user_errors
def cycle_purge_command(cycle_id: str) -> None:
    """Remove names and emails of a reported cycle's invitations, keeping counts."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    purged = cycle_service.purge_cycle(db.session, cycle, CLI_ACTOR)
    click.echo(f"cycle {cycle.id}: personal data removed from {purged} invitations")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
def serve_command(host: str, port: int) -> None:
    """The web server (embedded default; use gunicorn in production)."""
    from flask import current_app
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"mat-review serving on http://{host}:{port}/ (Ctrl-C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


def register_commands(app: Flask) -> None:
    for command in (init_command, create_admin_command, serve_command):
        app.cli.add_command(command)
    for group in (trust_group, framework_group, cycle_group):
        app.cli.add_command(group)
    # Each area adds its own commands from its own module.
    import jobs.cli
    import survey.demo
    import survey.reports.cli

    for module in (jobs.cli, survey.reports.cli, survey.demo):
        module.register(app)


def main() -> None:
    """The `mat-review` console script."""
    from survey import create_app

    cli = FlaskGroup(
        name="mat-review",
        create_app=lambda: create_app(),
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="mat-review: run a trust's self-review cycle against the MAT Assurance Framework.",
    )
    cli.main(prog_name="mat-review")
