"""Signing in and out: passwords, the generic error, rate limits, CSRF, session expiry."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.db import db
from survey.models import AdminSession, AdminUser, AuditEvent, Trust
from survey.services.accounts import hash_password, reset_admin_password
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD, Browser


def test_sign_in_with_the_right_password_lands_on_the_trusts_page(
    browser: Browser, make_admin: Callable[..., AdminUser], session: Session
) -> None:
    admin = make_admin("Director@Oak.example")
    assert admin.password_hash.startswith("scrypt:")
    response = browser.sign_in("  director@oak.EXAMPLE ")
    assert response.status_code == 303
    assert response.location == "/admin/"
    page = browser.get("/admin/")
    assert page.status_code == 200
    assert "Signed in as Director@Oak.example" in page.get_data(as_text=True)
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.sign-in")).all()
    assert [e.actor for e in events] == ["Director@Oak.example"]
    session.refresh(admin)
    assert admin.last_login_at is not None


def test_a_wrong_password_and_an_unknown_email_get_the_same_generic_error(
    browser: Browser, make_admin: Callable[..., AdminUser], session: Session
) -> None:
    make_admin("ceo@oak.example")
    wrong = browser.sign_in("ceo@oak.example", "not the password")
    unknown = browser.sign_in("nobody@oak.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "The email address or password is not right"
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302
    failed = session.scalars(
        select(AuditEvent.actor).where(AuditEvent.action.like("%failed"))
    ).all()
    assert failed == ["ceo@oak.example"]


def test_an_inactive_account_cannot_sign_in(
    browser: Browser, make_admin: Callable[..., AdminUser], session: Session
) -> None:
    admin = make_admin()
    admin.is_active = False
    session.commit()
    assert browser.sign_in(admin.email).status_code == 401


def test_pages_need_a_signed_in_admin_and_return_to_the_page_asked_for(
    browser: Browser, make_admin: Callable[..., AdminUser], make_trust: Callable[..., Trust]
) -> None:
    trust = make_trust()
    admin = make_admin(trusts=[trust])
    for url in ("/admin/", f"/admin/trusts/{trust.slug}", "/admin/cycles/1"):
        response = browser.get(url)
        assert response.status_code == 302
        assert response.location.startswith("/admin/login")
    assert browser.get("/").location == "/admin/login"
    target = f"/admin/trusts/{trust.slug}/audit"
    login_url = browser.get(target).location
    response = browser.post(login_url, {"email": admin.email, "password": PASSWORD})
    assert response.location == target


def test_the_next_parameter_never_redirects_to_another_site(app: Flask) -> None:
    # No `session` fixture here: its app context would be shared by the requests of several
    # clients (and with it Flask-WTF's per-context token).
    with app.app_context():
        db.session.add(AdminUser(email="ceo@oak.example", password_hash=hash_password(PASSWORD)))
        db.session.commit()
    for evil in ("https://evil.example/admin/", "//evil.example/admin/", "/elsewhere"):
        browser = Browser(app.test_client())
        url = f"/admin/login?next={evil}"
        response = browser.post(url, {"email": "ceo@oak.example", "password": PASSWORD})
        assert response.location == "/admin/", evil


def test_sign_in_is_rate_limited_per_address_with_a_clear_message(
    browser: Browser, make_admin: Callable[..., AdminUser]
) -> None:
    admin = make_admin()
    for _ in range(10):
        assert browser.sign_in(f"guess-{_}@oak.example", "wrong password").status_code == 401
    blocked = browser.sign_in(admin.email)  # even the right password is refused for now
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302


def test_sign_in_is_rate_limited_per_email_across_addresses(
    browser: Browser, make_admin: Callable[..., AdminUser]
) -> None:
    admin = make_admin()
    for n in range(10):
        response = browser.post(
            "/admin/login",
            {"email": admin.email, "password": "wrong password"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n + 1}"},
        )
        assert response.status_code == 401
    response = browser.post(
        "/admin/login",
        {"email": admin.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
    )
    assert response.status_code == 429


def test_every_form_needs_its_csrf_token(
    signed_in: tuple[Browser, AdminUser, Trust], session: Session
) -> None:
    browser, _, _ = signed_in
    response = browser.client.post("/admin/trusts", data={"name": "Forged Trust"})
    assert response.status_code == 400
    assert session.scalar(select(Trust).where(Trust.name == "Forged Trust")) is None
    assert browser.client.post("/admin/logout").status_code == 400
    response = browser.client.post(
        "/admin/login", data={"email": "ceo@oak.example", "password": PASSWORD}
    )
    assert response.status_code == 400


def test_a_session_expires_after_its_lifetime(
    app: Flask, signed_in: tuple[Browser, AdminUser, Trust], session: Session
) -> None:
    browser, _, _ = signed_in
    assert browser.get("/admin/").status_code == 200
    with browser.client.session_transaction() as cookie:
        assert cookie.permanent
    (held,) = session.scalars(select(AdminSession)).all()
    lifetime = app.permanent_session_lifetime
    assert held.expires_at - held.created_at == lifetime
    held.expires_at = utcnow() - timedelta(seconds=1)  # as if the lifetime had passed
    session.commit()
    response = browser.get("/admin/")
    assert response.status_code == 302
    page = browser.get(response.location).get_data(as_text=True)
    assert "Your session has expired" in page
    assert browser.get("/admin/").status_code == 302
    assert session.scalars(select(AdminSession)).all() == []


def test_signing_in_starts_a_fresh_session_and_signing_out_ends_it(
    browser: Browser, make_admin: Callable[..., AdminUser], session: Session
) -> None:
    admin = make_admin()
    browser.get("/admin/login")
    with browser.client.session_transaction() as cookie:
        cookie["planted"] = "by someone else"
    browser.sign_in(admin.email)
    with browser.client.session_transaction() as cookie:
        assert "planted" not in cookie
        token = cookie["admin_session"]
    held = session.scalars(select(AdminSession)).one()
    assert held.admin_id == admin.id
    assert held.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert browser.client.get("/admin/logout").status_code == 405
    response = browser.post("/admin/logout", page="/admin/")
    assert response.status_code == 303
    assert browser.get("/admin/").status_code == 302
    assert session.scalars(select(AdminSession)).all() == []
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["admin.sign-in", "admin.sign-out"]


def test_resetting_the_password_ends_existing_sessions(
    signed_in: tuple[Browser, AdminUser, Trust], session: Session
) -> None:
    browser, admin, _ = signed_in
    assert reset_admin_password(session, admin, "a brand new password", "cli") == 1
    session.commit()
    assert browser.get("/admin/").status_code == 302
