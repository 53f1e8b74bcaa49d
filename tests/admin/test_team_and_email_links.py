"""Co-admins with roles, sign-in by emailed link, and password reset by email (issue 17), on
both databases, with the emails sent through the outbox to a real SMTP server on loopback.

A CEO invites a viewer; the invitation and the sign-in link arrive by SMTP; the viewer signs in
with the link, reads the cycle, and every admin POST about the trust is refused with 403 (the
POST routes are read from the app's url_map, so a route added later is covered too). Links work
once and expire (time is passed in as `now=`, never waited for); a password reset works once and
ends the account's other sessions; the database never holds a usable link.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from mail.smtp_sink import SmtpSink
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.db import make_engine, read_only
from survey.mail.dispatch import dispatch
from survey.mail.messages import LINK_PLACEHOLDER
from survey.migrate import upgrade_database
from survey.models import (
    AdminLink,
    AdminRole,
    AdminSession,
    AdminUser,
    AuditEvent,
    Cycle,
    CycleState,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Trust,
    trust_admins,
)
from survey.respond.redaction import ADMIN_LINK_PREFIXES, redact
from survey.services import team
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD, Browser

CEO = "ceo@oak.example"
PA = "pa@oak.example"
NEW_PASSWORD = "a brand new passphrase"
SIGN_IN_LINK = re.compile(r"http://survey\.test/admin/sign-in/([A-Za-z0-9_\-]+)")
PASSWORD_LINK = re.compile(r"http://survey\.test/admin/password/([A-Za-z0-9_\-]+)")
NOT_VALID = "This link is not valid"
REFUSED = "You can read this trust but not change it"
# Admin POST routes that are about no trust: anyone signed in (or no one) may use them. Every
# other admin POST route must name a trust (its slug) or a cycle, so the viewer rule covers it.
POSTS_ABOUT_NO_TRUST = {
    "admin.login",
    "admin.logout",
    "admin.create_trust",
    "admin.request_sign_in_link",
    "admin.forgot_password",
    "admin.link_sign_in",
    "admin.set_password",
}


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {**app_config, "MAIL_URL": smtp.url, "MAIL_FROM": "Oak reviews <reviews@oak.example>"}


def send_mail(session: Session, **kwargs: Any) -> None:
    """Dispatch the outbox as the scheduler does (the test's own work is committed first)."""
    session.commit()
    result = dispatch(session, **kwargs)
    assert result.failed == 0 and result.retried == 0, str(result)


def last_link(smtp: SmtpSink, address: str, pattern: re.Pattern[str]) -> str:
    """The link matching `pattern` in the latest email to `address` that has one."""
    messages = smtp.to(address)
    assert messages, f"no email to {address}"
    for message in reversed(messages):
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        found = pattern.search(body.get_content())
        if found:
            return found.group(1)
    raise AssertionError(f"no email to {address} has a link like {pattern.pattern}")


def audit_actions(session: Session) -> list[str]:
    with read_only():
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        session.rollback()
    return actions


def path_for(rule: Any, values: dict[str, Any]) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(values.get(name, "x")), path)
    return str(path)


@pytest.fixture
def oak(
    session: Session,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., AdminUser],
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> tuple[Trust, AdminUser, Cycle]:
    trust = make_trust()
    ceo = make_admin(CEO, trusts=[trust])
    cycle = make_cycle(trust)
    add_people(cycle, {"headteacher": 3})
    return trust, ceo, cycle


def test_a_viewer_invited_by_email_signs_in_by_emailed_link_and_every_post_is_refused(
    app: Flask, session: Session, smtp: SmtpSink, oak: tuple[Trust, AdminUser, Cycle]
) -> None:
    trust, ceo, cycle = oak
    ceo_browser = Browser(app.test_client())
    assert ceo_browser.sign_in(CEO).status_code == 303
    trust_page = f"/admin/trusts/{trust.slug}"

    # -- the CEO invites a viewer from the trust page ------------------------------------------
    invited = ceo_browser.post(
        f"{trust_page}/team/invite",
        {"email": PA, "name": "Pat Assistant", "role": "viewer"},
        page=trust_page,
    )
    assert invited.status_code == 303
    page = ceo_browser.get(trust_page).get_data(as_text=True)
    assert f"{PA} is now a viewer of {trust.name}" in page
    assert re.search(
        r"<strong>Pat Assistant</strong> <span class=\"mono\">pa@oak.example</span></p>\s*"
        r"<p class=\"member-role\">Viewer",
        page,
    )
    with read_only():
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == MessageKind.ADMIN_INVITE)
        ).one()
        # The stored email holds a placeholder, not a link: the link is minted when it is sent.
        assert row.recipient == PA and LINK_PLACEHOLDER in row.body_text
        assert "/admin/password/" not in row.body_text + row.body_html
        assert session.scalar(select(func.count()).select_from(AdminLink)) == 0
        session.rollback()

    send_mail(session)
    invitation = smtp.to(PA)
    assert len(invitation) == 1
    assert "invited you to Oak Learning Trust" in invitation[0]["Subject"]
    invite_text = invitation[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "as a viewer: you can read its review cycles and reports" in invite_text
    invite_token = last_link(smtp, PA, PASSWORD_LINK)
    with read_only():
        stored = session.scalars(select(AdminLink)).one()
        # Only the token's hash is kept, and no row anywhere holds the token itself.
        assert stored.token_hash == hashlib.sha256(invite_token.encode()).hexdigest()
        sent = session.scalars(select(OutboxMessage)).all()
        assert all(invite_token not in m.body_text + m.body_html for m in sent)
        session.rollback()

    # -- the viewer asks for a sign-in link instead and uses it --------------------------------
    pa = Browser(app.test_client())
    asked = pa.post("/admin/login/link", {"email": PA})
    assert asked.status_code == 200
    assert "Check your email" in asked.get_data(as_text=True)
    send_mail(session)
    token = last_link(smtp, PA, SIGN_IN_LINK)
    # Opening the link only asks (mail scanners open links); the button signs in.
    confirm = pa.get(f"/admin/sign-in/{token}")
    assert confirm.status_code == 200 and f"Sign in as {PA}" in confirm.get_data(as_text=True)
    signed_in = pa.post(f"/admin/sign-in/{token}", page=f"/admin/sign-in/{token}")
    assert signed_in.status_code == 303 and signed_in.location.endswith("/admin/")
    # Single use: the same link again, even in another browser, is refused.
    again = Browser(app.test_client()).post(f"/admin/sign-in/{token}", page="/admin/login")
    assert again.status_code == 404 and NOT_VALID in again.get_data(as_text=True)

    # -- the viewer reads the trust and the cycle ----------------------------------------------
    home = pa.get(trust_page)
    assert home.status_code == 200
    home_text = home.get_data(as_text=True)
    assert "You are a <strong>viewer</strong> of this trust" in home_text
    assert "Send the invitation" not in home_text and "Start a new cycle" not in home_text
    cycle_page = pa.get(f"/admin/cycles/{cycle.id}")
    assert cycle_page.status_code == 200 and cycle.title in cycle_page.get_data(as_text=True)

    # -- every admin POST about the trust is refused, and nothing changes ----------------------
    before = audit_actions(session)
    values = {
        "slug": trust.slug,
        "cycle_id": cycle.id,
        "admin_id": ceo.id,
        "invitation_id": 1,
        "message_id": 1,
        "link_id": 1,
        "action_id": 1,
        "action": "revoke",
    }
    posts = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("admin.") and "POST" in (r.methods or set())
    ]
    scoped = [r for r in posts if r.endpoint not in POSTS_ABOUT_NO_TRUST]
    unscoped = [r.endpoint for r in scoped if not {"slug", "cycle_id"} & set(r.arguments)]
    assert unscoped == [], f"admin POST routes the viewer rule cannot see: {unscoped}"
    assert len(scoped) >= 15  # the whole set of admin actions, not a handful
    for rule in scoped:
        response = pa.post(path_for(rule, values), {"role": "admin", "email": "x@oak.example"})
        assert response.status_code == 403, (rule.endpoint, response.status_code)
        assert REFUSED in response.get_data(as_text=True), rule.endpoint
    with read_only():
        refreshed = session.get(Cycle, cycle.id, populate_existing=True)
        assert refreshed is not None and refreshed.state == CycleState.DRAFT
        roles = dict(
            session.execute(
                select(AdminUser.email, trust_admins.c.role).join(
                    trust_admins, trust_admins.c.admin_id == AdminUser.id
                )
            ).all()
        )
        session.rollback()
    assert roles == {CEO: AdminRole.ADMIN, PA: AdminRole.VIEWER}
    after = audit_actions(session)
    assert after == before  # not one change recorded

    # The same POST by the CEO is not refused: the 403 is the viewer's role, not the route.
    made_admin = ceo_browser.post(
        f"{trust_page}/team/{_admin_id(session, PA)}/role", {"role": "admin"}, page=trust_page
    )
    assert made_admin.status_code == 303
    assert pa.post(f"/admin/cycles/{cycle.id}/edit", {"title": "x"}).status_code != 403
    assert audit_actions(session)[len(after)] == "trust.member-role"


def _admin_id(session: Session, email: str) -> int:
    with read_only():
        found = session.scalar(select(AdminUser.id).where(AdminUser.email == email))
        session.rollback()
    assert found is not None
    return int(found)


def test_sign_in_links_work_once_and_only_for_15_minutes(
    app: Flask, session: Session, smtp: SmtpSink, make_admin: Callable[..., AdminUser]
) -> None:
    admin = make_admin(CEO)
    sent_at = utcnow()

    team.request_sign_in_link(session, CEO, now=sent_at)
    send_mail(session, now=sent_at)
    late = last_link(smtp, CEO, SIGN_IN_LINK)
    # Sixteen minutes after it was sent the link no longer signs in, and it is gone for good.
    assert team.sign_in_with_link(session, late, now=sent_at + timedelta(minutes=16)) is None
    session.commit()
    assert team.sign_in_with_link(session, late, now=sent_at + timedelta(minutes=1)) is None

    team.request_sign_in_link(session, CEO, now=sent_at)
    send_mail(session, now=sent_at)
    token = last_link(smtp, CEO, SIGN_IN_LINK)
    assert token != late
    used = team.sign_in_with_link(session, token, now=sent_at + timedelta(minutes=14))
    assert used is not None and used.id == admin.id
    session.commit()
    assert team.sign_in_with_link(session, token, now=sent_at + timedelta(minutes=14)) is None
    session.commit()
    assert audit_actions(session).count("admin.sign-in-by-link") == 1

    # A deactivated account's link stops working, and its waiting emails are not sent.
    team.request_sign_in_link(session, CEO, now=sent_at)
    send_mail(session, now=sent_at)
    unused = last_link(smtp, CEO, SIGN_IN_LINK)
    team.request_sign_in_link(session, CEO, now=sent_at)
    admin.is_active = False
    session.commit()
    assert team.sign_in_with_link(session, unused, now=sent_at + timedelta(minutes=1)) is None
    delivered = len(smtp.to(CEO))
    session.commit()
    result = dispatch(session, now=sent_at)
    assert (result.sent, result.cancelled) == (0, 1) and len(smtp.to(CEO)) == delivered


def test_asking_for_a_link_says_the_same_whether_or_not_the_address_has_an_account(
    app: Flask, session: Session, smtp: SmtpSink, make_admin: Callable[..., AdminUser]
) -> None:
    make_admin(CEO)
    pages = {}
    for address in (CEO, "nobody@oak.example"):
        for path in ("/admin/login/link", "/admin/password/forgot"):
            response = Browser(app.test_client()).post(path, {"email": address})
            assert response.status_code == 200
            text = response.get_data(as_text=True).replace(address, "ADDRESS")
            text = re.sub(r'name="csrf_token" value="[^"]+"', "", text)
            pages.setdefault(path, set()).add(text)
    assert all(len(variants) == 1 for variants in pages.values())
    send_mail(session)
    assert sorted(m["Subject"] for m in smtp.to(CEO)) == [
        "Reset your mat-review password",
        "Your sign-in link for mat-review",
    ]
    assert smtp.to("nobody@oak.example") == []


def test_a_password_reset_works_once_and_ends_every_other_session(
    app: Flask, session: Session, smtp: SmtpSink, make_admin: Callable[..., AdminUser]
) -> None:
    admin = make_admin(CEO)
    elsewhere = Browser(app.test_client())
    assert elsewhere.sign_in(CEO).status_code == 303
    assert elsewhere.get("/admin/").status_code == 200

    browser = Browser(app.test_client())
    browser.post("/admin/password/forgot", {"email": CEO.upper()})
    send_mail(session)
    token = last_link(smtp, CEO, PASSWORD_LINK)
    form_page = f"/admin/password/{token}"
    assert "Choose a new password" in browser.get(form_page).get_data(as_text=True)

    mismatch = browser.post(form_page, {"password": NEW_PASSWORD, "confirm": "something else"})
    assert mismatch.status_code == 422
    short = browser.post(form_page, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert "at least 10 characters" in short.get_data(as_text=True)
    # A refused password does not use up the link.
    done = browser.post(form_page, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert browser.get("/admin/").status_code == 200  # this browser is signed in
    stale = elsewhere.get("/admin/")
    assert stale.status_code == 302 and "/admin/login" in stale.location
    with read_only():
        assert (
            session.scalar(
                select(func.count())
                .select_from(AdminSession)
                .where(AdminSession.admin_id == admin.id)
            )
            == 1
        )
        session.rollback()

    reused = Browser(app.test_client()).get(form_page)
    assert reused.status_code == 404 and NOT_VALID in reused.get_data(as_text=True)
    assert Browser(app.test_client()).sign_in(CEO, PASSWORD).status_code == 401
    assert Browser(app.test_client()).sign_in(CEO, NEW_PASSWORD).status_code == 303
    assert "admin.password-reset" in audit_actions(session)


def test_an_invitee_sets_a_password_with_the_invitation_link(
    app: Flask, session: Session, smtp: SmtpSink, oak: tuple[Trust, AdminUser, Cycle]
) -> None:
    trust, ceo, _cycle = oak
    team.invite_member(session, trust, "Director@Oak.example", AdminRole.ADMIN, ceo)
    send_mail(session)
    token = last_link(smtp, "Director@oak.example", PASSWORD_LINK)
    browser = Browser(app.test_client())
    page = browser.get(f"/admin/password/{token}").get_data(as_text=True)
    assert "Accept your invitation" in page and trust.name in page
    done = browser.post(
        f"/admin/password/{token}", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 303
    # As an admin of the trust, they can change it.
    assert browser.get(f"/admin/trusts/{trust.slug}").status_code == 200
    assert "Send the invitation" in browser.get(f"/admin/trusts/{trust.slug}").get_data(
        as_text=True
    )
    assert (
        Browser(app.test_client()).sign_in("director@oak.example", NEW_PASSWORD).status_code == 303
    )


def test_roles_change_members_go_and_a_trust_always_keeps_an_admin(
    app: Flask, session: Session, smtp: SmtpSink, oak: tuple[Trust, AdminUser, Cycle]
) -> None:
    trust, ceo, _cycle = oak
    browser = Browser(app.test_client())
    browser.sign_in(CEO)
    trust_page = f"/admin/trusts/{trust.slug}"

    # The only admin can neither step down nor leave.
    for action, data in (("role", {"role": "viewer"}), ("remove", {})):
        refused = browser.post(f"{trust_page}/team/{ceo.id}/{action}", data, page=trust_page)
        assert refused.status_code == 303
        text = browser.get(trust_page).get_data(as_text=True)
        assert "is the only admin of Oak Learning Trust" in text
    assert team.get_role(session, ceo, trust) == AdminRole.ADMIN

    browser.post(f"{trust_page}/team/invite", {"email": PA, "role": "admin"}, page=trust_page)
    pa_id = _admin_id(session, PA)
    again = browser.post(
        f"{trust_page}/team/invite", {"email": PA, "role": "viewer"}, page=trust_page
    )
    assert again.status_code == 303
    assert "already a member" in browser.get(trust_page).get_data(as_text=True)
    bad = browser.post(f"{trust_page}/team/invite", {"email": PA, "role": "owner"}, page=trust_page)
    assert bad.status_code == 303
    assert "is not a role" in browser.get(trust_page).get_data(as_text=True)

    # With a second admin, the CEO may become a viewer; then the PA removes the CEO.
    assert (
        browser.post(
            f"{trust_page}/team/{ceo.id}/role", {"role": "viewer"}, page=trust_page
        ).status_code
        == 303
    )
    pa = session.get(AdminUser, pa_id)
    assert pa is not None and team.get_role(session, ceo, trust) == AdminRole.VIEWER
    team.remove_member(session, trust, ceo.id, PA)
    session.commit()
    assert team.get_role(session, ceo, trust) is None
    gone = browser.get(trust_page)
    assert gone.status_code == 404  # the trust is no longer theirs to see
    actions = audit_actions(session)
    for action in ("trust.member-invite", "trust.member-role", "trust.member-remove"):
        assert action in actions
    with read_only():
        details = list(
            session.scalars(
                select(AuditEvent.detail).where(AuditEvent.action.like("trust.member-%"))
            )
        )
        session.rollback()
    assert details == [f"{PA}: admin", f"{CEO}: viewer", CEO]


def test_asking_for_sign_in_links_is_rate_limited(
    app: Flask, session: Session, make_admin: Callable[..., AdminUser]
) -> None:
    make_admin(CEO)
    browser = Browser(app.test_client())
    statuses = [browser.post("/admin/login/link", {"email": CEO}).status_code for _ in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    # However often it was asked, one link waits to be sent, not eleven.
    with read_only():
        waiting = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.kind == MessageKind.ADMIN_LOGIN,
                OutboxMessage.status == OutboxStatus.PENDING,
            )
        )
        session.rollback()
    assert waiting == 1


def test_the_command_line_invites_changes_roles_removes_and_sends_links(
    app: Flask,
    session: Session,
    smtp: SmtpSink,
    runner: Any,
    oak: tuple[Trust, AdminUser, Cycle],
) -> None:
    trust, ceo, _cycle = oak
    slug = trust.slug
    invited = runner.invoke(args=["admin", "invite", "--trust", slug, PA, "--name", "Pat"])
    assert invited.exit_code == 0, invited.output
    assert f"{PA} invited to {slug} as viewer" in invited.output
    listed = runner.invoke(args=["admin", "list", "--trust", slug])
    assert listed.output.splitlines() == [
        f"{CEO}\tadmin\tnot signed in yet",
        f"{PA}\tviewer\tnot signed in yet",
    ]
    last = runner.invoke(args=["admin", "role", "--trust", slug, CEO, "viewer"])
    assert last.exit_code == 1 and "is the only admin" in last.output
    assert runner.invoke(args=["admin", "role", "--trust", slug, PA, "admin"]).exit_code == 0
    removed = runner.invoke(args=["admin", "remove", "--trust", slug, CEO])
    assert removed.exit_code == 0, removed.output
    assert team.get_role(session, ceo, trust) is None
    stranger = runner.invoke(args=["admin", "remove", "--trust", slug, "who@oak.example"])
    assert stranger.exit_code == 1 and "no admin with email" in stranger.output
    assert runner.invoke(args=["admin", "send-sign-in-link", PA]).exit_code == 0
    assert runner.invoke(args=["admin", "send-password-reset", PA]).exit_code == 0
    send_mail(session)
    subjects = sorted(m["Subject"] for m in smtp.to(PA))
    assert subjects == [
        "Reset your mat-review password",
        "The operator of this mat-review service has invited you to Oak Learning Trust's "
        "self-review on mat-review",
        "Your sign-in link for mat-review",
    ]
    with read_only():
        actors = set(
            session.scalars(
                select(AuditEvent.actor).where(AuditEvent.action.like("trust.member-%"))
            )
        )
        session.rollback()
    assert actors == {"cli"}


def test_the_migration_lets_the_outbox_hold_the_new_kinds_and_members_hold_roles(
    fresh_database_url: str,
) -> None:
    upgrade_database(fresh_database_url)
    engine = make_engine(fresh_database_url)
    row = {
        "subject": "s",
        "body_text": "t",
        "body_html": "h",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": utcnow(),
        "created_at": utcnow(),
    }
    outbox = sa.table("outbox", *(sa.column(c) for c in ("dedupe_key", "kind", "message_id", *row)))
    with engine.begin() as conn:
        for kind in ("admin-invite", "password-reset", "admin-login"):
            conn.execute(outbox.insert().values(dedupe_key=kind, kind=kind, message_id=kind, **row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(outbox.insert().values(dedupe_key="x", kind="bogus", message_id="x", **row))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO trusts (slug, name, timezone, created_at) "
                "VALUES ('t', 'T', 'Europe/London', '2026-01-01')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO admin_users "
                "(email, name, password_hash, is_superuser, is_active, created_at) "
                "VALUES ('a@b.example', '', 'x', false, true, '2026-01-01')"
            )
        )
        conn.execute(sa.text("INSERT INTO trust_admins (trust_id, admin_id) VALUES (1, 1)"))
        assert conn.execute(sa.text("SELECT role FROM trust_admins")).scalar_one() == "admin"
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("UPDATE trust_admins SET role = 'owner'"))
    engine.dispose()


def test_admin_link_tokens_stay_out_of_logs_and_referers(
    app: Flask, session: Session, smtp: SmtpSink, make_admin: Callable[..., AdminUser]
) -> None:
    make_admin(CEO)
    team.request_sign_in_link(session, CEO)
    team.request_password_reset(session, CEO)
    send_mail(session)
    sign_in = last_link(smtp, CEO, SIGN_IN_LINK)
    reset = last_link(smtp, CEO, PASSWORD_LINK)
    browser = Browser(app.test_client())
    for path in (f"/admin/sign-in/{sign_in}", f"/admin/password/{reset}"):
        page = browser.get(path)
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        line = f'127.0.0.1 - - "GET {path} HTTP/1.1" 200 -'
        assert redact(line) == line.replace(path, path.rsplit("/", 1)[0] + "/[redacted]")
    # The rules the filter knows are the app's own routes.
    rules = {r.endpoint: r.rule for r in app.url_map.iter_rules()}
    assert rules["admin.link_sign_in"].startswith(ADMIN_LINK_PREFIXES[0])
    assert rules["admin.set_password"].startswith(ADMIN_LINK_PREFIXES[1])
