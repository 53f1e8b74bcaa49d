"""`mat-review plan export CYCLE --out DIR`: the improvement plan as plan.pdf and plan.xlsx."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from survey.cli.common import CLI_ACTOR, user_errors
from survey.db import db
from survey.reports.plan import write_plan_files
from survey.services import plans
from survey.services.audit import record_event
from survey.services.cycles import get_cycle

plan_group = AppGroup("plan", help="Agreed ratings, priorities and actions: the improvement plan.")


@plan_group.command("export")
@click.argument("cycle_id")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for plan.pdf and plan.xlsx (created if needed).",
)
@user_errors
def export_command(cycle_id: str, out_dir: Path) -> None:
    """Write the cycle's improvement plan (PDF, A4, and XLSX); prints each path."""
    cycle = get_cycle(db.session, cycle_id)
    plans.ensure_plannable(db.session, cycle)
    paths = write_plan_files(plans.load_plan(db.session, cycle), out_dir)
    record_event(db.session, CLI_ACTOR, "plan.export", cycle=cycle, detail=str(out_dir))
    for path in paths.values():
        click.echo(str(path.resolve()))
