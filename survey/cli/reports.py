"""`mat-review report build CYCLE --out DIR`, `report emails CYCLE` and `report resend CYCLE`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from survey.cli.common import CLI_ACTOR, user_errors
from survey.db import db
from survey.errors import UserError
from survey.mail import outbox
from survey.queries import ReportEmail, list_report_emails
from survey.reports.compile import compile_cycle
from survey.reports.outputs import write_report_files
from survey.reports.store import ensure_reportable
from survey.reports.stored import get_report, write_stored_report
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


def _describe(email: ReportEmail) -> str:
    if email.is_delivered:
        return f"{email.recipient}: delivered"
    state = "refused for good" if email.status == "failed" else "not yet delivered"
    tried = f", tried {email.attempts} time(s)" if email.attempts else ""
    error = f"; last error: {email.last_error}" if email.last_error else ""
    return f"{email.recipient}: {state}{tried}{error}"


@report_group.command("emails")
@click.argument("cycle_id")
@user_errors
def emails_command(cycle_id: str) -> None:
    """Say, for each report recipient, whether the report email has been delivered."""
    cycle = get_cycle(db.session, cycle_id)
    emails = list_report_emails(db.session, cycle)
    if not emails:
        raise UserError(f"cycle {cycle.id} has no report emails yet (it has not been reported)")
    for email in emails:
        click.echo(_describe(email))


@report_group.command("resend")
@click.argument("cycle_id")
@click.option("--to", "recipient", help="Only the email to this recipient.")
@user_errors
def resend_command(cycle_id: str, recipient: str | None) -> None:
    """Send the report emails not yet delivered again now (as the page's button does)."""
    cycle = get_cycle(db.session, cycle_id)
    waiting = [
        email
        for email in list_report_emails(db.session, cycle)
        if not email.is_delivered
        and (recipient is None or email.recipient.lower() == recipient.strip().lower())
    ]
    if not waiting:
        raise UserError(
            f"cycle {cycle.id} has no undelivered report email"
            + (f" to {recipient}" if recipient else "")
        )
    for email in waiting:
        outbox.resend_report_email(db.session, cycle, email.id, CLI_ACTOR)
    for email in waiting:
        click.echo(f"{email.recipient}: will be sent again within a minute")
