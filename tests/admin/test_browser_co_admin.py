"""A co-admin's first day, in a real browser (headless Chromium through Playwright) against a
live server, with a real SMTP server (aiosmtpd on loopback) receiving the mail:

the CEO invites a director as a viewer from the trust page; the invitation arrives; the director
asks for a sign-in link on the sign-in page, reads it from the inbox, signs in with it, reads the
trust and its cycle, and is refused (403, a clear page) when they try to change the cycle; the
used link then says it is not valid; the invitation's own link sets a password. axe-core checks
each new page at 1280 and 375 px, photographed under tests/artifacts/ (admin-co-admin-*.png).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import SmtpSink
from playwright.sync_api import Browser, expect, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from jobs.schedule import run_once
from survey.db import db
from survey.models import AdminUser, Trust
from survey.services.accounts import hash_password
from survey.services.cycles import CycleSettings, create_cycle, create_trust
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD
from tests.admin.test_browser_journey import CHROMIUM_ARGS, Checker

pytestmark = pytest.mark.browser

CEO = "ceo@elm.example"
DIRECTOR = "director@elm.example"
NEW_PASSWORD = "elm trees in the autumn"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {**app_config, "MAIL_URL": smtp.url}


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base_url  # links in emails are built from BASE_URL
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def send_mail(app: Flask) -> None:
    outcomes = run_once(app)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]


def link_in(smtp: SmtpSink, address: str, subject: str, path: str) -> str:
    for message in reversed(smtp.to(address)):
        if subject in message["Subject"]:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(
                rf"http://127\.0\.0\.1:\d+/admin/{path}/[A-Za-z0-9_\-]+", body.get_content()
            )
            assert found, body.get_content()
            return found.group(0)
    raise AssertionError(f"no email to {address} about {subject!r}")


def test_a_co_admin_is_invited_and_signs_in_by_emailed_link(
    app: Flask, live_server: str, smtp: SmtpSink, chromium: Browser, backend: str
) -> None:
    base = live_server
    with app.app_context():
        trust = create_trust(db.session, "Elm Schools Trust")
        db.session.add(
            AdminUser(
                email=CEO, name="Ceri Jones", password_hash=hash_password(PASSWORD), trusts=[trust]
            )
        )
        now = utcnow()
        cycle = create_cycle(
            db.session,
            trust,
            CycleSettings(
                title="Spring self-review",
                opens_at=now + timedelta(days=1),
                closes_at=now + timedelta(days=15),
                report_to=[CEO],
            ),
            "test",
        )
        db.session.commit()
        slug, cycle_id = trust.slug, cycle.id

    # -- the CEO invites a director as a viewer ----------------------------------------------------
    ceo_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    ceo = ceo_context.new_page()
    ceo.set_default_timeout(20_000)
    check_ceo = Checker(ceo, backend)
    ceo.goto(f"{base}/admin/login")
    ceo.get_by_label("Email address").fill(CEO)
    ceo.get_by_label("Password").fill(PASSWORD)
    ceo.get_by_role("button", name="Sign in").click()
    ceo.get_by_role("link", name="Elm Schools Trust").click()
    expect(ceo.get_by_role("heading", name="Team")).to_be_visible()
    check_ceo("co-admin-trust-team")
    ceo.get_by_label("Email address").fill(DIRECTOR)
    ceo.get_by_label("Name (optional)").fill("Dana Director")
    expect(ceo.get_by_label("Viewer: reads cycles and reports, changes nothing")).to_be_checked()
    ceo.get_by_role("button", name="Send the invitation").click()
    expect(ceo.get_by_text(f"{DIRECTOR} is now a viewer of Elm Schools Trust")).to_be_visible()
    member = ceo.locator("ul.team-list li", has_text=DIRECTOR)
    expect(member).to_contain_text("Dana Director")
    expect(member).to_contain_text("Viewer · invited, not signed in yet")
    check_ceo("co-admin-trust-invited")
    send_mail(app)
    invite_link = link_in(
        smtp, DIRECTOR, "Ceri Jones (ceo@elm.example) has invited you", "password"
    )

    # -- the director asks for a sign-in link, and uses it -----------------------------------------
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    check = Checker(page, backend)
    page.goto(f"{base}/admin/login")
    check("co-admin-login")
    page.get_by_role("link", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Email me a sign-in link")).to_be_visible()
    check("co-admin-request-link")
    page.get_by_role("button", name="Email me a sign-in link").click()  # empty: an error
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    check("co-admin-request-link-error")
    page.get_by_label("Email address").fill(DIRECTOR)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_text("The link works once, for 15 minutes")).to_be_visible()
    check("co-admin-link-sent")
    send_mail(app)
    sign_in_link = link_in(smtp, DIRECTOR, "Your sign-in link", "sign-in")
    page.goto(sign_in_link)
    expect(page.get_by_role("heading", name="Sign in by link")).to_be_visible()
    check("co-admin-link-sign-in")
    page.get_by_role("button", name=f"Sign in as {DIRECTOR}").click()
    expect(page.get_by_text(f"You are signed in as {DIRECTOR}.")).to_be_visible()

    # -- they read the trust and the cycle, and cannot change it -----------------------------------
    page.get_by_role("link", name="Elm Schools Trust").click()
    expect(page.get_by_text("You are a viewer of this trust")).to_be_visible()
    expect(page.get_by_role("link", name="Start a new cycle")).to_have_count(0)
    expect(page.get_by_role("button", name="Send the invitation")).to_have_count(0)
    check("co-admin-trust-as-viewer")
    page.get_by_role("link", name="Spring self-review").click()
    expect(page.get_by_role("heading", name="Spring self-review")).to_be_visible()
    page.goto(f"{base}/admin/cycles/{cycle_id}/edit")
    page.get_by_label("Title").fill("Changed by a viewer")
    page.get_by_role("button", name="Save changes").click()
    expect(
        page.get_by_role("heading", name="You can read this trust but not change it")
    ).to_be_visible()
    expect(page.get_by_text("ask one of its admins: Ceri Jones")).to_be_visible()
    check("co-admin-viewer-refused")
    with app.app_context():
        found = db.session.get(Trust, trust.id)
        assert found is not None and found.cycles[0].title == "Spring self-review"
        db.session.rollback()

    # -- the used link is not valid; the invitation's link sets a password -------------------------
    other = chromium.new_context(viewport={"width": 1280, "height": 900})
    fresh = other.new_page()
    fresh.set_default_timeout(20_000)
    check_fresh = Checker(fresh, backend)
    fresh.goto(sign_in_link)
    expect(fresh.get_by_role("heading", name="This link is not valid")).to_be_visible()
    check_fresh("co-admin-link-not-valid")
    fresh.goto(invite_link)
    expect(fresh.get_by_role("heading", name="Accept your invitation")).to_be_visible()
    check_fresh("co-admin-accept-invitation")
    fresh.get_by_label("New password").fill("too short")
    fresh.get_by_label("The same password again").fill("too short")
    fresh.get_by_role("button", name="Set my password and sign in").click()
    expect(fresh.get_by_role("heading", name="There is a problem")).to_be_visible()
    check_fresh("co-admin-set-password-error")
    fresh.get_by_label("New password").fill(NEW_PASSWORD)
    fresh.get_by_label("The same password again").fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Set my password and sign in").click()
    expect(fresh.get_by_text("Your password is set, and you are signed in.")).to_be_visible()
    # Setting the password ended the director's other session (the one signed in by link).
    page.goto(f"{base}/admin/trusts/{slug}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    check("co-admin-forgot-password")
    for opened in (ceo_context, context, other):
        opened.close()
    assert len(check.seen) + len(check_ceo.seen) + len(check_fresh.seen) == 13
