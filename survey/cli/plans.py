"""`mat-review plan export CYCLE --out DIR`: the improvement plan as plan.pdf and plan.xlsx;
`mat-review plan you-said CYCLE [--send]`: "you said, we did", previewed or queued once."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from survey.cli.common import CLI_ACTOR, out_dir_option, user_errors
from survey.db import db
from survey.reports.plan import write_plan_files
from survey.services import plans, you_said
from survey.services.audit import record_event
from survey.services.cycles import get_cycle

plan_group = AppGroup(
    "plan", help="Agreed ratings, priorities and actions: the improvement plan; you said, we did."
)


@plan_group.command("export")
@click.argument("cycle_id")
@out_dir_option("plan.pdf and plan.xlsx")
@user_errors
def export_command(cycle_id: str, out_dir: Path) -> None:
    """Write the cycle's improvement plan (PDF, A4, and XLSX); prints each path."""
    cycle = get_cycle(db.session, cycle_id)
    plans.ensure_plannable(db.session, cycle)
    paths = write_plan_files(plans.load_plan(db.session, cycle), out_dir)
    record_event(db.session, CLI_ACTOR, "plan.export", cycle=cycle, detail=str(out_dir))
    for path in paths.values():
        click.echo(str(path.resolve()))


@plan_group.command("you-said")
@click.argument("cycle_id")
@click.option("--send", is_flag=True, help="Queue it to everyone invited (once, ever).")
@user_errors
def you_said_command(cycle_id: str, send: bool) -> None:
    """Print "you said, we did" as everyone invited will get it; with --send, queue it to
    everyone invited, answered or not (refused before the report is sent, after a purge, and
    once it has been sent)."""
    cycle = get_cycle(db.session, cycle_id)
    if send:
        queued = you_said.send(db.session, cycle, CLI_ACTOR)
        click.echo(f"queued to {queued} invitation(s)")
        return
    rendered = you_said.render_message(db.session, cycle)
    click.echo(f"Subject: {rendered.subject}\n")
    click.echo(rendered.text)
    reason = you_said.refusal(db.session, cycle)
    if reason:
        click.echo(f"(It cannot be sent now: {reason}.)")
