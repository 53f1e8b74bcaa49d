"""The CEO's pages (SPEC section 9): trusts, a trust's frameworks, cycles, recipients, launch,
the live page, close and extend, the report and its downloads, purge, and the audit log.

Views are thin: parse the request, call one service, render or redirect. They never commit:
each view is one unit of work, committed once it returns (`survey.db.TransactionalBlueprint`).
A change a service refuses (UserError) is undone and shown by the error handlers below, or,
where the page shows it beside a form field, inside `db.savepoint()`. Every trust-scoped URL goes
through `_trust` / `_cycle`, which raise NotFound (a 404 page) for a trust the admin cannot see,
exactly as for one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound as PageNotFound

import framework as fw
from survey import queries
from survey.admin import auth, bp, presenters  # noqa: F401 - importing auth registers sign-in and sign-out
from survey.admin.auth import acting_email, current_admin, visible_cycle, visible_trust
from survey.admin.forms import CycleForm, PersonForm, TrustForm, first_errors
from survey.admin.pending import load_pending, sign_pending
from survey.config import get_settings
from survey.db import db, writes_on_get
from survey.errors import NotFound, UserError
from survey.mail import outbox
from survey.mail.messages import LINK_PLACEHOLDER, InvitationRenderer
from survey.mail.reminders import remind_now, skipped_reminders
from survey.models import AdminRole, Cycle, CycleState, Invitation, Report, Trust
from survey.queries import count_invitations
from survey.reports.stored import (
    REPORT_FILES,
    get_report,
    report_downloads,
    stored_report_html,
)
from survey.services import accounts, team, you_said
from survey.services import cycles as cycle_service
from survey.services import recipients as recipient_service
from survey.services.audit import record_event
from survey.services.frameworks import (
    add_trust_framework,
    get_cycle_framework,
    get_framework,
    get_trust_framework,
    list_framework_versions,
    read_framework_upload,
)
from survey.services.recipients import RecipientErrors
from survey.services.recipients import decode as decode_recipients
from survey.templating import counted, sentence
from survey.timeutil import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    DateOutOfRange,
    parse_datetime,
    time_zone_names,
    utcnow,
)


def _to_cycle(cycle: Cycle, message: str, category: str) -> ResponseReturnValue:
    """Back to the cycle's page, saying `message`."""
    flash(message, category)
    return redirect(url_for("admin.cycle", cycle_id=cycle.id), code=303)


# -- refusals -----------------------------------------------------------------------------------

# Where a refused action sends the person back to, when not to the cycle (or trust) page.
BACK_AFTER_REFUSAL = {
    "admin.launch": "admin.launch",
    "admin.confirm_recipients": "admin.recipients",
    "admin.resend": "admin.invitations",
    "admin.edit_invitation": "admin.invitations",
    "admin.remove_invitation": "admin.invitations",
    "admin.hide_comment": "admin.review_report",
    "admin.release_report": "admin.review_report",
    "admin.send_new_report_link": "admin.report_links_page",
    "admin.change_report_link": "admin.report_links_page",
}


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    """A trust, cycle or invitation that does not exist, or that this admin cannot see."""
    db.session.rollback()
    return render_template("error.html", error=PageNotFound()), 404


@bp.errorhandler(UserError)
def _refused(exc: UserError) -> ResponseReturnValue:
    """A service refused what was asked: nothing of it is kept; the reason is shown on the page
    the person goes back to."""
    db.session.rollback()
    flash(sentence(str(exc)), "error")
    args = request.view_args or {}
    if "cycle_id" in args:
        endpoint = BACK_AFTER_REFUSAL.get(request.endpoint or "", "admin.cycle")
        return redirect(url_for(endpoint, cycle_id=args["cycle_id"]), code=303)
    if "slug" in args:
        return redirect(url_for("admin.trust", slug=args["slug"]), code=303)
    return redirect(url_for("admin.trusts"), code=303)


# -- trusts -------------------------------------------------------------------------------------

MAX_AUDIT_PAGE = 1_000_000


@bp.get("/")
def trusts() -> ResponseReturnValue:
    visible = accounts.list_visible_trusts(db.session, current_admin())
    return render_template(
        "admin/trusts.html", trusts=visible, errors={}, form={}, timezones=time_zone_names()
    )


@bp.post("/trusts")
def create_trust() -> ResponseReturnValue:
    form = TrustForm(request.form)
    errors = {}
    if not form.validate():
        errors = first_errors(form)
    else:
        try:
            with db.savepoint():
                trust = accounts.create_trust_for(
                    db.session, current_admin(), form.name.data, form.timezone.data
                )
        except UserError as exc:
            errors[exc.field or "name"] = sentence(str(exc))
        else:
            flash(f"Trust “{trust.name}” created.", "success")
            return redirect(url_for("admin.trust", slug=trust.slug), code=303)
    visible = accounts.list_visible_trusts(db.session, current_admin())
    return (
        render_template(
            "admin/trusts.html",
            trusts=visible,
            errors=errors,
            form=form.data,
            timezones=time_zone_names(),
        ),
        422,
    )


@bp.get("/trusts/<slug>")
def trust(slug: str) -> ResponseReturnValue:
    found = visible_trust(slug)
    return render_template(
        "admin/trust.html",
        trust=found,
        cycles=list(reversed(found.cycles)),
        members=team.list_members(db.session, found),
        AdminRole=AdminRole,
    )


@bp.get("/trusts/<slug>/audit")
def audit(slug: str) -> ResponseReturnValue:
    found = visible_trust(slug)
    # A page number beyond what any trust's log could fill is simply an empty page.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_AUDIT_PAGE)
    events, has_more = queries.list_trust_audit(db.session, found, page)
    cycles = {c.id: c for c in found.cycles}
    return render_template(
        "admin/audit.html", trust=found, events=events, page=page, has_more=has_more, cycles=cycles
    )


# -- frameworks -----------------------------------------------------------------------------------

PASTED_SOURCE = "pasted text"


def _framework_upload() -> tuple[bytes | str, str]:
    """The uploaded file's bytes, or the pasted text, and the name the loader's errors use."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        # Some browsers send the whole client-side path; only its last part means anything here.
        return upload.read(), upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
    return request.form.get("text", ""), PASTED_SOURCE


def _line(text: str, number: int | None) -> str | None:
    """Line `number` (1-based) of `text`, to show beside the loader's complaint."""
    lines = text.splitlines()
    return lines[number - 1] if number and 0 < number <= len(lines) else None


@bp.route("/trusts/<slug>/frameworks", methods=["GET", "POST"])
def frameworks(slug: str) -> ResponseReturnValue:
    """The frameworks a trust can use, and the form that adds one of its own."""
    found = visible_trust(slug)
    context: dict[str, Any] = {"trust": found, "text": "", "error": None, "bad_line": None}
    if request.method == "POST":
        data, source = _framework_upload()
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        context["text"] = text
        if not text.strip():
            context["error"] = "Choose a framework file or paste its text."
        else:
            try:
                checked = read_framework_upload(data, source)
                with db.savepoint():
                    loaded, created = add_trust_framework(
                        db.session, found, checked, source, acting_email()
                    )
            except fw.FrameworkError as exc:
                # The loader's own line, unchanged: it names the file, the line and the reason.
                context["error"] = str(exc)
                if exc.line is not None:
                    context["bad_line"] = (exc.line, _line(text, exc.line))
            except UserError as exc:
                context["error"] = sentence(str(exc))
            else:
                questions = loaded.question_count(fw.parse_scope("all"))
                if created:
                    flash(
                        f"“{loaded.title}” loaded for {found.name}: "
                        f"{presenters.question_count_text(questions, len(loaded.elements))}, "
                        f"version {loaded.version}. It is now offered in the new-cycle form.",
                        "success",
                    )
                else:
                    flash(
                        f"“{loaded.title}” is already loaded in exactly this version "
                        f"({loaded.version}): nothing has changed.",
                        "success",
                    )
                return redirect(url_for("admin.frameworks", slug=found.slug), code=303)
    context["frameworks"] = presenters.list_trust_frameworks(db.session, found)
    status = 422 if context["error"] else 200
    return render_template("admin/frameworks.html", **context), status


@bp.get("/trusts/<slug>/frameworks/<key>")
def framework_preview(slug: str, key: str) -> ResponseReturnValue:
    """What a respondent would be asked, for `?scope=start|all|1A,2B` (like `framework show`)."""
    found = visible_trust(slug)
    loaded = get_trust_framework(db.session, found, key)
    scope_text = request.args.get("scope", "start")
    context: dict[str, Any] = {
        "trust": found,
        "framework": loaded,
        "scope_text": scope_text,
        "preview": None,
        "error": None,
    }
    try:
        context["preview"] = presenters.preview_framework(loaded, scope_text)
    except fw.FrameworkError as exc:
        context["error"] = sentence(exc.reason)
    status = 422 if context["error"] else 200
    return render_template("admin/framework.html", **context), status


# -- the cycle form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameworkChoice:
    key: str
    title: str
    framework: fw.Framework
    scopes: list[presenters.ScopeOption]


def _framework_choices(trust: Trust) -> list[FrameworkChoice]:
    choices = []
    for row in list_framework_versions(db.session, trust):
        loaded = get_framework(db.session, row.key, row.version)
        choices.append(
            FrameworkChoice(row.key, row.title, loaded, presenters.scope_options(loaded))
        )
    return choices


def _render_cycle_form(
    trust: Trust, form: CycleForm, cycle: Cycle | None, status: int = 200
) -> ResponseReturnValue:
    frameworks = _framework_choices(trust)
    scope_summary = None
    chosen = next((c for c in frameworks if c.key == form.framework.data), None)
    codes = form.scope_codes.data
    if chosen and form.scope.data == "codes" and codes and "scope" not in form.messages:
        try:
            scope_summary = presenters.describe_scope(chosen.framework, codes)
        except fw.FrameworkError:
            scope_summary = None  # the error itself is reported when the form is saved
    return (
        render_template(
            "admin/cycle_form.html",
            trust=trust,
            cycle=cycle,
            form=form,
            frameworks=frameworks,
            previous_choices=queries.list_previous_cycle_choices(db.session, trust, cycle),
            scope_summary=scope_summary,
        ),
        status,
    )


def _save_cycle_form(trust: Trust, cycle: Cycle | None) -> ResponseReturnValue:
    form = CycleForm.from_request(request.form)
    if request.form.get("action") == "add-group":
        form.add_blank_rows()
        return _render_cycle_form(trust, form, cycle)
    settings = form.to_settings(trust.timezone)
    if settings is not None:
        try:
            with db.savepoint():
                if cycle is None:
                    cycle = cycle_service.create_cycle(db.session, trust, settings, acting_email())
                    message = (
                        f"Draft cycle “{cycle.title}” created. Next, add the people to invite."
                    )
                else:
                    cycle_service.update_cycle(db.session, cycle, settings, acting_email())
                    message = "Changes saved."
        except UserError as exc:
            form.messages[exc.field or "title"] = sentence(str(exc))
        else:
            flash(message, "success")
            return redirect(url_for("admin.cycle", cycle_id=cycle.id), code=303)
    form.add_blank_rows(0 if form.has_blank_row() else 1)
    return _render_cycle_form(trust, form, cycle, 422)


@bp.route("/trusts/<slug>/cycles/new", methods=["GET", "POST"])
def new_cycle(slug: str) -> ResponseReturnValue:
    found = visible_trust(slug)
    if request.method == "POST":
        return _save_cycle_form(found, None)
    return _render_cycle_form(found, CycleForm.blank(), None)


@bp.route("/cycles/<int:cycle_id>/edit", methods=["GET", "POST"])
def edit_cycle(cycle_id: int) -> ResponseReturnValue:
    cycle = visible_cycle(cycle_id)
    if not cycle.is_editable:
        flash("This cycle has been launched: its set-up can no longer be changed.", "error")
        return redirect(url_for("admin.cycle", cycle_id=cycle.id), code=303)
    if request.method == "POST":
        return _save_cycle_form(cycle.trust, cycle)
    return _render_cycle_form(cycle.trust, CycleForm.from_cycle(cycle), cycle)


# -- the cycle page (the live page once launched) -------------------------------------------------


def _render_cycle(
    found: Cycle, errors: dict[str, str] | None = None, closes: str = "", status: int = 200
) -> ResponseReturnValue:
    """The cycle page; with `errors` (and what was typed) when the extend form was refused."""
    framework = get_cycle_framework(db.session, found)
    page = render_template(
        "admin/cycle.html",
        trust=found.trust,
        cycle=found,
        framework=framework,
        scope_summary=presenters.describe_scope(framework, found.scope),
        live=presenters.live_status(db.session, found),
        added_after_launch=queries.list_added_after_launch(db.session, found),
        has_report=_report(found) is not None,
        report_emails=queries.list_report_emails(db.session, found),
        clock_notice=presenters.get_clock_notice(db.session, found),
        skipped_reminders=skipped_reminders(found) if found.opened_at is None else [],
        CycleState=CycleState,
        errors=errors or {},
        closes=closes,
    )
    return page, status


@bp.get("/cycles/<int:cycle_id>")
def cycle(cycle_id: int) -> ResponseReturnValue:
    return _render_cycle(visible_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/extend")
def extend(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    value = request.form.get("closes", "").strip()
    try:
        if not value:
            raise UserError("enter the new close date and time")
        closes_at = parse_datetime(value, found.trust.timezone)
        with db.savepoint():
            cycle_service.extend_cycle(db.session, found, closes_at, acting_email())
    except UserError as exc:
        message = sentence(str(exc))
        if isinstance(exc, DateOutOfRange):
            message = (
                f"Enter the new close date between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
            )
        return _render_cycle(found, {"closes": message}, value, 422)
    return _to_cycle(found, "The close date has been moved.", "success")


@bp.route("/cycles/<int:cycle_id>/close", methods=["GET", "POST"])
def close(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if request.method == "POST":
        cycle_service.close_cycle(db.session, found, acting_email())
        return _to_cycle(
            found,
            "The cycle is closed and the responses are sealed. The report will be "
            "compiled and emailed shortly.",
            "success",
        )
    if not found.can_close:
        return _to_cycle(found, "Only an open cycle can be closed.", "error")
    live = presenters.live_status(db.session, found)
    return render_template("admin/close.html", trust=found.trust, cycle=found, live=live)


@bp.route("/cycles/<int:cycle_id>/launch", methods=["GET", "POST"])
def launch(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if request.method == "POST":
        cycle_service.launch_cycle(db.session, found, acting_email())
        if found.is_open:
            flash("Launched: the cycle is open and the invitations are being sent.", "success")
        else:
            return _to_cycle(
                found, "Launched: the invitations will be sent when the cycle opens.", "success"
            )
    if not found.can_launch:
        return _to_cycle(found, "This cycle has already been launched.", "error")
    groups = queries.group_counts(db.session, found)
    return render_template(
        "admin/launch.html",
        trust=found.trust,
        cycle=found,
        groups=groups,
        total=sum(g.invited for g in groups),
        opens_now=found.opens_at <= utcnow(),
        comment_threshold=found.comment_threshold,
        skipped_reminders=skipped_reminders(found),
    )


@bp.route("/cycles/<int:cycle_id>/remind", methods=["GET", "POST"])
def remind(cycle_id: int) -> ResponseReturnValue:
    """Remind everyone who has not answered, now (at most once a day)."""
    found = visible_cycle(cycle_id)
    if request.method == "POST":
        remind_now(db.session, found, acting_email())
        # No count: with the response rates it would tell who is still to answer.
        return _to_cycle(
            found,
            "A reminder is on its way to everyone who has not answered yet. "
            "You can send another tomorrow.",
            "success",
        )
    if not found.is_open:
        return _to_cycle(found, "Reminders can be sent only while the cycle is open.", "error")
    return render_template("admin/remind.html", trust=found.trust, cycle=found)


@bp.route("/cycles/<int:cycle_id>/copy", methods=["GET", "POST"])
def copy_cycle(cycle_id: int) -> ResponseReturnValue:
    """A new draft from this cycle (its set-up, optionally its people), with it as the
    previous cycle."""
    found = visible_cycle(cycle_id)
    errors: dict[str, str] = {}
    title = request.form.get("title", "").strip()
    with_people = request.form.get("with_people") == "yes"
    if request.method == "POST":
        try:
            with db.savepoint():
                copied = cycle_service.copy_cycle(
                    db.session, found, acting_email(), title=title, with_people=with_people
                )
        except UserError as exc:
            errors[exc.field or ("with_people" if with_people else "title")] = sentence(str(exc))
        else:
            flash(
                f"Draft cycle “{copied.title}” created from “{found.title}”. "
                "Check its dates and set-up before you launch.",
                "success",
            )
            return redirect(url_for("admin.cycle", cycle_id=copied.id), code=303)
    page = render_template(
        "admin/copy.html",
        trust=found.trust,
        cycle=found,
        errors=errors,
        title=title or f"{found.title} (copy)",
        with_people=with_people or request.method == "GET",
        invited=count_invitations(db.session, found),
        next_year=utcnow().year + 1,
    )
    return page, 422 if errors else 200


@bp.route("/cycles/<int:cycle_id>/sender", methods=["GET", "POST"])
def sender(cycle_id: int) -> ResponseReturnValue:
    """Who the invitations come from, where replies go, a personal note; with a preview."""
    found = visible_cycle(cycle_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        typed = cycle_service.Sender(
            name=request.form.get("sender_name", ""),
            role=request.form.get("sender_role", ""),
            reply_to=request.form.get("reply_to", ""),
            note=request.form.get("invitation_note", ""),
        )
        try:
            with db.savepoint():
                cycle_service.set_sender(db.session, found, typed, acting_email())
        except UserError as exc:
            errors[exc.field or "sender_name"] = sentence(str(exc))
        else:
            flash("Saved: the invitations and reminders not yet sent will say this.", "success")
            return redirect(url_for("admin.sender", cycle_id=found.id), code=303)
    else:
        typed = cycle_service.Sender(
            name=found.sender_name or "",
            role=found.sender_role or "",
            reply_to=found.reply_to or "",
            note=found.invitation_note or "",
        )
    sample_group = found.groups[0] if found.groups else None
    preview, preview_text = None, ""
    if sample_group is not None and not errors:
        sample = Invitation(name="Sam Jones", group_id=sample_group.id, group=sample_group)
        preview = InvitationRenderer(db.session, found).invitation(sample)
        preview_text = preview.text.replace(LINK_PLACEHOLDER, "[their own personal link]")
    # As a mail client shows the From header that survey.mail.messages.sender_header writes.
    mail_from = get_settings().mail_from
    service_address = parseaddr(mail_from)[1]
    shown = found.sender_display_name
    shown_from = f"{shown} <{service_address}>" if shown else mail_from
    page = render_template(
        "admin/sender.html",
        trust=found.trust,
        cycle=found,
        form=typed,
        errors=errors,
        preview=preview,
        preview_text=preview_text,
        shown_from=shown_from,
        mail_from=mail_from,
        note_max=cycle_service.INVITATION_NOTE_MAX,
    )
    return page, 422 if errors else 200


# -- recipients -----------------------------------------------------------------------------------


def _uploaded_text() -> str | bytes:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read()
    return request.form.get("rows", "")


def _preview_upload(cycle: Cycle, context: dict[str, Any]) -> None:
    """Check the uploaded or pasted rows into `context` (the preview, or the error)."""
    try:
        # Decoded once, here: the preview and the confirmation both use this very text.
        text = decode_recipients(_uploaded_text())
        context["text"] = text
        if not text.strip():
            context["error"] = "Choose a CSV file or paste the rows, with the header line first."
            return
        preview = presenters.preview_recipients(db.session, cycle, text)
    except UserError as exc:
        context["error"] = sentence(str(exc))
        return
    context["preview"] = preview
    if preview.is_valid:
        context["pending"] = sign_pending(cycle.id, current_admin().id, text)


@bp.route("/cycles/<int:cycle_id>/recipients", methods=["GET", "POST"])
def recipients(cycle_id: int) -> ResponseReturnValue:
    """Upload or paste; the POST only checks and previews, it never saves."""
    found = visible_cycle(cycle_id)
    context: dict[str, Any] = {
        "trust": found.trust,
        "cycle": found,
        "preview": None,
        "error": None,
        "text": "",
    }
    if request.method == "POST":
        _preview_upload(found, context)
        status = 200 if context["preview"] and context["preview"].is_valid else 422
        return render_template("admin/recipients.html", **context), status
    return render_template("admin/recipients.html", **context)


@bp.get("/cycles/<int:cycle_id>/recipients/template.csv")
def recipients_template(cycle_id: int) -> ResponseReturnValue:
    """A CSV to fill in: the header, and one example row per group of this cycle."""
    found = visible_cycle(cycle_id)
    response = Response(recipient_service.template_csv(found), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="people-to-invite.csv"'
    return response


@bp.post("/cycles/<int:cycle_id>/recipients/confirm")
def confirm_recipients(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    text = load_pending(request.form.get("pending", ""), found.id, current_admin().id)
    if text is None:
        flash("That preview has expired. Please upload the file again.", "error")
        return redirect(url_for("admin.recipients", cycle_id=found.id), code=303)
    try:
        with db.savepoint():
            invitations = recipient_service.import_recipients(
                db.session, found, text, acting_email()
            )
    except RecipientErrors:
        # Something changed since the preview (someone else added people): check again.
        preview = presenters.preview_recipients(db.session, found, text)
        return (
            render_template(
                "admin/recipients.html",
                trust=found.trust,
                cycle=found,
                preview=preview,
                error="The file no longer checks out: see the rows flagged below.",
                text=text,
            ),
            422,
        )
    flash(f"{counted(len(invitations), 'person', 'people')} added to the cycle.", "success")
    return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)


def _person(form: PersonForm) -> dict[str, str]:
    """One person as the forms give them, for the recipient services."""
    return {name: form[name].data or "" for name in ("email", "name", "group", "school")}


@bp.post("/cycles/<int:cycle_id>/recipients/add")
def add_person(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    form = PersonForm(request.form)
    if not form.validate():
        return _render_invitations(found, first_errors(form), form.data, 422)
    try:
        with db.savepoint():
            invitation = recipient_service.add_one_person(
                db.session, found, **_person(form), actor=acting_email()
            )
    except UserError as exc:
        message = sentence(str(exc))
        return _render_invitations(found, {exc.field or "email": message}, form.data, 422)
    when = "now" if found.is_open else "when the cycle opens"
    flash(f"{invitation.email} added; their invitation will be sent {when}.", "success")
    return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)


def _render_invitations(
    found: Cycle,
    errors: dict[str, str] | None = None,
    person: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """The invitation list; with `errors` (and what was typed) when adding a person failed."""
    page = render_template(
        "admin/invitations.html",
        trust=found.trust,
        cycle=found,
        invitations=presenters.list_invitations(db.session, found),
        CycleState=CycleState,
        errors=errors or {},
        person=person or {},
    )
    return page, status


@bp.get("/cycles/<int:cycle_id>/invitations")
def invitations(cycle_id: int) -> ResponseReturnValue:
    return _render_invitations(visible_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/invitations/<int:invitation_id>/resend")
def resend(cycle_id: int, invitation_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    invitation = recipient_service.resend_invitation(
        db.session, found, invitation_id, acting_email()
    )
    # The same words whether or not the person has answered: the page must not tell.
    flash(
        f"A fresh invitation email will be sent to {invitation.email}, unless they have "
        "already answered or said they will not take part (this page never says which).",
        "success",
    )
    return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)


@bp.route("/cycles/<int:cycle_id>/invitations/<int:invitation_id>", methods=["GET", "POST"])
def edit_invitation(cycle_id: int, invitation_id: int) -> ResponseReturnValue:
    """Correct one person's name, email, group or school (before they answer or decline)."""
    found = visible_cycle(cycle_id)
    invitation = recipient_service.get_cycle_invitation(db.session, found, invitation_id)
    errors: dict[str, str] = {}
    person = {
        "email": invitation.email or "",
        "name": invitation.name or "",
        "group": invitation.group.key,
        "school": invitation.school or "",
    }
    if request.method == "POST":
        form = PersonForm(request.form)
        person = dict(form.data)
        if not form.validate():
            errors = first_errors(form)
        else:
            try:
                with db.savepoint():
                    recipient_service.correct_invitation(
                        db.session, found, invitation_id, **_person(form), actor=acting_email()
                    )
            except UserError as exc:
                if exc.field is None:
                    raise  # not about one field (the person has answered): the handler says so
                errors[exc.field] = sentence(str(exc))
            else:
                flash("Saved.", "success")
                return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)
    page = render_template(
        "admin/invitation.html",
        trust=found.trust,
        cycle=found,
        invitation=invitation,
        person=person,
        errors=errors,
    )
    return page, 422 if errors else 200


@bp.post("/cycles/<int:cycle_id>/invitations/<int:invitation_id>/remove")
def remove_invitation(cycle_id: int, invitation_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    who = recipient_service.remove_invitation(db.session, found, invitation_id, acting_email())
    flash(f"{who} removed: their link no longer works and they are not counted.", "success")
    return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)


# -- report, downloads, purge ---------------------------------------------------------------------


def _report(cycle: Cycle) -> Report | None:
    return get_report(db.session, cycle)


@bp.get("/cycles/<int:cycle_id>/report")
def report(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    compiled = _report(found)
    if compiled is None:
        abort(404, description="The report for this cycle has not been compiled yet.")
    # The stored report.html's body: exactly the board paper that was emailed. Its templates
    # escaped everything people typed, and it comes back as Markup.
    body = stored_report_html(compiled, current_app.jinja_env, standalone=False)
    files = report_downloads(compiled)
    return render_template(
        "admin/report.html",
        trust=found.trust,
        cycle=found,
        report=compiled,
        body=body,
        files=files,
        report_emails=queries.list_report_emails(db.session, found),
        CycleState=CycleState,
    )


@bp.post("/cycles/<int:cycle_id>/report/emails/<int:message_id>/resend")
def resend_report_email(cycle_id: int, message_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    row = outbox.resend_report_email(db.session, found, message_id, acting_email())
    flash(f"The report email to {row.recipient} will be sent again within a minute.", "success")
    if request.form.get("back") == "report" and _report(found) is not None:
        return redirect(url_for("admin.report", cycle_id=found.id), code=303)
    return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)


@bp.get("/cycles/<int:cycle_id>/report/<name>")
@writes_on_get  # each download is recorded in the audit log
def download(cycle_id: int, name: str) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    compiled = _report(found)
    stored = compiled.file(name) if compiled is not None and name in REPORT_FILES else None
    if stored is None:
        abort(404)
    record_event(db.session, acting_email(), "report.download", cycle=found, detail=name)
    response = Response(stored.content, mimetype=stored.content_type)
    filename = f"{found.trust.slug}-cycle-{found.id}-{name}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response  # sent with Cache-Control: no-store, as every admin response (auth.py)


@bp.route("/cycles/<int:cycle_id>/purge", methods=["GET", "POST"])
def purge(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if request.method == "POST":
        count = cycle_service.purge_cycle(db.session, found, acting_email())
        return _to_cycle(
            found,
            f"Names and email addresses removed from {counted(count, 'invitation')}.",
            "success",
        )
    if not found.can_purge:
        return _to_cycle(
            found, "Personal data can be removed only once the report has been sent.", "error"
        )
    invited = count_invitations(db.session, found)
    return render_template(
        "admin/purge.html",
        trust=found.trust,
        cycle=found,
        invited=invited,
        follow_up=you_said.status(db.session, found),
    )
