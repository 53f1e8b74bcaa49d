"""`mat-review cycle create|copy|recipients|launch|status|extend|close|purge|remind`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from survey import queries
from survey.cli.common import CLI_ACTOR, user_errors
from survey.db import db
from survey.errors import UserError
from survey.mail.reminders import remind_now
from survey.services import cycles as cycle_service
from survey.services import recipients as recipient_service
from survey.services.recipients import import_recipients
from survey.templating import counted
from survey.timeutil import parse_datetime

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
    invitations = import_recipients(db.session, cycle, data, CLI_ACTOR)
    counts: dict[str, int] = {}
    for invitation in invitations:
        counts[invitation.group.key] = counts.get(invitation.group.key, 0) + 1
    summary = ", ".join(f"{key} {n}" for key, n in counts.items())
    click.echo(f"{counted(len(invitations), 'invitation')} added to cycle {cycle.id} ({summary})")


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


@cycle_group.command("copy")
@click.argument("cycle_id")
@click.option(
    "--title", default=None, help="The new cycle's title (default: the old one's, copied)"
)
@click.option("--with-people", is_flag=True, help="Invite the same people again")
@user_errors
def cycle_copy_command(cycle_id: str, title: str | None, with_people: bool) -> None:
    """A new draft from an earlier cycle, with that cycle as its previous one; prints its id."""
    source = cycle_service.get_cycle(db.session, cycle_id)
    cycle = cycle_service.copy_cycle(
        db.session, source, CLI_ACTOR, title=title, with_people=with_people
    )
    count = queries.count_invitations(db.session, cycle)
    people = f", {counted(count, 'person', 'people')} to invite" if with_people else ""
    click.echo(
        f"draft “{cycle.title}” opens {cycle.opens_at.isoformat()}{people}; cycle {cycle.id}"
    )


@cycle_group.command("remind")
@click.argument("cycle_id")
@user_errors
def cycle_remind_command(cycle_id: str) -> None:
    """Queue a reminder now to everyone who has not answered, declined or failed (once a day)."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    remind_now(db.session, cycle, CLI_ACTOR)
    click.echo(
        f"cycle {cycle.id}: a reminder is queued for everyone who has not answered, "
        "declined or failed"
    )


@cycle_group.command("sender")
@click.argument("cycle_id")
@click.option("--name", default="", help="Who the invitations come from, e.g. the CEO's name")
@click.option("--role", default="", help="Their role, e.g. Chief Executive")
@click.option("--reply-to", default="", help="Where replies go (their email address)")
@click.option("--note", default="", help="A short personal note for the invitation")
@user_errors
def cycle_sender_command(cycle_id: str, name: str, role: str, reply_to: str, note: str) -> None:
    """Name who the invitations and reminders come from (no options: no named sender)."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    sender = cycle_service.Sender(name=name, role=role, reply_to=reply_to, note=note)
    cycle_service.set_sender(db.session, cycle, sender, CLI_ACTOR)
    who = ", ".join(p for p in (cycle.sender_name, cycle.sender_role) if p) or "the trust"
    click.echo(f"cycle {cycle.id}: invitations come from {who}")


invitation_group = AppGroup("invitation", help="Correct or remove one person invited to a cycle.")
cycle_group.add_command(invitation_group)


@invitation_group.command("edit")
@click.argument("cycle_id")
@click.argument("email")
@click.option("--email", "new_email", default=None, help="The corrected address")
@click.option("--name", default=None)
@click.option("--group", default=None, help="A group's key or label")
@click.option("--school", default=None)
@user_errors
def invitation_edit_command(
    cycle_id: str,
    email: str,
    new_email: str | None,
    name: str | None,
    group: str | None,
    school: str | None,
) -> None:
    """Correct the person invited at EMAIL (before they answer or decline)."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    invitation = recipient_service.find_invitation(db.session, cycle, email)
    changed = recipient_service.correct_invitation(
        db.session,
        cycle,
        invitation.id,
        email=new_email if new_email is not None else str(invitation.email),
        name=name if name is not None else invitation.name or "",
        group=group if group is not None else invitation.group.key,
        school=school if school is not None else invitation.school or "",
        actor=CLI_ACTOR,
    )
    click.echo(f"{changed.email}: {changed.name or '(no name)'}, {changed.group.label}")


@invitation_group.command("remove")
@click.argument("cycle_id")
@click.argument("email")
@user_errors
def invitation_remove_command(cycle_id: str, email: str) -> None:
    """Remove the person invited at EMAIL (before they answer or decline)."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    invitation = recipient_service.find_invitation(db.session, cycle, email)
    who = recipient_service.remove_invitation(db.session, cycle, invitation.id, CLI_ACTOR)
    click.echo(f"{who} removed from the cycle")
