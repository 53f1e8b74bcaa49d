"""`mat-review init` (create or upgrade the database) and `mat-review serve`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import DBAPIError

import framework as fw
from survey.cli.common import user_errors
from survey.db import db, describe_database_error
from survey.migrate import upgrade_database
from survey.services.frameworks import (
    sync_builtin_frameworks,
)


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database and load the built-in frameworks (safe to re-run)."""
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


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
def serve_command(host: str, port: int) -> None:
    """The web server (embedded default; use gunicorn in production)."""
    from flask import current_app
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"mat-review serving on http://{host}:{port}/ (Ctrl-C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
