"""Views for respondents (SPEC section 6): the signed link, the form, drafts, submit, decline.

Views stay thin: they read the session and the form, call one service in
`survey.services.responses`, commit once, and render. Nothing here logs or stores anything that
could tie a response to the person who sent it. The Flask session holds the invitation id, and
what the form shows besides the framework (the cycle's title and dates, the trust's name, the
group: `FormPage`), until the answers are submitted or declined, and nothing afterwards.

Nothing typed is lost (SPEC 6). A post that cannot be stored is answered with the form again,
everything posted in it: after an expired CSRF token (400), and when the database cannot be
reached (503, with Retry-After). The form is then built from the session's `FormPage` and the
framework this process already holds, without the database; failing that, a plain page lists
every answer in a form that sends them again. A submit, a save or a decline that meets a
database error is tried once more first: that is safe, as the invitation's one-time
conditional update decides what is stored. A POST first reads in a read-only transaction
(on SQLite, no write lock) and then writes in a short transaction of its own.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

from flask import (
    abort,
    flash,
    jsonify,
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
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.wrappers import Response as WerkzeugResponse

import framework as fw
from survey.config import get_settings
from survey.db import db, forget_failed_transaction, read_only
from survey.extensions import limiter
from survey.models import Invitation, comment_threshold
from survey.queries import count_group_invitations
from survey.respond import bp, redaction
from survey.respond.pages import FormStep, is_one_heading_per_page, plan_steps
from survey.services import responses
from survey.services.frameworks import get_cached_framework, get_cycle_framework
from survey.services.links import resolve_token
from survey.services.responses import Answers, Outcome, Standing
from survey.timeutil import as_utc

log = logging.getLogger(__name__)

SESSION_KEY = "invitation_id"
PAGE_KEY = "form_page"
DONE_KEY = "has_submitted"
# A database that does not answer: the page says to try again in a moment, and so does this.
RETRY_AFTER_SECONDS = 5
# A post that met a database error is tried once more after this pause (a restart, a
# failover), unless the first try itself took longer than RETRY_WITHIN_SECONDS.
RETRY_PAUSE_SECONDS = 1.0
RETRY_WITHIN_SECONDS = 10.0
UNAVAILABLE_ERRORS = (DBAPIError, PoolTimeoutError)
NOT_SAVED = {
    "submit": "Not saved yet: press Submit again in a moment. The service could not reach its "
    "database just now; everything you typed is below.",
    "save": "Not saved yet: press “Save and come back later” again in a moment. The service "
    "could not reach its database just now; everything you typed is below.",
    "decline": "Not recorded yet: press “I will not take part” again in a moment. The service "
    "could not reach its database just now.",
    "continue": "Not saved yet: press “Save and continue” again in a moment. The service "
    "could not reach its database just now; everything you typed on this page is below.",
}

PageResult = tuple[str, int] | tuple[str, int, dict[str, str]] | WerkzeugResponse


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


# -- what the form shows ------------------------------------------------------------------------


class PageCycle(NamedTuple):
    title: str
    closes_at: datetime
    min_group_size: int
    min_comment_group_size: int

    @property
    def comment_threshold(self) -> int:
        return comment_threshold(self.min_group_size, self.min_comment_group_size)


class PageTrust(NamedTuple):
    name: str
    timezone: str


class PageGroup(NamedTuple):
    label: str
    is_open: bool


@dataclass(frozen=True)
class FormPage:
    """What the form shows besides the framework and the answers. It is kept in the person's
    session, so that the form can be shown again when the database cannot be reached; it holds
    nothing the person does not see on the page."""

    title: str
    trust_name: str
    timezone: str
    closes_at: str  # ISO 8601, UTC
    min_group_size: int
    min_comment_group_size: int
    group_label: str
    group_is_open: bool
    framework_key: str
    framework_version: str
    scope: str
    group_invited: int  # how many people were invited to the group (SPEC section 5)

    @classmethod
    def of(cls, invitation: Invitation) -> FormPage:
        cycle = invitation.cycle
        return cls(
            title=cycle.title,
            trust_name=cycle.trust.name,
            timezone=cycle.trust.timezone,
            closes_at=as_utc(cycle.closes_at).isoformat(),
            min_group_size=cycle.min_group_size,
            min_comment_group_size=cycle.min_comment_group_size,
            group_label=invitation.group.label,
            group_is_open=invitation.group.is_open,
            framework_key=cycle.framework_key,
            framework_version=cycle.framework_version,
            scope=cycle.scope,
            group_invited=count_group_invitations(db.session, invitation.group),
        )

    @classmethod
    def from_session(cls) -> FormPage | None:
        data = session.get(PAGE_KEY)
        if not isinstance(data, dict):
            return None
        try:
            page = cls(**data)
            as_utc(datetime.fromisoformat(page.closes_at))
        except (TypeError, ValueError):
            return None
        return page

    def keep_in_session(self) -> None:
        if session.get(PAGE_KEY) != asdict(self):
            session[PAGE_KEY] = asdict(self)

    @property
    def cycle(self) -> PageCycle:
        closes_at = as_utc(datetime.fromisoformat(self.closes_at))
        return PageCycle(self.title, closes_at, self.min_group_size, self.min_comment_group_size)

    @property
    def trust(self) -> PageTrust:
        return PageTrust(self.trust_name, self.timezone)

    @property
    def group(self) -> PageGroup:
        return PageGroup(self.group_label, self.group_is_open)


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
    settings = get_settings()
    item = parse_limit(settings.invalid_link_rate_limit)
    try:
        # The key prefix keeps deployments that share one Redis apart, as Flask-Limiter does.
        prefix = settings.ratelimit_key_prefix
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


def _page_context(page: FormPage, framework: fw.Framework, answers: Answers) -> dict[str, Any]:
    """What every page of the form shows: the cycle, the framework, the answers so far."""
    scope = fw.parse_scope(page.scope)
    in_scope = framework.elements_in_scope(scope)
    steps = plan_steps(framework, scope)
    return {
        "cycle": page.cycle,
        "trust": page.trust,
        "group": page.group,
        "group_invited": page.group_invited,
        "framework": framework,
        "scope": scope,
        "steps": steps,
        "step_of_code": {code: step.number for step in steps for code in step.codes},
        "by_heading": is_one_heading_per_page(steps),
        "element_count": len(in_scope),
        "rated_count": sum(1 for e in in_scope if e.code in answers.ratings),
        "estimate": framework.time_estimate(scope),
        "answers": answers,
        "guidance": functools.partial(_element_guidance, framework, scope),
        "rationale_max": responses.RATIONALE_MAX,
    }


def _render_form(
    page: FormPage,
    framework: fw.Framework,
    answers: Answers,
    status: int = 200,
    *,
    notice: str | None = None,
    restored: bool = False,
) -> tuple[str, int]:
    """Every element on one page: what a whole-form POST /survey is answered with when it
    cannot be stored (SPEC 6), everything posted kept."""
    context = _page_context(page, framework, answers)
    sections: dict[int, tuple[fw.Heading, list[fw.Element]]] = {}
    for step in context["steps"]:
        sections.setdefault(step.heading.number, (step.heading, []))[1].extend(step.elements)
    return (
        render_template(
            "respond/form.html",
            sections=list(sections.values()),
            notice=notice,
            restored=restored,
            **context,
        ),
        status,
    )


def _render_step(
    page: FormPage,
    framework: fw.Framework,
    number: int,
    answers: Answers,
    status: int = 200,
    *,
    notice: str | None = None,
    to_review: bool = False,
) -> tuple[str, int]:
    """One page of the form: one heading's elements, with its progress."""
    context = _page_context(page, framework, answers)
    steps: list[FormStep] = context["steps"]
    if not 1 <= number <= len(steps):
        abort(404)
    return (
        render_template(
            "respond/step.html",
            step=steps[number - 1],
            notice=notice,
            to_review=to_review,
            **context,
        ),
        status,
    )


def _render_posted(
    page: FormPage, framework: fw.Framework, answers: Answers, status: int, notice: str
) -> tuple[str, int]:
    """A post shown back with everything in it: one page of the form when one page was
    posted, otherwise the whole form."""
    if request.endpoint == "respond.save_step":
        number = int((request.view_args or {}).get("number", 0))
        return _render_step(page, framework, number, answers, status, notice=notice)
    return _render_form(page, framework, answers, status, notice=notice)


def _form_with_answers(form_items: list[tuple[str, str]], status: int, notice: str) -> PageResult:
    """The form again with everything posted, so that nothing typed is lost (after an expired
    CSRF token). Without the database, as `_form_without_database`."""
    try:
        found = _answerable(form_items, no_session_status=status)
    except UNAVAILABLE_ERRORS as exc:
        forget_failed_transaction(exc)
        return _form_without_database(form_items)
    if not isinstance(found, Answerable):
        return found
    answers = responses.parse_answers(form_items, found.framework, fw.parse_scope(found.page.scope))
    return _render_posted(found.page, found.framework, answers, status, notice=notice)


def _form_without_database(form_items: list[tuple[str, str]]) -> PageResult:
    """503 with Retry-After and everything posted: the form, built from the session's FormPage
    and a framework this process holds; failing that, a plain page listing every answer in a
    form that sends them again."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    notice = NOT_SAVED[_posted_action()]
    page = FormPage.from_session()
    if page is not None:
        framework = get_cached_framework(page.framework_key, page.framework_version)
        if framework is not None:
            answers = responses.parse_answers(form_items, framework, fw.parse_scope(page.scope))
            # Shown as typed; checked again when the button is pressed.
            answers.problems = []
            body, status = _render_posted(page, framework, answers, 503, notice=notice)
            return body, status, headers
    body = render_template(
        "respond/resend.html",
        notice=notice,
        fields=_answer_fields(form_items),
        action=_posted_action(),
        # One page of the form is sent again to that page, so the other pages' answers stay.
        resend_url=request.path if request.endpoint == "respond.save_step" else None,
    )
    return body, 503, headers


@dataclass(frozen=True)
class Answerable:
    """An invitation that can answer now, with its form's page and framework."""

    page: FormPage
    framework: fw.Framework
    invitation: Invitation

    @property
    def steps(self) -> list[FormStep]:
        """The form's pages for this cycle's scope."""
        return plan_steps(self.framework, fw.parse_scope(self.page.scope))


def _open_invitation(
    form_items: list[tuple[str, str]], no_session_status: int = 403
) -> Answerable | PageResult:
    """The session's invitation if it can answer now, or the page to show instead (no session,
    closed, already submitted or declined), with anything posted shown back. Reads only."""
    invitation = _current_invitation()
    if invitation is None:
        typed = _typed_answers(form_items, None)
        return _message_page("no-session", no_session_status, typed=typed)
    framework = get_cycle_framework(db.session, invitation.cycle)
    standing = responses.get_standing(invitation)
    if standing != Standing.OPEN:
        typed = _typed_answers(form_items, framework.scale)
        return _standing_page(invitation, standing, typed=typed, unsaved=bool(form_items))
    page = FormPage.of(invitation)
    page.keep_in_session()
    return Answerable(page, framework, invitation)


def _answerable(
    form_items: list[tuple[str, str]], no_session_status: int = 403
) -> Answerable | PageResult:
    """`_open_invitation` in a read-only transaction of its own, ended before anything writes:
    on SQLite no write lock is held while the page is worked out (other submits go on)."""
    with read_only():
        found = _open_invitation(form_items, no_session_status=no_session_status)
        db.session.commit()
    return found


def _answer_fields(form_items: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The posted answers as they were, to send again: name, value, element code, and for a
    rating its words."""
    fields = []
    for name, value in form_items:
        for prefix, kind in (
            (responses.RATING_PREFIX, "rating"),
            (responses.RATIONALE_PREFIX, "rationale"),
        ):
            if name.startswith(prefix):
                words = _rating_words(value, None) if kind == "rating" else ""
                code = name[len(prefix) :][:20]
                fields.append(
                    {"name": name, "value": value, "kind": kind, "code": code, "words": words}
                )
    return fields


def _posted_action() -> str:
    if request.endpoint == "respond.decline":
        return "decline"
    if request.endpoint in ("respond.save_step", "respond.autosave"):
        return "continue"
    return "save" if request.form.get("action") == "save" else "submit"


def _post_with_one_retry(handle: Callable[[list[tuple[str, str]]], PageResult]) -> PageResult:
    """Run a POST's handler; after a database error that came quickly (a dropped or refused
    connection), pause and run it once more. A second error reaches `_database_unavailable`."""
    form_items = list(request.form.items(multi=True))
    started = time.monotonic()
    try:
        return handle(form_items)
    except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
        if time.monotonic() - started > RETRY_WITHIN_SECONDS:
            raise
        forget_failed_transaction(exc)
    time.sleep(RETRY_PAUSE_SECONDS)
    return handle(form_items)


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


def _open_with_draft() -> tuple[Answerable, Answers | None] | PageResult:
    """The session's invitation, if it can answer now, with its saved draft (or the page to
    show instead). Reads only."""
    with read_only():
        found = _open_invitation([])
        if not isinstance(found, Answerable):
            db.session.commit()
            return found
        draft = responses.load_draft(
            db.session, found.invitation, found.framework, fw.parse_scope(found.page.scope)
        )
        db.session.commit()
    return found, draft


@bp.get("/survey")
def show_form() -> PageResult:
    """The landing page and the form's first page: what the review is for, how long it takes,
    the anonymity promise as it is true for this person's group, where to carry on, and the
    first heading's elements."""
    opened = _open_with_draft()
    if not isinstance(opened, tuple) or not isinstance(opened[0], Answerable):
        return opened
    found, draft = opened
    answers = draft or Answers()
    context = _page_context(found.page, found.framework, answers)
    steps: list[FormStep] = context["steps"]
    next_step = next((s for s in steps if any(c not in answers.ratings for c in s.codes)), None)
    return (
        render_template(
            "respond/start.html",
            restored=draft is not None,
            next_step=next_step,
            step=steps[0],
            to_review=False,
            notice=None,
            **context,
        ),
        200,
    )


@bp.get("/survey/page/<int:number>")
def show_step(number: int) -> PageResult:
    """One heading's elements, with the answers saved so far."""
    opened = _open_with_draft()
    if not isinstance(opened, tuple) or not isinstance(opened[0], Answerable):
        return opened
    found, draft = opened
    return _render_step(
        found.page,
        found.framework,
        number,
        draft or Answers(),
        to_review=request.args.get("return") == "review",
    )


@bp.post("/survey/page/<int:number>")
def save_step(number: int) -> PageResult:
    """ "Save and continue": keep this page's answers in the sealed draft (the other pages'
    answers stay as saved) and go on to the next page, the review, or the decline question."""
    return _post_with_one_retry(functools.partial(_save_step, number))


def _step_answers(form_items: list[tuple[str, str]], found: Answerable, step: FormStep) -> Answers:
    """The posted answers for one page's elements; fields of any other element are ignored."""
    codes = set(step.codes)
    mine = [
        (name, value)
        for name, value in form_items
        for prefix in (responses.RATING_PREFIX, responses.RATIONALE_PREFIX)
        if name.startswith(prefix) and name[len(prefix) :] in codes
    ]
    return responses.parse_answers(mine, found.framework, fw.parse_scope(found.page.scope))


def _step_or_404(found: Answerable, number: int) -> FormStep:
    steps = found.steps
    if not 1 <= number <= len(steps):
        abort(404)
    return steps[number - 1]


def _save_step(number: int, form_items: list[tuple[str, str]]) -> PageResult:
    found = _answerable(form_items)
    if not isinstance(found, Answerable):
        return found
    step = _step_or_404(found, number)
    answers = _step_answers(form_items, found, step)
    to_review = request.form.get("return") == "review"
    if answers.problems:
        # Show the page again with everything posted and the other pages' answers counted.
        return _render_step(found.page, found.framework, number, answers, 422, to_review=to_review)
    outcome = responses.save_draft_part(
        db.session, found.invitation, answers, step.codes, found.framework
    )
    if outcome != Outcome.SAVED:
        db.session.rollback()
        typed = _typed_answers(form_items, found.framework.scale)
        return _outcome_page(found.invitation, outcome, typed=typed, unsaved=True)
    db.session.commit()
    if request.form.get("action") == "decline":
        return redirect(url_for("respond.confirm_decline", back=number), code=303)
    steps = found.steps
    if to_review or number >= len(steps):
        return redirect(url_for("respond.review"), code=303)
    return redirect(url_for("respond.show_step", number=number + 1), code=303)


@bp.post("/survey/autosave")
def autosave() -> PageResult:
    """Save one page's answers as they are typed (survey.js, a few seconds after the person
    stops typing and when they leave the page). Only the invitation in this browser's own
    session is ever touched: without one the answer is the same whatever is posted."""
    return _post_with_one_retry(_autosave)


def _json(status: int, saved: bool, message: str = "") -> WerkzeugResponse:
    response = jsonify({"saved": saved, "message": message})
    response.status_code = status
    return response


def _autosave(form_items: list[tuple[str, str]]) -> PageResult:
    found = _answerable(form_items)
    if not isinstance(found, Answerable):
        if session.get(SESSION_KEY) is None:
            return _json(403, False, "Open the link in your email to answer.")
        return _json(409, False, "Not saved: this review no longer takes answers from you.")
    try:
        number = int(request.form.get("page", ""))
    except ValueError:
        return _json(400, False, "Not saved: reload the page.")
    steps = found.steps
    if not 1 <= number <= len(steps):
        return _json(400, False, "Not saved: reload the page.")
    step = steps[number - 1]
    answers = _step_answers(form_items, found, step)
    if answers.problems:
        return _json(422, False, "Not saved yet: " + answers.problems[0].message)
    outcome = responses.save_draft_part(
        db.session, found.invitation, answers, step.codes, found.framework
    )
    if outcome != Outcome.SAVED:
        db.session.rollback()
        return _json(409, False, "Not saved: this review no longer takes answers from you.")
    db.session.commit()
    return _json(200, True)


@bp.get("/survey/review")
def review() -> PageResult:
    """Every element with its rating, or "not yet rated", and a link to change it; Submit
    posts every answer to POST /survey, as the whole form does."""
    opened = _open_with_draft()
    if not isinstance(opened, tuple) or not isinstance(opened[0], Answerable):
        return opened
    found, draft = opened
    return _render_review(found.page, found.framework, draft or Answers())


def _render_review(
    page: FormPage, framework: fw.Framework, answers: Answers, status: int = 200
) -> tuple[str, int]:
    """The review page; with problems (a submit from it with an element unrated), they are
    listed first, each linking to its element on the page."""
    context = _page_context(page, framework, answers)
    in_scope = framework.elements_in_scope(context["scope"])
    missing = [e for e in in_scope if e.code not in answers.ratings]
    return render_template("respond/review.html", missing=missing, **context), status


@bp.get("/survey/decline")
def confirm_decline() -> PageResult:
    """Ask before declining: what it means, and a way back with everything kept."""
    found = _answerable([])
    if not isinstance(found, Answerable):
        return found
    back = request.args.get("back", "")
    if back.isdigit():
        step = _step_or_404(found, int(back))
        back_url = url_for("respond.show_step", number=step.number)
    elif back == "review":
        back_url = url_for("respond.review")
    else:
        back_url = url_for("respond.show_form")
    return (
        render_template(
            "respond/decline.html",
            cycle=found.page.cycle,
            trust=found.page.trust,
            back_url=back_url,
        ),
        200,
    )


@bp.post("/survey")
def submit_form() -> PageResult:
    return _post_with_one_retry(_submit)


def _submit(form_items: list[tuple[str, str]]) -> PageResult:
    # Read first, holding no write lock (on SQLite other submits go on meanwhile); what is
    # stored is decided again below, under lock, by the invitation's one-time update.
    found = _answerable(form_items)
    if not isinstance(found, Answerable):
        return found
    page, framework, invitation = found.page, found.framework, found.invitation
    scope = fw.parse_scope(page.scope)
    typed = _typed_answers(form_items, framework.scale)

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
        if request.form.get("from") == "review":
            return _render_review(page, framework, answers, 422)
        return _render_form(page, framework, answers, 422)

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
    return _post_with_one_retry(_decline)


def _decline(form_items: list[tuple[str, str]]) -> PageResult:
    with read_only():
        invitation = _current_invitation()
        db.session.commit()
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
    if request.endpoint == "respond.autosave":
        # Pressing the button posts the page, whose CSRF error shows it again with a fresh token
        # and everything typed; reloading would lose what was typed.
        return _json(400, False, "Not saved yet: press “Save and continue” to save your answers.")
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
    return _form_with_answers(list(request.form.items(multi=True)), 400, notice)


@bp.errorhandler(DBAPIError)
@bp.errorhandler(PoolTimeoutError)
def _database_unavailable(exc: Exception) -> PageResult:
    """The database cannot be reached (a restart, a failover, a full pool): 503 with
    Retry-After. A post gets the form again with everything in it; a page view says to
    reload in a moment."""
    forget_failed_transaction(exc)
    if request.endpoint == "respond.autosave":
        response = _json(503, False, "Not saved yet: the service is busy; trying again soon.")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if request.method == "POST":
        return _form_without_database(list(request.form.items(multi=True)))
    page, status = _message_page("unavailable", 503)
    return page, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}
