"""Signing in and out, and the check that every other admin page makes first.

The admin's identity lives in `session["admin_id"]` (the respondent's path uses its own keys
and is never touched here). A sign-in clears the whole session first, so nothing set before it
survives into the signed-in session, and records the time: a session older than
PERMANENT_SESSION_LIFETIME is ended on the server, whatever the cookie says.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

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

from survey.admin import bp
from survey.db import db
from survey.extensions import limiter
from survey.models import AdminUser
from survey.services.accounts import (
    authenticate,
    get_session_admin,
    normalise_login_email,
    session_fingerprint,
)
from survey.services.audit import record_event

SESSION_KEYS = ("admin_id", "admin_fp", "admin_login_at")
PUBLIC_ENDPOINTS = {"admin.login"}
SIGN_IN_ERROR = "The email address or password is not right, or the account is not active."
SIGN_IN_LIMIT = "10/minute"


def current_admin() -> AdminUser:
    admin: AdminUser = g.admin
    return admin


def _end_admin_session() -> None:
    for key in SESSION_KEYS:
        session.pop(key, None)


def _session_expired() -> bool:
    login_at = session.get("admin_login_at")
    if not isinstance(login_at, int | float):
        return True
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    return time.time() - login_at > lifetime


@bp.before_request
def require_admin() -> ResponseReturnValue | None:
    """Load the signed-in admin; send anyone else to the sign-in page."""
    g.admin = None
    if "admin_id" in session:
        if _session_expired():
            _end_admin_session()
            flash("Your session has expired. Please sign in again.", "error")
        else:
            g.admin = get_session_admin(
                db.session, session.get("admin_id"), session.get("admin_fp")
            )
            if g.admin is None:
                _end_admin_session()
    if g.admin is None and request.endpoint not in PUBLIC_ENDPOINTS:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("admin.login", next=target.rstrip("?") if target else None))
    return None


def _safe_next(value: str | None) -> str:
    """Only a path inside the admin pages: never another site (an open redirect)."""
    if value and value.startswith("/admin/") and not value.startswith("//"):
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc:
            return value
    return url_for("admin.trusts")


def _email_key() -> str:
    return "sign-in:" + normalise_login_email(request.form.get("email", ""))[:320]


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
            next_url = _safe_next(request.args.get("next"))
            db.session.commit()
            # A fresh session: nothing from before the sign-in is carried over.
            session.clear()
            session.permanent = True
            session["admin_id"] = admin.id
            session["admin_fp"] = session_fingerprint(admin)
            session["admin_login_at"] = int(time.time())
            return redirect(next_url, code=303)
        db.session.commit()  # keeps the failed attempt in the audit log
        error = SIGN_IN_ERROR
    status = 401 if error else 200
    return render_template("admin/login.html", error=error, email=email), status


@bp.errorhandler(TooManyRequests)
def too_many_sign_ins(exc: TooManyRequests) -> ResponseReturnValue:
    error = "Too many sign-in attempts. Wait a minute, then try again."
    return render_template("admin/login.html", error=error, email=""), 429


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    record_event(db.session, current_admin().email, "admin.sign-out")
    db.session.commit()
    _end_admin_session()
    flash("You have signed out.", "success")
    return redirect(url_for("admin.login"), code=303)
