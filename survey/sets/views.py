"""The set pages. Views are thin: parse, call one service, render or redirect; they never
commit (each is one unit of work). The set's report, its PDF and its spreadsheet are rendered
in the request from the stored figures (survey.reports.set_figures: no pandas)."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound as PageNotFound

from survey.admin.auth import current_admin, no_store, require_admin
from survey.db import db
from survey.errors import NotFound, UserError
from survey.models import Cycle, LearningSet, SetKind, Trust
from survey.reports import set_figures
from survey.reports import sets as outputs
from survey.services import accounts
from survey.services import sets as service
from survey.services.frameworks import get_current_version, get_framework
from survey.sets import bp
from survey.templating import sentence

bp.before_request(require_admin)


bp.after_request(no_store)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    db.session.rollback()
    return render_template("error.html", error=PageNotFound()), 404


@bp.errorhandler(UserError)
def _refused(exc: UserError) -> ResponseReturnValue:
    db.session.rollback()
    flash(sentence(str(exc)), "error")
    args = request.view_args or {}
    if "set_id" in args:
        return redirect(url_for("sets.detail", set_id=args["set_id"]), code=303)
    return redirect(url_for("sets.index"), code=303)


def _set(set_id: int) -> LearningSet:
    return service.get_visible_set(db.session, current_admin(), set_id)


def _readable_set(set_id: int) -> LearningSet:
    """The set, for its report's files: only for those who may read its report."""
    lset = _set(set_id)
    if not service.may_read_report(current_admin(), lset):
        raise NotFound("no report")
    return lset


def _my_trust(slug: str) -> Trust:
    return accounts.get_visible_trust(db.session, current_admin(), slug)


def _back(lset: LearningSet, message: str, anchor: str = "") -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("sets.detail", set_id=lset.id, _anchor=anchor or None), code=303)


# -- sets ---------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    admin = current_admin()
    return render_template(
        "sets/index.html",
        sets=service.list_visible_sets(db.session, admin),
        trusts=accounts.list_visible_trusts(db.session, admin),
        kinds=service.KIND_WORDS,
        sharing=lambda s: service.sharing_trust_count(db.session, s),
    )


@bp.post("/")
def create() -> ResponseReturnValue:
    kind = service.parse_kind(request.form.get("kind", "learning"))
    lset = service.create_set(db.session, current_admin(), request.form.get("name", ""), kind)
    return _back(lset, f"“{lset.name}” created. Invite trusts by their admin's email.")


@bp.get("/<int:set_id>")
def detail(set_id: int) -> ResponseReturnValue:
    lset = _set(set_id)
    admin = current_admin()
    mine = {t.id for t in service.admin_trusts(db.session, admin)}
    my_memberships = [m for m in lset.memberships if m.trust_id in mine]
    shares = service.shares_of(db.session, lset)
    report = review = None
    chosen = _chosen_elements()
    may_read = service.may_read_report(admin, lset)
    # An invited trust reads the set's page, not its figures, until it accepts.
    if may_read and lset.is_peer_review:
        review = set_figures.build_peer_review(db.session, lset, chosen)
    elif may_read:
        report = set_figures.build_set_report(db.session, lset)
    return render_template(
        "sets/detail.html",
        lset=lset,
        is_coordinator=admin.is_superuser or lset.is_coordinator(admin),
        my_memberships=my_memberships,
        my_shares={s.cycle_id: s for s in shares if s.trust_id in mine},
        shareable={
            m.trust_id: service.shareable_cycles(db.session, lset, m.trust) for m in my_memberships
        },
        kind_words=service.KIND_WORDS[lset.kind],
        report_html=outputs.render_set_html(report, standalone=False) if report else None,
        review_html=outputs.render_peer_review_html(review, standalone=False) if review else None,
        may_read=may_read,
        is_shown=may_read and (report or review).is_shown,  # type: ignore[union-attr]
        min_sharers=service.MIN_SHARERS,
        chosen=",".join(chosen),
    )


@bp.post("/<int:set_id>/invite")
def invite(set_id: int) -> ResponseReturnValue:
    lset = _set(set_id)
    membership = service.invite_trust(
        db.session,
        lset,
        request.form.get("email", ""),
        current_admin(),
        request.form.get("trust", "").strip() or None,
    )
    return _back(lset, f"{membership.trust.name} is invited; its admin is emailed.", "members")


@bp.post("/<int:set_id>/trusts/<slug>/<any(accept, decline, leave):action>")
def answer(set_id: int, slug: str, action: str) -> ResponseReturnValue:
    lset = _set(set_id)
    trust = _my_trust(slug)
    if action == "leave":
        withdrawn = service.leave_set(db.session, lset, trust, current_admin())
        return _back(lset, f"{trust.name} has left {lset.name}; {withdrawn} share(s) withdrawn.")
    membership = service.answer_invitation(
        db.session, lset, trust, current_admin(), accept=action == "accept"
    )
    return _back(lset, f"{trust.name} has {membership.state.value} the invitation.", "yours")


def _chosen_elements() -> list[str]:
    """A peer review's chosen elements (`?elements=1A,2B`; none: every element)."""
    value = request.args.get("elements", "")[:200]
    return [c.strip().upper() for c in value.replace(" ", ",").split(",") if c.strip()]


def _cycle(value: str | int) -> Cycle:
    try:
        cycle_id = int(value)
    except ValueError:
        raise UserError("choose a cycle to share") from None
    return accounts.get_visible_cycle(db.session, current_admin(), cycle_id)


@bp.post("/<int:set_id>/share")
def share(set_id: int) -> ResponseReturnValue:
    lset = _set(set_id)
    cycle = _cycle(request.form.get("cycle", ""))
    as_name = request.form.get("appear") == "name"
    service.share_cycle(db.session, lset, cycle, current_admin(), as_name=as_name)
    membership = lset.membership_of(cycle.trust)
    shown = cycle.trust.name if as_name or membership is None else membership.letter_name
    return _back(lset, f"“{cycle.title}” is shared with {lset.name} as {shown}.", "yours")


@bp.post("/<int:set_id>/withdraw/<int:cycle_id>")
def withdraw(set_id: int, cycle_id: int) -> ResponseReturnValue:
    lset = _set(set_id)
    cycle = _cycle(cycle_id)
    service.withdraw_share(db.session, lset, cycle, current_admin())
    return _back(lset, f"“{cycle.title}” is withdrawn: the set's report no longer holds it.")


# -- downloads ----------------------------------------------------------------------------------


def _download(content: bytes, content_type: str, name: str) -> Response:
    response = Response(content, content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/<int:set_id>/set-report.<any(pdf, xlsx):ext>")
def report_file(set_id: int, ext: str) -> ResponseReturnValue:
    lset = _readable_set(set_id)
    report = set_figures.build_set_report(db.session, lset)
    if lset.kind != SetKind.LEARNING or not report.is_shown:
        raise NotFound("no report")
    if ext == "pdf":
        return _download(outputs.set_report_pdf(report), "application/pdf", "set-report.pdf")
    return _download(outputs.set_report_xlsx(report), outputs.XLSX_TYPE, "set-report.xlsx")


@bp.get("/<int:set_id>/peer-review.pdf")
def peer_review_file(set_id: int) -> ResponseReturnValue:
    lset = _readable_set(set_id)
    # Only a peer review has a pack: a learning set's figures are its report's, shown from 3
    # sharers (the pack would show two sharers' figures, or each letter trust's groups).
    if not lset.is_peer_review:
        raise NotFound("no peer review")
    review = set_figures.build_peer_review(db.session, lset, _chosen_elements())
    if not review.is_shown:
        raise NotFound("no peer review")
    return _download(outputs.peer_review_pdf(review), "application/pdf", "peer-review.pdf")


# -- the deployment benchmark -------------------------------------------------------------------


@bp.get("/benchmark/<slug>")
def benchmark(slug: str) -> ResponseReturnValue:
    trust = _my_trust(slug)
    key = request.args.get("framework", "mat-assurance")
    framework = get_framework(db.session, key, get_current_version(db.session, key).version)
    opted_in = service.is_opted_in(db.session, trust, key)
    table = set_figures.build_benchmark(db.session, key) if opted_in else None
    return render_template(
        "sets/benchmark.html",
        trust=trust,
        framework=framework,
        opted_in=opted_in,
        table=table,
        positions=set_figures.positions(table, framework, trust.id) if table else [],
        minimum=service.MIN_BENCHMARK_TRUSTS,
    )


@bp.post("/benchmark/<slug>")
def benchmark_choice(slug: str) -> ResponseReturnValue:
    trust = _my_trust(slug)
    key = request.form.get("framework", "mat-assurance")
    opt_in = request.form.get("choice") == "in"
    service.set_benchmark_opt_in(db.session, trust, key, current_admin(), opt_in=opt_in)
    flash(
        f"{trust.name} {'takes part in' if opt_in else 'no longer takes part in'} the benchmark.",
        "success",
    )
    return redirect(url_for("sets.benchmark", slug=trust.slug, framework=key), code=303)
