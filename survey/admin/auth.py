"""Signing in and out, and the check that every other admin page makes first.

The admin's session is held on the server (`survey.services.accounts`): the cookie's
`session["admin_session"]` is a random token whose hash names a row in `admin_sessions`. Every
admin request looks that row up, so signing out (which deletes it) ends the session for every
copy of the cookie, and a session older than PERMANENT_SESSION_LIFETIME is refused whatever the
cookie says. A sign-in clears the whole cookie session first and starts a new token, so nothing
set before it survives into the signed-in session. The respondent's path uses its own keys and
is never touched here.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl, urlsplit

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response as WerkzeugResponse

from survey.admin import bp
from survey.db import db, writing
from survey.extensions import limiter
from survey.models import AdminUser, Cycle, Trust
from survey.services.accounts import (
    SessionExpired,
    authenticate,
    discard_admin_session,
    end_admin_session,
    get_session_admin,
    get_visible_cycle,
    get_visible_trust,
    normalise_login_email,
    start_admin_session,
)
from survey.services.audit import record_event

SESSION_KEY = "admin_session"
# Pages anyone may open: signing in, and the emailed-link pages (survey/admin/email_links.py).
PUBLIC_ENDPOINTS = {
    "admin.login",
    "admin.request_sign_in_link",
    "admin.link_sign_in",
    "admin.forgot_password",
    "admin.set_password",
}
SIGN_IN_ERROR = "The email address or password is not right, or the account is not active."
SIGN_IN_LIMIT = "10/minute"


def current_admin() -> AdminUser:
    admin: AdminUser = g.admin
    return admin


@bp.before_request
def require_admin() -> ResponseReturnValue | None:
    """Load the signed-in admin; send anyone else to the sign-in page."""
    g.admin = None
    token = session.get(SESSION_KEY)
    if token is not None:
        try:
            g.admin = get_session_admin(db.session, token)
        except SessionExpired:
            flash("Your session has expired. Please sign in again.", "error")
        if g.admin is None:
            session.pop(SESSION_KEY, None)
            # An expired session, or every session of a deactivated account, is deleted in a
            # short write of its own, before the view's unit of work begins (a GET's transaction
            # only reads).
            db.session.rollback()
            with writing():
                discard_admin_session(db.session, token)
                db.session.commit()
    if g.admin is None and request.endpoint not in PUBLIC_ENDPOINTS:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("admin.login", next=target.rstrip("?") if target else None))
    return None


def no_store(response: WerkzeugResponse) -> WerkzeugResponse:
    """Admin and set pages and downloads show names, emails and results: never keep them in a
    shared cache, a browser's disk cache or its back-button history."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Pragma", "no-cache")
    return response


bp.after_request(no_store)


def visible_trust(slug: str) -> Trust:
    """A trust the signed-in admin can see (else NotFound: the blueprints' handlers make it a
    404)."""
    return get_visible_trust(db.session, current_admin(), slug)


def visible_cycle(cycle_id: int) -> Cycle:
    """A cycle the signed-in admin can see (else NotFound: 404). A refused change raises
    UserError, which the blueprint's handler shows on the page the person goes back to
    (survey/admin/views.py BACK_AFTER_REFUSAL)."""
    return get_visible_cycle(db.session, current_admin(), cycle_id)


def acting_email() -> str:
    """Who the audit log names for what this request does."""
    return current_admin().email


def _requested_next() -> str | None:
    """The `next=` value exactly as sent. Read from the raw query string because the request's
    own arguments have NUL characters stripped, and a value that carried one must be ignored,
    not repaired."""
    query = request.query_string.decode("utf-8", errors="replace")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "next":
            return value
    return None


def _safe_next(value: str | None) -> str:
    """Only a path inside the admin or set pages: never another site (an open redirect), and nothing
    with a control character in it (a CR or LF could split the Location header)."""
    if (
        value
        and value.startswith(("/admin/", "/sets/"))
        and not value.startswith("//")
        and not any(unicodedata.category(c) == "Cc" for c in value)
    ):
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc:
            return value
    return url_for("admin.trusts")


def _email_key() -> str:
    return "sign-in:" + normalise_login_email(request.form.get("email", ""))[:320]


def begin_signed_in_session(admin: AdminUser) -> None:
    """Sign this browser in as `admin` (by password or by an emailed link): any session it held
    ends, and a fresh cookie session with a new token starts, so nothing from before the
    sign-in is carried over."""
    end_admin_session(db.session, session.get(SESSION_KEY))
    token = start_admin_session(db.session, admin, current_app.permanent_session_lifetime)
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = token


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMIT, methods=["POST"])
@limiter.limit(SIGN_IN_LIMIT, methods=["POST"], key_func=_email_key)
def login() -> ResponseReturnValue:
    if g.admin is not None and request.method == "GET":
        return redirect(url_for("admin.trusts"))
    error = None
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        admin = authenticate(db.session, email, request.form.get("password", ""))
        if admin is not None:
            next_url = _safe_next(_requested_next())
            begin_signed_in_session(admin)
            return redirect(next_url, code=303)
        # The failed attempt is in the audit log: the page is returned, so it is committed.
        error = SIGN_IN_ERROR
    status = 401 if error else 200
    return render_template("admin/login.html", error=error, email=email), status


@bp.errorhandler(TooManyRequests)
def too_many_sign_ins(exc: TooManyRequests) -> ResponseReturnValue:
    error = "Too many sign-in attempts. Wait a minute, then try again."
    return render_template("admin/login.html", error=error, email=""), 429


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_admin_session(db.session, session.get(SESSION_KEY))
    record_event(db.session, current_admin().email, "admin.sign-out")
    session.pop(SESSION_KEY, None)
    flash("You have signed out.", "success")
    return redirect(url_for("admin.login"), code=303)
