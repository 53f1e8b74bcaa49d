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
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import SmtpSink
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from jobs.schedule import run_once
from survey.config import update_settings
from survey.db import db
from survey.models import AdminUser, Cycle, CycleState, Trust
from survey.services.accounts import hash_password
from survey.services.cycles import CycleSettings, create_cycle, create_trust
from survey.services.recipients import RecipientRow, add_invitations
from survey.timeutil import get_zone, utcnow
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
    update_settings(app, BASE_URL=base_url)  # links in emails are built from BASE_URL
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


# -- the CEO's year around a cycle (issue 17) ------------------------------------------------------
#
# A co-admin (viewer) is invited, signs in by an emailed link, reads the new cycle and cannot
# change it; the CEO copies last year's cycle with its people, names themself as the sender with a
# note, corrects one person's address, launches, removes another person, and presses "remind
# now". The invitations and reminders reach only the right people, from the CEO's name with the
# note, and the removed person's link answers "This link is not valid".

NOTE = "Your views shaped our plan last year: please tell us how it is going."
SURVEY_LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_.\-]+")


def local_input(value: datetime) -> str:
    return value.astimezone(get_zone("Europe/London")).strftime("%Y-%m-%dT%H:%M")


def survey_link(smtp: SmtpSink, address: str) -> str:
    (message,) = [m for m in smtp.to(address) if "asks for your view" in m["Subject"]]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = SURVEY_LINK.search(body.get_content())
    assert found, body.get_content()
    return found.group(0)


def test_the_ceo_copies_last_year_corrects_people_and_reminds_with_a_viewer_watching(
    app: Flask, live_server: str, smtp: SmtpSink, chromium: Browser, backend: str
) -> None:
    base = live_server
    year_ago = utcnow() - timedelta(days=365)
    with app.app_context():
        trust = create_trust(db.session, "Elm Schools Trust")
        db.session.add(
            AdminUser(
                email=CEO, name="Ceri Jones", password_hash=hash_password(PASSWORD), trusts=[trust]
            )
        )
        last_year = create_cycle(
            db.session,
            trust,
            CycleSettings(
                title="Self-review last year",
                opens_at=year_ago,
                closes_at=year_ago + timedelta(days=14),
                scope="1A,1B",
                report_to=[CEO],
            ),
            "test",
        )
        people = [
            ("exec1@elm.example", "Eve Exec", "executive"),
            ("head1@elm.exmaple", "Hal Head", "headteacher"),  # a typing mistake, corrected below
            ("head2@elm.example", "Hana Head", "headteacher"),
            ("head3@elm.example", "Hugo Head", "headteacher"),
        ]
        add_invitations(
            db.session,
            last_year,
            [RecipientRow(i + 2, e, n, g, "") for i, (e, n, g) in enumerate(people)],
            "test",
        )
        db.session.commit()
        last_year_id = last_year.id

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    check = Checker(page, backend)
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email address").fill(CEO)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # -- copy last year's cycle with its people ------------------------------------------------
    page.goto(f"{base}/admin/cycles/{last_year_id}")
    page.get_by_role("link", name="Copy this cycle into a new draft").click()
    page.get_by_label("Title of the new cycle").fill("Self-review this year")
    expect(page.get_by_label("Invite the same 4 people again")).to_be_checked()
    check("year-copy")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_text("created from “Self-review last year”")).to_be_visible()
    cycle_url = page.url
    cycle_id = int(cycle_url.rsplit("/", 1)[1])
    # It opens now rather than a year on from last year's date.
    page.goto(f"{cycle_url}/edit")
    page.get_by_label("Opens").fill(local_input(utcnow() - timedelta(hours=1)))
    page.get_by_label("Closes").fill(local_input(utcnow() + timedelta(days=14)))
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()

    # -- the sender, with a note; one address corrected ---------------------------------------
    page.get_by_role("link", name="Say who the invitations come from").click()
    page.get_by_label("Sender\u2019s name").fill("Ceri Jones")
    page.get_by_label("Their role").fill("Chief Executive")
    page.get_by_label("Replies go to").fill(CEO)
    page.get_by_label("A personal note (optional)").fill(NOTE)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("pre.email-preview")).to_contain_text(NOTE)
    page.goto(f"{cycle_url}/invitations")
    page.get_by_role("link", name="Change head1@elm.exmaple").click()
    check("year-invitation")
    page.get_by_label("Email address").fill("head1@elm.example")
    page.get_by_role("button", name="Save the changes").click()
    expect(page.get_by_role("cell", name="head1@elm.example", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="head1@elm.exmaple", exact=True)).to_have_count(0)

    # -- launch: invitations from the CEO, with the note, to the right people -----------------
    page.goto(f"{cycle_url}/launch")
    page.get_by_role("button", name="Launch the cycle").click()
    expect(page.get_by_text("the cycle is open and the invitations are being sent")).to_be_visible()
    send_mail(app)
    invited = {
        r.recipients[0] for r in smtp.snapshot() if "asks for your view" in r.message["Subject"]
    }
    assert invited == {
        "exec1@elm.example",
        "head1@elm.example",
        "head2@elm.example",
        "head3@elm.example",
    }
    for received in smtp.snapshot():
        assert "Ceri Jones (Elm Schools Trust)" in str(received.message["From"])
        assert str(received.message["Reply-To"]) == CEO
        text = received.message.get_body(preferencelist=("plain",))
        assert text is not None and NOTE in text.get_content()
    removed_link = survey_link(smtp, "head3@elm.example")

    # -- a person who left is removed; remind everyone now ------------------------------------
    page.goto(f"{cycle_url}/invitations")
    page.get_by_role("link", name="Change head3@elm.example").click()
    page.get_by_role("button", name="Remove from this cycle").click()
    expect(page.get_by_text("Hugo Head <head3@elm.example> removed")).to_be_visible()
    page.goto(cycle_url)
    page.get_by_role("link", name="Remind everyone who has not answered, now").click()
    page.get_by_role("button", name="Send the reminders").click()
    expect(page.get_by_text("A reminder is on its way")).to_be_visible()
    send_mail(app)
    reminded = [r for r in smtp.snapshot() if r.message["Subject"].startswith("Reminder")]
    assert {r.recipients[0] for r in reminded} == {
        "exec1@elm.example",
        "head1@elm.example",
        "head2@elm.example",
    }
    assert all("Ceri Jones (Elm Schools Trust)" in str(r.message["From"]) for r in reminded)
    assert not smtp.to("head1@elm.exmaple")  # nothing ever went to the mistyped address
    respondent = chromium.new_context()
    gone = respondent.new_page()
    response = gone.goto(removed_link)
    assert response is not None and response.status == 404
    expect(gone.get_by_role("heading", name="This link is not valid")).to_be_visible()
    respondent.close()

    # -- a viewer, invited by email, signs in by link and cannot change the cycle -------------
    page.goto(f"{base}/admin/trusts/elm-schools-trust")
    page.get_by_label("Email address").fill(DIRECTOR)
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_text(f"{DIRECTOR} is now a viewer of Elm Schools Trust")).to_be_visible()
    viewer_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    viewer = viewer_context.new_page()
    viewer.set_default_timeout(20_000)
    viewer.goto(f"{base}/admin/login")
    viewer.get_by_role("link", name="Email me a sign-in link").click()
    viewer.get_by_label("Email address").fill(DIRECTOR)
    viewer.get_by_role("button", name="Email me a sign-in link").click()
    send_mail(app)
    viewer.goto(link_in(smtp, DIRECTOR, "Your sign-in link", "sign-in"))
    viewer.get_by_role("button", name=f"Sign in as {DIRECTOR}").click()
    viewer.goto(cycle_url)
    expect(viewer.get_by_role("heading", name="Self-review this year")).to_be_visible()
    viewer.goto(f"{cycle_url}/remind")
    viewer.get_by_role("button", name="Send the reminders").click()
    expect(
        viewer.get_by_role("heading", name="You can read this trust but not change it")
    ).to_be_visible()
    with app.app_context():
        found = db.session.scalar(select(Cycle).where(Cycle.id == cycle_id))
        assert found is not None and found.state == CycleState.OPEN
        db.session.rollback()
    viewer_context.close()
    context.close()
    assert check.seen == ["year-copy", "year-invitation"]
