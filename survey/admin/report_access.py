"""The CEO's pages for who reads the report and when: holding a report to review its comments
(hide, release), and the report recipients' read-only links (renew, revoke). The services are
survey/services/report_review.py and survey/services/report_links.py."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from survey.admin import bp
from survey.admin.auth import current_admin, visible_cycle
from survey.db import db
from survey.mail.outbox import send_report_link_again
from survey.models import Cycle, CycleState
from survey.reports.stored import get_report
from survey.services import report_links, report_review
from survey.templating import counted
from survey.timeutil import format_local, utcnow


def _back(cycle: Cycle, endpoint: str = "admin.cycle") -> ResponseReturnValue:
    return redirect(url_for(endpoint, cycle_id=cycle.id), code=303)


# -- the hold -------------------------------------------------------------------------------------


@bp.post("/cycles/<int:cycle_id>/report/hold")
def hold_report(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    choice = request.form.get("hold", "")
    if choice not in ("yes", "no"):
        flash("Choose whether to hold the report for a review of its comments.", "error")
        return _back(found)
    changed = report_review.set_report_hold(
        db.session, found, choice == "yes", current_admin().email
    )
    if changed:
        flash(
            "The report will wait for you to review its comments before it is emailed."
            if choice == "yes"
            else "The report will be emailed as soon as it is compiled.",
            "success",
        )
    return _back(found)


@bp.get("/cycles/<int:cycle_id>/report/review")
def review_report(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if not found.is_report_held:
        flash("This cycle's report is not held for review.", "error")
        return _back(found)
    elements = (
        report_review.list_review_comments(db.session, found)
        if found.state in (CycleState.CLOSED, CycleState.REPORTED)
        else []
    )
    return render_template(
        "admin/report_review.html",
        trust=found.trust,
        cycle=found,
        elements=elements,
        comment_total=sum(len(e.comments) for e in elements),
        hidden_total=report_review.count_hidden_comments(db.session, found),
        is_reviewable=found.state == CycleState.CLOSED and found.report_released_at is None,
        has_report=get_report(db.session, found) is not None,
        CycleState=CycleState,
    )


@bp.post("/cycles/<int:cycle_id>/report/review/comments")
def hide_comment(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    action = request.form.get("action", "")
    if action not in ("hide", "show"):
        abort(400)
    code = report_review.set_comment_hidden(
        db.session,
        found,
        request.form.get("comment", ""),
        current_admin().email,
        is_hidden=action == "hide",
    )
    flash(
        f"The comment on {code} is hidden: it will not be in the report."
        if action == "hide"
        else f"The comment on {code} will be in the report again.",
        "success",
    )
    return redirect(url_for("admin.review_report", cycle_id=found.id, _anchor=f"el-{code}"), 303)


@bp.post("/cycles/<int:cycle_id>/report/release")
def release_report(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    hidden = report_review.release_report(db.session, found, current_admin().email)
    flash(
        f"Released with {counted(hidden, 'comment')} hidden. The report is being "
        "compiled again and will be emailed to its recipients within a few minutes.",
        "success",
    )
    return _back(found)


# -- the recipients' links -------------------------------------------------------------------------


@bp.get("/cycles/<int:cycle_id>/report/links")
def report_links_page(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    return render_template(
        "admin/report_links.html",
        trust=found.trust,
        cycle=found,
        links=report_links.list_report_links(db.session, found),
        now=utcnow(),
        CycleState=CycleState,
        link_days=report_links.REPORT_LINK_DAYS,
    )


@bp.post("/cycles/<int:cycle_id>/report/links/<int:link_id>/send")
def send_new_report_link(cycle_id: int, link_id: int) -> ResponseReturnValue:
    """Email the report again to a link's recipient, with a new link of their own."""
    found = visible_cycle(cycle_id)
    link = send_report_link_again(db.session, found, link_id, current_admin().email)
    flash(
        f"The report email will be sent to {link.recipient} again within a minute, with a "
        "new link.",
        "success",
    )
    return _back(found, "admin.report_links_page")


@bp.post("/cycles/<int:cycle_id>/report/links/<int:link_id>/<any(renew, revoke):action>")
def change_report_link(cycle_id: int, link_id: int, action: str) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    change = (
        report_links.renew_report_link if action == "renew" else report_links.revoke_report_link
    )
    link = change(db.session, found, link_id, current_admin().email)
    flash(
        f"The link for {link.recipient} now works until "
        f"{format_local(link.expires_at, found.trust.timezone)}."
        if action == "renew"
        else f"The link for {link.recipient} no longer works.",
        "success",
    )
    return _back(found, "admin.report_links_page")
