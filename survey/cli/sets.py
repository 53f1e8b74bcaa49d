"""`mat-review set create|invite|accept|decline|leave|share|withdraw|list|report|peer-review|
benchmark`: learning sets, peer reviews and the deployment benchmark (SPEC section 11), as the
set pages do them. `--by EMAIL` names the account acting (a coordinator, or an admin of the
trust), whose rights are checked exactly as on the pages and who is named in the audit log."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from survey.cli.common import out_dir_option, user_errors
from survey.db import db
from survey.errors import NotFound, UserError
from survey.models import AdminUser, Cycle, LearningSet, Trust
from survey.reports import set_figures
from survey.reports import sets as set_outputs
from survey.reports.files import render_pdf
from survey.reports.stored import write_files
from survey.services import sets as set_service
from survey.services.accounts import find_admin
from survey.services.frameworks import get_current_version, get_framework

set_group = AppGroup("set", help="Learning sets, peer reviews and the deployment benchmark.")


def _admin(email: str) -> AdminUser:
    admin = find_admin(db.session, email)
    if admin is None or not admin.is_active:
        raise UserError(f"no active account for {email!r}")
    return admin


def _trust(slug: str) -> Trust:
    trust = db.session.scalar(select(Trust).where(Trust.slug == slug))
    if trust is None:
        raise NotFound(f"no trust {slug!r}")
    return trust


def _cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(f"no cycle {cycle_id}")
    return cycle


BY = click.option("--by", "by", required=True, help="The email of the account acting.")


@set_group.command("create")
@click.argument("name")
@BY
@click.option("--kind", default="learning", show_default=True, help="learning or peer-review")
@click.option("--framework", "framework_key", default="mat-assurance", show_default=True)
@user_errors
def create_command(name: str, by: str, kind: str, framework_key: str) -> None:
    """Create a set with BY as its coordinator; prints its id (the last word)."""
    lset = set_service.create_set(
        db.session, _admin(by), name, set_service.parse_kind(kind), framework_key
    )
    click.echo(f"{set_service.KIND_WORDS[lset.kind]} {lset.name!r} created with id {lset.id}")


@set_group.command("coordinator")
@click.argument("set_id", type=int)
@click.argument("email")
@BY
@user_errors
def coordinator_command(set_id: int, email: str, by: str) -> None:
    """Add a coordinator."""
    lset = set_service.get_set(db.session, set_id)
    added = set_service.add_coordinator(db.session, lset, email, _admin(by))
    click.echo(f"{added.email} coordinates {lset.name}")


@set_group.command("invite")
@click.argument("set_id", type=int)
@click.argument("email")
@BY
@click.option("--trust", "trust_slug", default=None, help="When EMAIL runs several trusts.")
@user_errors
def invite_command(set_id: int, email: str, by: str, trust_slug: str | None) -> None:
    """Invite the trust EMAIL is an admin of (they are emailed)."""
    lset = set_service.get_set(db.session, set_id)
    membership = set_service.invite_trust(db.session, lset, email, _admin(by), trust_slug)
    click.echo(f"{membership.trust.name} invited to {lset.name}")


def _answer(set_id: int, slug: str, by: str, *, accept: bool) -> None:
    lset = set_service.get_set(db.session, set_id)
    membership = set_service.answer_invitation(
        db.session, lset, _trust(slug), _admin(by), accept=accept
    )
    click.echo(f"{membership.trust.name} {membership.state.value} {lset.name}")


@set_group.command("accept")
@click.argument("set_id", type=int)
@click.option("--trust", "slug", required=True)
@BY
@user_errors
def accept_command(set_id: int, slug: str, by: str) -> None:
    """Accept the set's invitation for the trust."""
    _answer(set_id, slug, by, accept=True)


@set_group.command("decline")
@click.argument("set_id", type=int)
@click.option("--trust", "slug", required=True)
@BY
@user_errors
def decline_command(set_id: int, slug: str, by: str) -> None:
    """Decline the set's invitation for the trust."""
    _answer(set_id, slug, by, accept=False)


@set_group.command("leave")
@click.argument("set_id", type=int)
@click.option("--trust", "slug", required=True)
@BY
@user_errors
def leave_command(set_id: int, slug: str, by: str) -> None:
    """The trust leaves the set (its shares are withdrawn)."""
    lset = set_service.get_set(db.session, set_id)
    withdrawn = set_service.leave_set(db.session, lset, _trust(slug), _admin(by))
    click.echo(f"left {lset.name}; {withdrawn} share(s) withdrawn")


@set_group.command("share")
@click.argument("set_id", type=int)
@click.argument("cycle_id", type=int)
@BY
@click.option("--as-name/--as-letter", "as_name", default=False, show_default=True)
@user_errors
def share_command(set_id: int, cycle_id: int, by: str, as_name: bool) -> None:
    """Share a reported cycle with the set, by name or as the trust's letter."""
    lset = set_service.get_set(db.session, set_id)
    cycle = _cycle(cycle_id)
    set_service.share_cycle(db.session, lset, cycle, _admin(by), as_name=as_name)
    membership = lset.membership_of(cycle.trust)
    shown = cycle.trust.name if as_name or membership is None else membership.letter_name
    click.echo(f"cycle {cycle.id} shared with {lset.name} as {shown}")


@set_group.command("withdraw")
@click.argument("set_id", type=int)
@click.argument("cycle_id", type=int)
@BY
@user_errors
def withdraw_command(set_id: int, cycle_id: int, by: str) -> None:
    """Withdraw a cycle's share from the set."""
    lset = set_service.get_set(db.session, set_id)
    set_service.withdraw_share(db.session, lset, _cycle(cycle_id), _admin(by))
    click.echo(f"cycle {cycle_id} withdrawn from {lset.name}")


@set_group.command("list")
@user_errors
def list_command() -> None:
    """Every set with its members' states."""
    for lset in db.session.scalars(select(LearningSet).order_by(LearningSet.id)):
        members = ", ".join(f"{m.trust.slug}:{m.state.value}" for m in lset.memberships)
        sharing = set_service.sharing_trust_count(db.session, lset)
        click.echo(f"{lset.id}\t{lset.kind.value}\t{lset.name}\t{sharing} sharing\t{members}")


@set_group.command("report")
@click.argument("set_id", type=int)
@out_dir_option("set-report.html, set-report.pdf and set-report.xlsx")
@user_errors
def report_command(set_id: int, out_dir: Path) -> None:
    """Write the set's report (set-report.html, .pdf, .xlsx) from the stored figures."""
    lset = set_service.get_set(db.session, set_id)
    report = set_figures.build_set_report(db.session, lset)
    if not report.is_shown:
        raise UserError(report.reason)
    html = str(set_outputs.render_set_html(report))
    written = write_files(
        out_dir,
        {
            "set-report.html": html.encode("utf-8"),
            "set-report.pdf": render_pdf(html),
            "set-report.xlsx": set_outputs.set_report_xlsx(report),
        },
    )
    click.echo(f"set report written to {written['set-report.pdf'].parent}")


@set_group.command("peer-review")
@click.argument("set_id", type=int)
@out_dir_option("set-report.html, set-report.pdf and set-report.xlsx")
@click.option("--elements", default="", help="Element codes, e.g. 1A,2B (default: all).")
@user_errors
def peer_review_command(set_id: int, out_dir: Path, elements: str) -> None:
    """Write the peer review pack (peer-review.pdf and .html)."""
    lset = set_service.get_set(db.session, set_id)
    codes = [c.strip().upper() for c in elements.split(",") if c.strip()]
    review = set_figures.build_peer_review(db.session, lset, codes)
    if not review.is_shown:
        raise UserError(review.reason)
    html = str(set_outputs.render_peer_review_html(review))
    written = write_files(
        out_dir,
        {"peer-review.html": html.encode("utf-8"), "peer-review.pdf": render_pdf(html)},
    )
    click.echo(f"peer review pack written to {written['peer-review.pdf'].parent}")


@set_group.command("benchmark")
@click.option("--trust", "slug", required=True)
@click.option("--framework", "framework_key", default="mat-assurance", show_default=True)
@click.option("--opt-in/--opt-out", "opt", default=None, help="Change the trust's choice.")
@click.option("--by", "by", default=None, help="The admin acting (to opt in or out).")
@user_errors
def benchmark_command(slug: str, framework_key: str, opt: bool | None, by: str | None) -> None:
    """Opt the trust in or out, and print where it sits among the trusts that opted in."""
    trust = _trust(slug)
    if opt is not None:
        if by is None:
            raise UserError("--by EMAIL is needed to opt in or out")
        set_service.set_benchmark_opt_in(db.session, trust, framework_key, _admin(by), opt_in=opt)
        click.echo(f"{trust.name} {'opted in to' if opt else 'opted out of'} the benchmark")
    if not set_service.is_opted_in(db.session, trust, framework_key):
        raise UserError(f"{trust.name} has not opted in to the {framework_key} benchmark")
    table = set_figures.build_benchmark(db.session, framework_key)
    if not table.is_shown:
        raise UserError(
            f"the benchmark is shown once {set_service.MIN_BENCHMARK_TRUSTS} trusts have opted "
            f"in with a reported cycle ({table.trust_count} so far)"
        )
    version = get_current_version(db.session, framework_key)
    framework = get_framework(db.session, framework_key, version.version)
    click.echo(f"{trust.name} among {table.trust_count} trusts ({framework.title})")
    for position in set_figures.positions(table, framework, trust.id):
        q = position.quartiles
        cuts = f"quartiles {q.lower:.2f} / {q.median:.2f} / {q.upper:.2f}" if q else ""
        click.echo(
            f"{position.element.code}\t{position.mean}\t{position.quarter_words}\t{cuts}".rstrip()
        )
