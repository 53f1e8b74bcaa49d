"""Signing in by an emailed link, and resetting a password by email (SPEC sections 7 and 9).

"Email me a sign-in link" and "Forgot your password?" say the same thing whether or not the
address has an account. A link's page asks first and acts only on the button (a POST): mail
scanners that open every link in an email (as school mail systems do) must not use it up. The
links work once; a sign-in link for 15 minutes from when it was sent.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as WerkzeugResponse

from survey.admin import auth, bp
from survey.db import db
from survey.errors import UserError
from survey.extensions import limiter
from survey.models import AdminLinkPurpose
from survey.services import team
from survey.services.accounts import MIN_PASSWORD_LENGTH
from survey.services.admin_links import find_admin_link, lifetime_text

LINK_NOT_VALID = (
    "This link is not valid: it has been used already, it has expired, or it is not complete. "
    "You can ask for a new one."
)


LINK_ENDPOINTS = frozenset({"admin.link_sign_in", "admin.set_password"})


@bp.after_request
def _no_referrer(response: WerkzeugResponse) -> WerkzeugResponse:
    # The token is in this page's URL: no Referer may carry it anywhere, not even to our own CSS
    # (whose request line a server's log would keep).
    if request.endpoint in LINK_ENDPOINTS:
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _link_not_valid() -> ResponseReturnValue:
    return render_template("admin/link_not_valid.html", message=LINK_NOT_VALID), 404


def _request_page(kind: str, purpose: AdminLinkPurpose) -> ResponseReturnValue:
    """The form that asks for a link by email, and the page that says it is on its way."""
    lifetime = lifetime_text(purpose)
    if request.method == "GET":
        return render_template(
            "admin/request_link.html", kind=kind, email="", error=None, lifetime=lifetime
        )
    email = request.form.get("email", "").strip()[:320]
    if not email:
        page = render_template(
            "admin/request_link.html",
            kind=kind,
            email="",
            error="Enter your email address.",
            lifetime=lifetime,
        )
        return page, 422
    if purpose == AdminLinkPurpose.SIGN_IN:
        team.request_sign_in_link(db.session, email)
    else:
        team.request_password_reset(db.session, email)
    return render_template("admin/link_sent.html", kind=kind, email=email, lifetime=lifetime)


@bp.route("/login/link", methods=["GET", "POST"])
@limiter.limit(auth.SIGN_IN_LIMIT, methods=["POST"])
@limiter.limit(auth.SIGN_IN_LIMIT, methods=["POST"], key_func=auth._email_key)
def request_sign_in_link() -> ResponseReturnValue:
    return _request_page("sign-in", AdminLinkPurpose.SIGN_IN)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(auth.SIGN_IN_LIMIT, methods=["POST"])
@limiter.limit(auth.SIGN_IN_LIMIT, methods=["POST"], key_func=auth._email_key)
def forgot_password() -> ResponseReturnValue:
    return _request_page("reset", AdminLinkPurpose.PASSWORD_RESET)


@bp.route("/sign-in/<token>", methods=["GET", "POST"])
@limiter.limit(auth.SIGN_IN_LIMIT, methods=["POST"])
def link_sign_in(token: str) -> ResponseReturnValue:
    if request.method == "POST":
        admin = team.sign_in_with_link(db.session, token)
        if admin is None:
            # The refused link is gone either way: an expired one is deleted as it is tried.
            return _link_not_valid()
        auth.begin_signed_in_session(admin)
        flash(f"You are signed in as {admin.email}.", "success")
        return redirect(url_for("admin.trusts"), code=303)
    link = find_admin_link(db.session, token, team.SIGN_IN_PURPOSES)
    if link is None:
        return _link_not_valid()
    return render_template("admin/link_sign_in.html", email=link.admin.email, token=token)


@bp.route("/password/<token>", methods=["GET", "POST"])
@limiter.limit(auth.SIGN_IN_LIMIT, methods=["POST"])
def set_password(token: str) -> ResponseReturnValue:
    link = find_admin_link(db.session, token, team.PASSWORD_PURPOSES)
    if link is None:
        return _link_not_valid()
    context = {
        "email": link.admin.email,
        "token": token,
        "is_invitation": link.purpose == AdminLinkPurpose.INVITE,
        "trusts": [t.name for t in link.admin.trusts],
        "min_length": MIN_PASSWORD_LENGTH,
        "errors": {},
    }
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            context["errors"] = {"confirm": "The two passwords are not the same."}
            return render_template("admin/set_password.html", **context), 422
        try:
            with db.savepoint():
                admin = team.set_password_with_link(db.session, token, password)
        except UserError as exc:
            message = str(exc)
            context["errors"] = {"password": message[:1].upper() + message[1:] + "."}
            return render_template("admin/set_password.html", **context), 422
        if admin is None:
            return _link_not_valid()
        # Every session of the account has ended; this browser starts a new one.
        auth.begin_signed_in_session(admin)
        flash(
            "Your password is set, and you are signed in. Any other place this account was "
            "signed in has been signed out.",
            "success",
        )
        return redirect(url_for("admin.trusts"), code=303)
    return render_template("admin/set_password.html", **context)
