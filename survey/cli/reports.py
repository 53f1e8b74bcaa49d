"""`mat-review report build CYCLE --out DIR`, `report emails CYCLE`, `report resend CYCLE`;
the held report (`report hold`, `comments`, `hide`, `release`) and the recipients' read-only links
(`report links`, `report link CYCLE LINK_ID renew|revoke|send`)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from survey.cli.common import CLI_ACTOR, out_dir_option, user_errors
from survey.db import db
from survey.errors import UserError
from survey.mail import outbox
from survey.queries import ReportEmail, list_report_emails
from survey.reports.compile import compile_cycle
from survey.reports.outputs import write_report_files
from survey.reports.store import ensure_reportable
from survey.reports.stored import get_report, write_stored_report
from survey.services import report_links, report_review
from survey.services.cycles import get_cycle
from survey.timeutil import format_local, utcnow

report_group = AppGroup("report", help="The follow-up report.")


@report_group.command("build")
@click.argument("cycle_id")
@out_dir_option("the report files")
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


# -- the held report ------------------------------------------------------------------------------


@report_group.command("hold")
@click.argument("cycle_id")
@click.option(
    "--no-hold",
    "no_hold",
    is_flag=True,
    help="Email the report as soon as it is compiled (the default) instead.",
)
@user_errors
def hold_command(cycle_id: str, no_hold: bool) -> None:
    """Hold the cycle's report for a review of its comments before it is emailed."""
    cycle = get_cycle(db.session, cycle_id)
    report_review.set_report_hold(db.session, cycle, not no_hold, CLI_ACTOR)
    if no_hold:
        click.echo(f"cycle {cycle.id}: the report is emailed as soon as it is compiled")
    else:
        click.echo(
            f"cycle {cycle.id}: the report is held; review its comments with "
            f"`report comments {cycle.id}` and send it with `report release {cycle.id}`"
        )


@report_group.command("comments")
@click.argument("cycle_id")
@user_errors
def comments_command(cycle_id: str) -> None:
    """List the comments a held report would publish (redacted), each with the handle that
    `report hide` takes."""
    cycle = get_cycle(db.session, cycle_id)
    if not cycle.is_report_held:
        raise UserError(f"the report of cycle {cycle.id} is not held for review")
    for element in report_review.list_review_comments(db.session, cycle):
        click.echo(f"{element.code} {element.title}")
        for comment in element.comments:
            state = " [hidden]" if comment.is_hidden else ""
            click.echo(f"  {comment.handle}{state}: {comment.text}")
        if not element.comments:
            click.echo("  (no comments)")


@report_group.command("hide")
@click.argument("cycle_id")
@click.argument("handle")
@click.option("--show", is_flag=True, help="Show a hidden comment in the report again.")
@user_errors
def hide_command(cycle_id: str, handle: str, show: bool) -> None:
    """Hide one comment (by its handle from `report comments`) from a held report."""
    cycle = get_cycle(db.session, cycle_id)
    code = report_review.set_comment_hidden(
        db.session, cycle, handle, CLI_ACTOR, is_hidden=not show
    )
    click.echo(f"the comment on {code} is {'shown again' if show else 'hidden'}")


@report_group.command("release")
@click.argument("cycle_id")
@user_errors
def release_command(cycle_id: str) -> None:
    """Release a held report: it is compiled again without the hidden comments and emailed."""
    cycle = get_cycle(db.session, cycle_id)
    hidden = report_review.release_report(db.session, cycle, CLI_ACTOR)
    click.echo(
        f"cycle {cycle.id}: released with {hidden} comment(s) hidden; the scheduler compiles "
        "and emails the report on its next run"
    )


# -- the recipients' read-only links --------------------------------------------------------------


@report_group.command("links")
@click.argument("cycle_id")
@user_errors
def links_command(cycle_id: str) -> None:
    """List the report recipients' read-only links: id, recipient, state."""
    cycle = get_cycle(db.session, cycle_id)
    links = report_links.list_report_links(db.session, cycle)
    if not links:
        raise UserError(f"cycle {cycle.id} has no report links yet (no report email was sent)")
    now = utcnow()
    tz = cycle.trust.timezone
    for link in links:
        if link.revoked_at is not None:
            state = f"revoked {format_local(link.revoked_at, tz)}"
        elif not link.is_valid(now):
            state = f"expired {format_local(link.expires_at, tz)}"
        else:
            state = f"works until {format_local(link.expires_at, tz)}"
        click.echo(f"{link.id} {link.recipient}: {state}")


@report_group.command("link")
@click.argument("cycle_id")
@click.argument("link_id", type=int)
@click.argument("action", type=click.Choice(["renew", "revoke", "send"]))
@user_errors
def link_command(cycle_id: str, link_id: int, action: str) -> None:
    """Renew a read-only link for another 90 days, revoke it, or send its recipient the report
    email again with a new link."""
    cycle = get_cycle(db.session, cycle_id)
    if action == "send":
        found = outbox.send_report_link_again(db.session, cycle, link_id, CLI_ACTOR)
        click.echo(f"{found.recipient}: the report email will be sent again with a new link")
    elif action == "renew":
        link = report_links.renew_report_link(db.session, cycle, link_id, CLI_ACTOR)
        click.echo(
            f"{link.id} {link.recipient}: works until "
            f"{format_local(link.expires_at, cycle.trust.timezone)}"
        )
    else:
        link = report_links.revoke_report_link(db.session, cycle, link_id, CLI_ACTOR)
        click.echo(f"{link.id} {link.recipient}: revoked")
