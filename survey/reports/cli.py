"""`mat-review report build CYCLE --out DIR`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from survey.cli import user_errors
from survey.db import db
from survey.reports.compile import compile_cycle
from survey.reports.outputs import write_report_files
from survey.reports.store import ensure_reportable, get_report, write_stored_report
from survey.services.cycles import get_cycle

report_group = AppGroup("report", help="The follow-up report.")


@report_group.command("build")
@click.argument("cycle_id")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the report files (created if needed).",
)
@user_errors
def build_command(cycle_id: str, out_dir: Path) -> None:
    """Compile a closed cycle and write its five report files; prints each path, the HTML last.

    Once the scheduler has compiled and sent the report, the files written are that report's,
    exactly as leadership received them (comments are shuffled once, at compilation)."""
    cycle = get_cycle(db.session, cycle_id)
    ensure_reportable(cycle)
    stored = get_report(db.session, cycle)
    if stored is not None:
        paths = write_stored_report(stored, out_dir)
    else:
        paths = write_report_files(compile_cycle(db.session, cycle), out_dir)
    html = paths.pop("report.html")
    for path in paths.values():
        click.echo(str(path.resolve()))
    click.echo(str(html.resolve()))


def register(app: Flask) -> None:
    app.cli.add_command(report_group)
