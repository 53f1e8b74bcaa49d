"""What every command shares: the actor named in the audit log, and `user_errors`, the
command's edge (commit on success; a domain error is one line and exit status 1)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from survey.db import db, describe_database_error
from survey.errors import UserError

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


def out_dir_option(files: str) -> Callable[[F], F]:
    """`--out DIR` (required), the folder a command writes `files` into, passed as `out_dir`."""
    return click.option(
        "--out",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Folder for {files} (created if needed).",
    )
