"""The plan pages (issue 18): the worksheet for leadership's meeting (the groups' figures from
the stored report beside the framework's descriptors and questions, the agreed rating and its
rationale, the priority flag), the actions with their progress notes, the plan's downloads, and
"you said, we did" with its preview.

A viewer reads all of it; `survey.admin.team.refuse_viewer_changes` refuses their every POST
(403), and the pages show them no forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from survey.admin import bp
from survey.admin.auth import acting_email, visible_cycle
from survey.db import db, writes_on_get
from survey.errors import UserError
from survey.models import ActionStatus, Cycle, PlanAction
from survey.queries import has_report
from survey.reports.plan import CONTENT_TYPES, PLAN_FILES, render_plan_file
from survey.services import plans, you_said
from survey.services.audit import record_event
from survey.services.frameworks import get_cycle_scope
from survey.templating import counted, sentence


def _no_report(cycle: Cycle) -> ResponseReturnValue:
    flash("The plan can be written once the cycle's report has been compiled.", "error")
    return redirect(url_for("admin.cycle", cycle_id=cycle.id), code=303)


# -- the worksheet and the plan ------------------------------------------------------------------


@bp.route("/cycles/<int:cycle_id>/plan", methods=["GET", "POST"])
def plan(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if not has_report(db.session, found):
        return _no_report(found)
    errors: dict[str, str] = {}
    typed: dict[str, plans.AgreedEntry] = {}
    if request.method == "POST":
        loaded = plans.load_plan(db.session, found)
        typed = {
            e.element.code: plans.AgreedEntry(
                agreed_key=request.form.get(f"agreed-{e.element.code}", ""),
                rationale=request.form.get(f"rationale-{e.element.code}", ""),
                is_priority=request.form.get(f"priority-{e.element.code}") == "yes",
            )
            for e in loaded.entries
        }
        try:
            with db.savepoint():
                changed = plans.save_worksheet(db.session, found, typed, acting_email())
        except UserError as exc:
            errors[exc.field or "worksheet"] = sentence(str(exc))
        else:
            flash(
                f"Saved: {counted(len(changed), 'element')} changed."
                if changed
                else "Saved: nothing had changed.",
                "success",
            )
            anchor = request.form.get("back_to", "")
            return redirect(
                url_for("admin.plan", cycle_id=found.id)
                + (f"#{anchor}" if anchor.startswith("heading-") else ""),
                code=303,
            )
    loaded = plans.load_plan(db.session, found)
    page = render_template(
        "admin/plan.html",
        trust=found.trust,
        cycle=found,
        plan=loaded,
        framework=loaded.framework,
        scope=get_cycle_scope(found),
        typed=typed,
        errors=errors,
        files=PLAN_FILES,
        status_label=plans.status_label,
        due_text=plans.due_text,
        rationale_max=plans.RATIONALE_MAX,
        follow_up=you_said.status(db.session, found),
    )
    return page, 422 if errors else 200


@bp.get("/cycles/<int:cycle_id>/plan/<name>")
@writes_on_get  # each download is recorded in the audit log
def plan_download(cycle_id: int, name: str) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if name not in PLAN_FILES:
        abort(404)
    if not has_report(db.session, found):
        return _no_report(found)
    content = render_plan_file(plans.load_plan(db.session, found), name)
    record_event(db.session, acting_email(), "plan.download", cycle=found, detail=name)
    response = Response(content, mimetype=CONTENT_TYPES[name])
    filename = f"{found.trust.slug}-cycle-{found.id}-{name}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# -- actions ------------------------------------------------------------------------------------


def _action_fields() -> plans.ActionFields:
    return plans.ActionFields(
        what=request.form.get("what", ""),
        owner=request.form.get("owner", ""),
        due_on=request.form.get("due_on", ""),
        success_measure=request.form.get("success_measure", ""),
        status=request.form.get("status", ActionStatus.NOT_STARTED.value),
    )


def _action_page(
    cycle: Cycle,
    entry: plans.PlanEntry,
    action: PlanAction | None,
    form: dict[str, Any],
    errors: dict[str, str],
    note_text: str = "",
) -> ResponseReturnValue:
    page = render_template(
        "admin/plan_action.html",
        trust=cycle.trust,
        cycle=cycle,
        entry=entry,
        action=action,
        form=form,
        errors=errors,
        note_text=note_text,
        statuses=list(ActionStatus),
        status_label=plans.status_label,
        note_max=plans.NOTE_MAX,
    )
    return page, 422 if errors else 200


def _form_of(action: PlanAction | None) -> dict[str, Any]:
    if action is None:
        return {"status": ActionStatus.NOT_STARTED.value}
    return {
        "what": action.what,
        "owner": action.owner,
        "due_on": action.due_on.isoformat() if action.due_on else "",
        "success_measure": action.success_measure,
        "status": action.status.value,
    }


def _action_form(
    cycle: Cycle,
    entry: plans.PlanEntry,
    action: PlanAction | None,
    save: Callable[[plans.ActionFields], object],
    saved: str,
) -> ResponseReturnValue:
    """An action's form: on POST `save` the fields (in a savepoint), then back to the element's
    actions on the plan, or the form again with the refusal at its field."""
    errors: dict[str, str] = {}
    form = _form_of(action)
    if request.method == "POST":
        fields = _action_fields()
        form = dict(fields.__dict__)
        try:
            with db.savepoint():
                save(fields)
        except UserError as exc:
            errors[exc.field or "what"] = sentence(str(exc))
        else:
            flash(saved, "success")
            anchor = f"#actions-{entry.element.code}"
            return redirect(url_for("admin.plan", cycle_id=cycle.id) + anchor, 303)
    return _action_page(cycle, entry, action, form, errors)


@bp.route("/cycles/<int:cycle_id>/plan/actions/new", methods=["GET", "POST"])
def new_action(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    if not has_report(db.session, found):
        return _no_report(found)
    code = request.values.get("element", "")
    try:
        entry = plans.load_plan(db.session, found).entry(code)
    except UserError:
        abort(404)
    return _action_form(
        found,
        entry,
        None,
        lambda fields: plans.add_action(db.session, found, code, fields, acting_email()),
        f"Action added to {code}.",
    )


@bp.route("/cycles/<int:cycle_id>/plan/actions/<int:action_id>", methods=["GET", "POST"])
def edit_action(cycle_id: int, action_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    action = plans.get_action(db.session, found, action_id)
    entry = plans.load_plan(db.session, found).entry(action.element_code)
    return _action_form(
        found,
        entry,
        action,
        lambda fields: plans.update_action(db.session, found, action_id, fields, acting_email()),
        "Action saved.",
    )


@bp.post("/cycles/<int:cycle_id>/plan/actions/<int:action_id>/notes")
def add_action_note(cycle_id: int, action_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    action = plans.get_action(db.session, found, action_id)
    try:
        with db.savepoint():
            plans.add_note(
                db.session, found, action_id, request.form.get("note", ""), acting_email()
            )
    except UserError as exc:
        entry = plans.load_plan(db.session, found).entry(action.element_code)
        errors = {"note": sentence(str(exc))}
        return _action_page(
            found, entry, action, _form_of(action), errors, request.form.get("note", "")
        )
    flash("Progress note added.", "success")
    return redirect(url_for("admin.edit_action", cycle_id=found.id, action_id=action_id), 303)


# -- "you said, we did" ---------------------------------------------------------------------------


@bp.route("/cycles/<int:cycle_id>/you-said", methods=["GET", "POST"])
def you_said_page(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    errors: dict[str, str] = {}
    words = you_said.get_follow_up(db.session, found)
    form = {"subject": words.subject, "opening": words.opening, "closing": words.closing}
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("subject", "opening", "closing")}
        try:
            with db.savepoint():
                you_said.save_words(db.session, found, **form, actor=acting_email())
        except UserError as exc:
            errors[exc.field or "subject"] = sentence(str(exc))
        else:
            flash("Saved. The preview below shows the email as everyone will get it.", "success")
            return redirect(url_for("admin.you_said_page", cycle_id=found.id) + "#preview", 303)
    refusal = you_said.refusal(db.session, found)
    preview = None
    if has_report(db.session, found):
        preview = you_said.render_message(db.session, found)
    page = render_template(
        "admin/plan_you_said.html",
        trust=found.trust,
        cycle=found,
        form=form,
        errors=errors,
        preview=preview,
        refusal=refusal,
        status=you_said.status(db.session, found),
        recipients=you_said.addressable_count(db.session, found),
        is_viewer=g.get("is_viewer", False),
    )
    return page, 422 if errors else 200


@bp.post("/cycles/<int:cycle_id>/you-said/send")
def send_you_said(cycle_id: int) -> ResponseReturnValue:
    found = visible_cycle(cycle_id)
    try:
        with db.savepoint():
            queued = you_said.send(db.session, found, acting_email())
    except UserError as exc:
        flash(sentence(str(exc)), "error")
    else:
        flash(
            f"“You said, we did” will be emailed to {counted(queued, 'person', 'people')} "
            "invited, whether or not they answered.",
            "success",
        )
    return redirect(url_for("admin.you_said_page", cycle_id=found.id), code=303)
