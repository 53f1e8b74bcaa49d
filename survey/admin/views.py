"""The CEO's pages (SPEC section 9): trusts, a trust's frameworks, cycles, recipients, launch,
the live page, close and extend, the report and its downloads, purge, and the audit log.

Views are thin: parse the request, call one service, commit once, render or redirect. Every
trust-scoped URL goes through `_trust` / `_cycle`, which answer 404 for a trust the admin cannot
see, exactly as for one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

import framework as fw
from survey.admin import auth, bp  # noqa: F401 - importing auth registers sign-in and sign-out
from survey.admin.auth import current_admin
from survey.admin.forms import CycleForm, PersonForm, TrustForm, first_errors
from survey.admin.pending import load_pending, sign_pending
from survey.db import db, writes_on_get
from survey.errors import NotFound, UserError
from survey.models import Cycle, CycleState, Report, Trust
from survey.queries import count_invitations
from survey.reports.stored import get_report, stored_report_html
from survey.services import accounts, admin_views
from survey.services import cycles as cycle_service
from survey.services.audit import record_event
from survey.services.frameworks import (
    add_trust_framework,
    get_cycle_framework,
    get_framework,
    list_framework_versions,
)
from survey.services.recipients import RecipientErrors
from survey.services.recipients import decode as decode_recipients
from survey.timeutil import EARLIEST_YEAR, LATEST_YEAR, DateOutOfRange, parse_datetime, utcnow

# The files a compiled report offers for download, in the order the page lists them.
DOWNLOADS: dict[str, str] = {
    "report.pdf": "The board paper (PDF, A4)",
    "results.xlsx": "Spreadsheet: heat map, movement, one sheet per group, comments",
    "summary.csv": "Summary figures (CSV)",
    "heatmap.png": "Heat map image for slides (PNG)",
    "gaps.png": "Group means side by side, for slides (PNG)",
    "report.html": "The report as a web page, readable offline (HTML)",
}


def _trust(slug: str) -> Trust:
    try:
        return accounts.get_visible_trust(db.session, current_admin(), slug)
    except NotFound:
        abort(404)


def _cycle(cycle_id: int) -> Cycle:
    try:
        return accounts.get_visible_cycle(db.session, current_admin(), cycle_id)
    except NotFound:
        abort(404)


def _actor() -> str:
    return current_admin().email


def _fail(exc: UserError) -> None:
    db.session.rollback()
    flash(_sentence(str(exc)), "error")


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


# -- trusts -------------------------------------------------------------------------------------

MAX_AUDIT_PAGE = 1_000_000


@bp.get("/")
def trusts() -> ResponseReturnValue:
    visible = accounts.list_visible_trusts(db.session, current_admin())
    return render_template("admin/trusts.html", trusts=visible, errors={}, form={})


@bp.post("/trusts")
def create_trust() -> ResponseReturnValue:
    form = TrustForm(request.form)
    errors = {}
    if not form.validate():
        errors = first_errors(form)
    else:
        try:
            trust = accounts.create_trust_for(
                db.session, current_admin(), form.name.data, form.timezone.data
            )
        except UserError as exc:
            db.session.rollback()
            errors["timezone"] = _sentence(str(exc))
        else:
            db.session.commit()
            flash(f"Trust “{trust.name}” created.", "success")
            return redirect(url_for("admin.trust", slug=trust.slug), code=303)
    visible = accounts.list_visible_trusts(db.session, current_admin())
    return (
        render_template("admin/trusts.html", trusts=visible, errors=errors, form=form.data),
        422,
    )


@bp.get("/trusts/<slug>")
def trust(slug: str) -> ResponseReturnValue:
    found = _trust(slug)
    return render_template("admin/trust.html", trust=found, cycles=list(reversed(found.cycles)))


@bp.get("/trusts/<slug>/audit")
def audit(slug: str) -> ResponseReturnValue:
    found = _trust(slug)
    # A page number beyond what any trust's log could fill is simply an empty page.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_AUDIT_PAGE)
    events, has_more = admin_views.list_trust_audit(db.session, found, page)
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
    found = _trust(slug)
    context: dict[str, Any] = {"trust": found, "text": "", "error": None, "bad_line": None}
    if request.method == "POST":
        data, source = _framework_upload()
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        context["text"] = text
        if not text.strip():
            context["error"] = "Choose a framework file or paste its text."
        else:
            try:
                checked = admin_views.read_framework_upload(data, source)
                loaded, created = add_trust_framework(db.session, found, checked, source, _actor())
            except fw.FrameworkError as exc:
                db.session.rollback()
                # The loader's own line, unchanged: it names the file, the line and the reason.
                context["error"] = str(exc)
                if exc.line is not None:
                    context["bad_line"] = (exc.line, _line(text, exc.line))
            except UserError as exc:
                db.session.rollback()
                context["error"] = _sentence(str(exc))
            else:
                db.session.commit()
                questions = loaded.question_count(fw.parse_scope("all"))
                if created:
                    flash(
                        f"“{loaded.title}” loaded for {found.name}: "
                        f"{admin_views.question_count_text(questions, len(loaded.elements))}, "
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
    context["frameworks"] = admin_views.list_trust_frameworks(db.session, found)
    status = 422 if context["error"] else 200
    return render_template("admin/frameworks.html", **context), status


@bp.get("/trusts/<slug>/frameworks/<key>")
def framework_preview(slug: str, key: str) -> ResponseReturnValue:
    """What a respondent would be asked, for `?scope=start|all|1A,2B` (like `framework show`)."""
    found = _trust(slug)
    try:
        loaded = admin_views.get_trust_framework(db.session, found, key)
    except NotFound:
        abort(404)
    scope_text = request.args.get("scope", "start")
    context: dict[str, Any] = {
        "trust": found,
        "framework": loaded,
        "scope_text": scope_text,
        "preview": None,
        "error": None,
    }
    try:
        context["preview"] = admin_views.preview_framework(loaded, scope_text)
    except fw.FrameworkError as exc:
        context["error"] = _sentence(exc.reason)
    status = 422 if context["error"] else 200
    return render_template("admin/framework.html", **context), status


# -- the cycle form -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameworkChoice:
    key: str
    title: str
    framework: fw.Framework
    scopes: list[admin_views.ScopeOption]


def _framework_choices(trust: Trust) -> list[FrameworkChoice]:
    choices = []
    for row in list_framework_versions(db.session, trust):
        loaded = get_framework(db.session, row.key, row.version)
        choices.append(
            FrameworkChoice(row.key, row.title, loaded, admin_views.scope_options(loaded))
        )
    return choices


def _render_cycle_form(
    trust: Trust, form: CycleForm, cycle: Cycle | None, status: int = 200
) -> ResponseReturnValue:
    frameworks = _framework_choices(trust)
    scope_summary = None
    chosen = next((c for c in frameworks if c.key == form.framework), None)
    if chosen and form.scope_kind == "codes" and form.scope_codes and "scope" not in form.errors:
        try:
            scope_summary = admin_views.describe_scope(chosen.framework, form.scope_codes)
        except fw.FrameworkError:
            scope_summary = None  # the error itself is reported when the form is saved
    return (
        render_template(
            "admin/cycle_form.html",
            trust=trust,
            cycle=cycle,
            form=form,
            frameworks=frameworks,
            previous_choices=admin_views.list_previous_cycle_choices(db.session, trust, cycle),
            scope_summary=scope_summary,
        ),
        status,
    )


def _field_for(message: str) -> str:
    """Which field a service's complaint is about, for the error summary's link."""
    lowered = message.lower()
    for prefix, name in (
        ("scope", "scope"),
        ("group", "groups"),
        ("two groups", "groups"),
        ("'all'", "groups"),
        ("previous cycle", "previous_cycle"),
        ("unknown framework", "framework"),
    ):
        if lowered.startswith(prefix):
            return name
    return "title"


def _save_cycle_form(trust: Trust, cycle: Cycle | None) -> ResponseReturnValue:
    form = CycleForm.from_request(request.form)
    if request.form.get("action") == "add-group":
        form.add_blank_rows()
        return _render_cycle_form(trust, form, cycle)
    settings = form.to_settings(trust.timezone)
    if settings is not None:
        try:
            if cycle is None:
                cycle = cycle_service.create_cycle(db.session, trust, settings, _actor())
                message = f"Draft cycle “{cycle.title}” created. Next, add the people to invite."
            else:
                cycle_service.update_cycle(db.session, cycle, settings, _actor())
                message = "Changes saved."
        except UserError as exc:
            db.session.rollback()
            form.errors[_field_for(str(exc))] = _sentence(str(exc))
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("admin.cycle", cycle_id=cycle.id), code=303)
    form.add_blank_rows(0 if any(r.is_blank for r in form.groups) else 1)
    return _render_cycle_form(trust, form, cycle, 422)


@bp.route("/trusts/<slug>/cycles/new", methods=["GET", "POST"])
def new_cycle(slug: str) -> ResponseReturnValue:
    found = _trust(slug)
    if request.method == "POST":
        return _save_cycle_form(found, None)
    return _render_cycle_form(found, CycleForm.blank(), None)


@bp.route("/cycles/<int:cycle_id>/edit", methods=["GET", "POST"])
def edit_cycle(cycle_id: int) -> ResponseReturnValue:
    cycle = _cycle(cycle_id)
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
        scope_summary=admin_views.describe_scope(framework, found.scope),
        live=admin_views.live_status(db.session, found),
        added_after_launch=admin_views.list_added_after_launch(db.session, found),
        has_report=_report(found) is not None,
        report_emails=admin_views.list_report_emails(db.session, found),
        clock_notice=admin_views.get_clock_notice(db.session, found),
        CycleState=CycleState,
        errors=errors or {},
        closes=closes,
    )
    return page, status


@bp.get("/cycles/<int:cycle_id>")
def cycle(cycle_id: int) -> ResponseReturnValue:
    return _render_cycle(_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/extend")
def extend(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    value = request.form.get("closes", "").strip()
    try:
        if not value:
            raise UserError("enter the new close date and time")
        closes_at = parse_datetime(value, found.trust.timezone)
        cycle_service.extend_cycle(db.session, found, closes_at, _actor())
    except UserError as exc:
        db.session.rollback()
        message = _sentence(str(exc))
        if isinstance(exc, DateOutOfRange):
            message = (
                f"Enter the new close date between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
            )
        return _render_cycle(found, {"closes": message}, value, 422)
    db.session.commit()
    flash("The close date has been moved.", "success")
    return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)


@bp.route("/cycles/<int:cycle_id>/close", methods=["GET", "POST"])
def close(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    if request.method == "POST":
        try:
            cycle_service.close_cycle(db.session, found, _actor())
        except UserError as exc:
            _fail(exc)
        else:
            db.session.commit()
            flash(
                "The cycle is closed and the responses are sealed. The report will be "
                "compiled and emailed shortly.",
                "success",
            )
        return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)
    if found.state != CycleState.OPEN:
        flash("Only an open cycle can be closed.", "error")
        return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)
    live = admin_views.live_status(db.session, found)
    return render_template("admin/close.html", trust=found.trust, cycle=found, live=live)


@bp.route("/cycles/<int:cycle_id>/launch", methods=["GET", "POST"])
def launch(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    if request.method == "POST":
        try:
            cycle_service.launch_cycle(db.session, found, _actor())
        except UserError as exc:
            _fail(exc)
            return redirect(url_for("admin.launch", cycle_id=found.id), code=303)
        db.session.commit()
        if found.state == CycleState.OPEN:
            flash("Launched: the cycle is open and the invitations are being sent.", "success")
        else:
            flash("Launched: the invitations will be sent when the cycle opens.", "success")
        return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)
    if found.state != CycleState.DRAFT:
        flash("This cycle has already been launched.", "error")
        return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)
    groups = admin_views.launch_summary(db.session, found)
    return render_template(
        "admin/launch.html",
        trust=found.trust,
        cycle=found,
        groups=groups,
        total=sum(g.invited for g in groups),
        opens_now=found.opens_at <= utcnow(),
    )


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
        preview = admin_views.preview_recipients(db.session, cycle, text)
    except UserError as exc:
        context["error"] = _sentence(str(exc))
        return
    context["preview"] = preview
    if preview.is_valid:
        context["pending"] = sign_pending(cycle.id, current_admin().id, text)


@bp.route("/cycles/<int:cycle_id>/recipients", methods=["GET", "POST"])
def recipients(cycle_id: int) -> ResponseReturnValue:
    """Upload or paste; the POST only checks and previews, it never saves."""
    found = _cycle(cycle_id)
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


@bp.post("/cycles/<int:cycle_id>/recipients/confirm")
def confirm_recipients(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    text = load_pending(request.form.get("pending", ""), found.id, current_admin().id)
    if text is None:
        flash("That preview has expired. Please upload the file again.", "error")
        return redirect(url_for("admin.recipients", cycle_id=found.id), code=303)
    try:
        invitations = cycle_service.import_recipients(db.session, found, text, _actor())
    except RecipientErrors:
        # Something changed since the preview (someone else added people): check again.
        db.session.rollback()
        preview = admin_views.preview_recipients(db.session, found, text)
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
    except UserError as exc:
        _fail(exc)
        return redirect(url_for("admin.recipients", cycle_id=found.id), code=303)
    db.session.commit()
    flash(f"{len(invitations)} people added to the cycle.", "success")
    return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)


def _person_field(message: str) -> str:
    """Which field of the add-one-person form a complaint of the recipient checks is about."""
    lowered = message.lower().removeprefix("not added: ")
    for name in ("name", "school", "group"):
        if lowered.startswith(name) or lowered.startswith(f"unknown {name}"):
            return name
    return "email"


@bp.post("/cycles/<int:cycle_id>/recipients/add")
def add_person(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    form = PersonForm(request.form)
    if not form.validate():
        return _render_invitations(found, first_errors(form), form.data, 422)
    try:
        invitation = admin_views.add_one_person(
            db.session,
            found,
            email=form.email.data,
            name=form.name.data,
            group=form.group.data,
            school=form.school.data,
            actor=_actor(),
        )
    except UserError as exc:
        db.session.rollback()
        message = _sentence(str(exc))
        return _render_invitations(found, {_person_field(str(exc)): message}, form.data, 422)
    db.session.commit()
    when = "now" if found.state == CycleState.OPEN else "when the cycle opens"
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
        invitations=admin_views.list_invitations(db.session, found),
        CycleState=CycleState,
        errors=errors or {},
        person=person or {},
    )
    return page, status


@bp.get("/cycles/<int:cycle_id>/invitations")
def invitations(cycle_id: int) -> ResponseReturnValue:
    return _render_invitations(_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/invitations/<int:invitation_id>/resend")
def resend(cycle_id: int, invitation_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    try:
        invitation = admin_views.resend_invitation(db.session, found, invitation_id, _actor())
    except NotFound:
        abort(404)
    except UserError as exc:
        _fail(exc)
    else:
        db.session.commit()
        # The same words whether or not the person has answered: the page must not tell.
        flash(
            f"A fresh invitation email will be sent to {invitation.email}, unless they have "
            "already answered or said they will not take part (this page never says which).",
            "success",
        )
    return redirect(url_for("admin.invitations", cycle_id=found.id), code=303)


# -- report, downloads, purge ---------------------------------------------------------------------


def _report(cycle: Cycle) -> Report | None:
    return get_report(db.session, cycle)


@bp.get("/cycles/<int:cycle_id>/report")
def report(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    compiled = _report(found)
    if compiled is None:
        abort(404, description="The report for this cycle has not been compiled yet.")
    # The stored report.html's body: exactly the board paper that was emailed. Its templates
    # escaped everything people typed, and it comes back as Markup.
    body = stored_report_html(compiled, current_app.jinja_env, standalone=False)
    files = [(name, label) for name, label in DOWNLOADS.items() if compiled.file(name)]
    return render_template(
        "admin/report.html",
        trust=found.trust,
        cycle=found,
        report=compiled,
        body=body,
        files=files,
        report_emails=admin_views.list_report_emails(db.session, found),
        CycleState=CycleState,
    )


@bp.post("/cycles/<int:cycle_id>/report/emails/<int:message_id>/resend")
def resend_report_email(cycle_id: int, message_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    try:
        row = admin_views.resend_report_email(db.session, found, message_id, _actor())
    except UserError as exc:
        _fail(exc)
    else:
        db.session.commit()
        flash(f"The report email to {row.recipient} will be sent again within a minute.", "success")
    if request.form.get("back") == "report" and _report(found) is not None:
        return redirect(url_for("admin.report", cycle_id=found.id), code=303)
    return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)


@bp.get("/cycles/<int:cycle_id>/report/<name>")
@writes_on_get  # each download is recorded in the audit log
def download(cycle_id: int, name: str) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    compiled = _report(found)
    stored = compiled.file(name) if compiled is not None and name in DOWNLOADS else None
    if stored is None:
        abort(404)
    record_event(db.session, _actor(), "report.download", cycle=found, detail=name)
    db.session.commit()
    response = Response(stored.content, mimetype=stored.content_type)
    filename = f"{found.trust.slug}-cycle-{found.id}-{name}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response  # sent with Cache-Control: no-store, as every admin response (auth.py)


@bp.route("/cycles/<int:cycle_id>/purge", methods=["GET", "POST"])
def purge(cycle_id: int) -> ResponseReturnValue:
    found = _cycle(cycle_id)
    if request.method == "POST":
        try:
            count = cycle_service.purge_cycle(db.session, found, _actor())
        except UserError as exc:
            _fail(exc)
        else:
            db.session.commit()
            flash(f"Names and email addresses removed from {count} invitations.", "success")
        return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)
    if found.state != CycleState.REPORTED or found.purged_at is not None:
        flash("Personal data can be removed only once the report has been sent.", "error")
        return redirect(url_for("admin.cycle", cycle_id=found.id), code=303)
    invited = count_invitations(db.session, found)
    return render_template("admin/purge.html", trust=found.trust, cycle=found, invited=invited)
