"""Views for respondents (SPEC section 6): the signed link, the form, drafts, submit, decline.

Views stay thin: they read the session and the form, call one service in
`survey.services.responses`, commit once, and render. Nothing here logs or stores anything that
could tie a response to the person who sent it; the Flask session holds only the invitation id
until the answers are submitted or declined, and nothing afterwards.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError
from limits import parse as parse_limit
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

import framework as fw
from survey.db import db
from survey.extensions import limiter
from survey.models import Invitation
from survey.queries import count_group_invitations
from survey.respond import bp, redaction
from survey.services import responses
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.services.links import resolve_token
from survey.services.responses import Answers, Outcome, Standing

log = logging.getLogger(__name__)

SESSION_KEY = "invitation_id"
DONE_KEY = "has_submitted"
DEFAULT_INVALID_LINK_LIMIT = "10/minute"

PageResult = tuple[str, int] | WerkzeugResponse


@bp.record_once
def _setup(state: Any) -> None:
    redaction.install(state.app)


@bp.after_request
def _no_store(response: WerkzeugResponse) -> WerkzeugResponse:
    # Survey pages hold a person's answers: never keep them in a shared or back-button cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Pragma", "no-cache")
    if request.path.startswith(redaction.LINK_PREFIX):
        # The token is in this URL: no Referer may carry it anywhere, not even to our own CSS.
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- helpers ------------------------------------------------------------------------------------


def _current_invitation() -> Invitation | None:
    invitation_id = session.get(SESSION_KEY)
    if not isinstance(invitation_id, int):
        return None
    # populate_existing: always the row as it is now, never a copy cached earlier in the session.
    return db.session.get(Invitation, invitation_id, populate_existing=True)


def _message_page(kind: str, status: int, **context: Any) -> tuple[str, int]:
    return render_template("respond/landing.html", kind=kind, **context), status


def _standing_page(invitation: Invitation, standing: Standing, **context: Any) -> tuple[str, int]:
    """The page for an invitation that cannot answer now."""
    cycle = invitation.cycle
    if standing == Standing.CLOSED:
        return _message_page("closed", 410, cycle=cycle, **context)
    if standing == Standing.NOT_YET_OPEN:
        return _message_page("not-open", 200, cycle=cycle, **context)
    if standing == Standing.SUBMITTED:
        return _message_page("submitted", 200, cycle=cycle, **context)
    return _message_page("declined", 200, cycle=cycle, **context)


def _outcome_page(invitation: Invitation, outcome: Outcome, **context: Any) -> tuple[str, int]:
    standing = {
        Outcome.CLOSED: Standing.CLOSED,
        Outcome.NOT_YET_OPEN: Standing.NOT_YET_OPEN,
        Outcome.ALREADY_SUBMITTED: Standing.SUBMITTED,
        Outcome.ALREADY_DECLINED: Standing.DECLINED,
    }[outcome]
    return _standing_page(invitation, standing, **context)


def _count_failed_lookup() -> bool:
    """Count a failed link lookup against the client's address; False once over the limit.

    Only failures are counted, and a valid link is never checked against this limit: a whole
    school usually shares one public address, and one person mistyping a link must not lock
    out their colleagues.
    """
    if not (limiter.enabled and limiter.initialized):
        return True
    item = parse_limit(
        str(current_app.config.get("INVALID_LINK_RATE_LIMIT") or DEFAULT_INVALID_LINK_LIMIT)
    )
    try:
        # The key prefix keeps deployments that share one Redis apart, as Flask-Limiter does.
        prefix = str(current_app.config.get("RATELIMIT_KEY_PREFIX") or "")
        return bool(limiter.limiter.hit(item, prefix, "invalid-link", get_remote_address()))
    except Exception:  # the limiter's storage is down: fail open for a page that says 404
        log.warning("rate-limit storage unavailable; invalid link not counted", exc_info=True)
        return True


def _typed_answers(
    form_items: list[tuple[str, str]], scale: fw.Scale | None
) -> list[dict[str, str]]:
    """What the person typed, to show back when it could not be stored (nothing is lost)."""
    rows: dict[str, dict[str, str]] = {}
    for name, value in form_items:
        for prefix, key in (
            (responses.RATING_PREFIX, "rating"),
            (responses.RATIONALE_PREFIX, "rationale"),
        ):
            if name.startswith(prefix) and value.strip():
                code = name[len(prefix) :][:20]
                row = rows.setdefault(code, {"code": code, "rating": "", "rationale": ""})
                if key == "rating":
                    row["rating"] = _rating_words(value, scale)
                else:
                    row["rationale"] = responses.normalise_rationale(value)
    return list(rows.values())


def _rating_words(value: str, scale: fw.Scale | None) -> str:
    if scale is not None:
        try:
            return scale.label(value)
        except KeyError:
            pass
    if value == fw.DONT_KNOW:
        return "Don't know / not enough evidence"
    return value[:40].replace("-", " ").capitalize()


_GUIDANCE: dict[tuple[str, str, str, str], Markup] = {}


def _element_guidance(framework: fw.Framework, scope: fw.Scope, element: fw.Element) -> Markup:
    """An element's questions and descriptors, rendered once per process for each framework
    version and scope: they are the same for every respondent and make up most of the page."""
    key = (framework.key, framework.version, str(scope), element.code)
    html = _GUIDANCE.get(key)
    if html is None:
        # Autoescaped template output of framework text only: nothing a person typed.
        html = Markup(  # noqa: S704
            render_template(
                "_element_guidance.html", element=element, framework=framework, scope=scope
            )
        )
        _GUIDANCE[key] = html
    return html


def _render_form(
    invitation: Invitation,
    answers: Answers,
    status: int = 200,
    *,
    notice: str | None = None,
    restored: bool = False,
) -> tuple[str, int]:
    cycle = invitation.cycle
    framework = get_cycle_framework(db.session, cycle)
    scope = get_cycle_scope(cycle)
    in_scope = framework.elements_in_scope(scope)
    codes = {e.code for e in in_scope}
    sections = [
        (heading, [e for e in heading.elements if e.code in codes])
        for heading in framework.headings
    ]
    return (
        render_template(
            "respond/form.html",
            cycle=cycle,
            trust=cycle.trust,
            group=invitation.group,
            group_invited=count_group_invitations(db.session, invitation.group),
            framework=framework,
            scope=scope,
            sections=[(h, els) for h, els in sections if els],
            element_count=len(in_scope),
            answers=answers,
            guidance=functools.partial(_element_guidance, framework, scope),
            notice=notice,
            restored=restored,
            rationale_max=responses.RATIONALE_MAX,
        ),
        status,
    )


# -- the link -----------------------------------------------------------------------------------


@bp.get(redaction.LINK_RULE)
def landing(token: str) -> PageResult:
    """Open a personal link. Never uses it up: mail scanners open links before people do."""
    check = resolve_token(db.session, token)
    invitation = check.invitation
    if invitation is None:
        if not _count_failed_lookup():
            page, status = _message_page("rate-limited", 429)
            return WerkzeugResponse(
                page, status, {"Retry-After": "60", "Content-Type": "text/html; charset=utf-8"}
            )
        return _message_page("expired" if check.reason == "expired" else "invalid", 404)
    db.session.refresh(invitation)
    standing = responses.get_standing(invitation)
    if standing != Standing.OPEN:
        return _standing_page(invitation, standing)
    # A fresh session per link: two people sharing a computer never see each other's form. The
    # cookie lasts only as long as the browser is open (the server still refuses it after
    # PERMANENT_SESSION_LIFETIME); saved drafts are kept on the server, not in the cookie.
    session.clear()
    session.permanent = False
    session[SESSION_KEY] = invitation.id
    return redirect(url_for("respond.show_form"), code=303)


# -- the form -----------------------------------------------------------------------------------


@bp.get("/survey")
def show_form() -> PageResult:
    invitation = _current_invitation()
    if invitation is None:
        return _message_page("no-session", 403)
    standing = responses.get_standing(invitation)
    if standing != Standing.OPEN:
        return _standing_page(invitation, standing)
    framework = get_cycle_framework(db.session, invitation.cycle)
    draft = responses.load_draft(
        db.session, invitation, framework, get_cycle_scope(invitation.cycle)
    )
    return _render_form(invitation, draft or Answers(), restored=draft is not None)


@bp.post("/survey")
def submit_form() -> PageResult:
    invitation = _current_invitation()
    form_items = list(request.form.items(multi=True))
    if invitation is None:
        return _message_page("no-session", 403, typed=_typed_answers(form_items, None))
    cycle = invitation.cycle
    framework = get_cycle_framework(db.session, cycle)
    scope = get_cycle_scope(cycle)
    typed = _typed_answers(form_items, framework.scale)

    standing = responses.get_standing(invitation)
    if standing != Standing.OPEN:
        return _standing_page(invitation, standing, typed=typed, unsaved=True)

    answers = responses.parse_answers(form_items, framework, scope)
    action = request.form.get("action")
    if action not in ("save", "submit"):
        answers.problems.insert(
            0,
            responses.Problem(
                "Choose “Save and come back later” or “Submit my answers”", "form-actions"
            ),
        )
    if action == "submit":
        responses.require_complete(answers, framework, scope)
    if answers.problems:
        return _render_form(invitation, answers, 422)

    if action == "save":
        outcome = responses.save_draft(db.session, invitation, answers, framework)
        if outcome != Outcome.SAVED:
            db.session.rollback()
            return _outcome_page(invitation, outcome, typed=typed, unsaved=True)
        db.session.commit()
        flash(
            "Your answers are saved. Open the link in your email again to carry on; "
            "they are deleted when you submit or when the review closes.",
            "success",
        )
        return redirect(url_for("respond.show_form"), code=303)

    outcome = responses.record_response(db.session, invitation, answers, framework)
    if outcome != Outcome.RECORDED:
        db.session.rollback()
        return _outcome_page(invitation, outcome, typed=typed, unsaved=True)
    db.session.commit()
    # The thank-you page is reached only after the commit. The session keeps no trace of the
    # invitation or the response: only that this browser submitted something.
    session.clear()
    session[DONE_KEY] = True
    return redirect(url_for("respond.done"), code=303)


@bp.get("/survey/done")
def done() -> tuple[str, int]:
    return render_template("respond/done.html", has_submitted=bool(session.get(DONE_KEY))), 200


@bp.post("/survey/decline")
def decline() -> PageResult:
    invitation = _current_invitation()
    if invitation is None:
        return _message_page("no-session", 403)
    outcome = responses.decline(db.session, invitation)
    if outcome != Outcome.DECLINED:
        db.session.rollback()
        return _outcome_page(invitation, outcome)
    db.session.commit()
    cycle = invitation.cycle
    session.clear()
    return _message_page("declined", 200, cycle=cycle, just_declined=True)


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> PageResult:
    """An expired or missing CSRF token (a form left open for hours, a lost cookie): show the
    form again with everything typed, and ask for the button to be pressed again."""
    form_items = list(request.form.items(multi=True))
    invitation = _current_invitation()
    if invitation is None:
        return _message_page("no-session", 400, typed=_typed_answers(form_items, None))
    standing = responses.get_standing(invitation)
    if standing != Standing.OPEN:
        framework = get_cycle_framework(db.session, invitation.cycle)
        return _standing_page(
            invitation, standing, typed=_typed_answers(form_items, framework.scale), unsaved=True
        )
    framework = get_cycle_framework(db.session, invitation.cycle)
    answers = responses.parse_answers(form_items, framework, get_cycle_scope(invitation.cycle))
    if request.endpoint == "respond.decline":
        notice = (
            "Your page had been open too long to be sure the request came from you. "
            "If you do not want to take part, press “I will not take part” again."
        )
    else:
        notice = (
            "Your answers have not been saved or submitted yet: the page had been open too long "
            "to be sure they came from you. Check them below and press the button again."
        )
    return _render_form(invitation, answers, 400, notice=notice)
