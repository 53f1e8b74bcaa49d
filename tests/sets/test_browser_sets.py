"""A learning set in a real browser (headless Chromium through Playwright) against a live
server, with a real SMTP server (aiosmtpd on loopback) receiving the invitations:

a coordinator creates a set and invites two trusts by their admins' emails; each admin gets the
email, follows its link, signs in, accepts and shares a reported cycle (one by name, one as a
letter); a third trust has already shared; the coordinator and both admins read the set's
report. axe-core checks each page at 1280 and 375 px, photographed under tests/artifacts/
(admin-set-*.png)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import SmtpSink
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from survey.models import AdminUser, Cycle, Trust
from survey.services import sets as service
from survey.services.accounts import hash_password
from tests.admin.helpers import PASSWORD
from tests.admin.test_browser_co_admin import (  # noqa: F401 - fixtures
    chromium,
    live_server,
    send_mail,
    smtp,
)
from tests.admin.test_browser_journey import ARTIFACTS, Checker

from .conftest import _admin
from .helpers import reported_cycle, same

pytestmark = pytest.mark.browser

COORDINATOR = "lead@region.example"


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:  # noqa: F811
    return {**app_config, "MAIL_URL": smtp.url}


def _answers(i: int) -> dict[str, dict[str, dict[str, int]]]:
    return {
        "executive": same({"red": 2}),
        "headteacher": same({"green": 1 + i, "amber-green": 3, "amber-red": 1}),
        "middle-leader": same({"green": 2, "amber-green": 2 + i, "red": 1}),
    }


def _sign_in(page: Page, base: str, email: str, path: str = "/admin/login") -> None:
    page.goto(f"{base}{path}")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def set_link(smtp: SmtpSink, address: str) -> str:  # noqa: F811
    for message in reversed(smtp.to(address)):
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        found = re.search(r"http://127\.0\.0\.1:\d+/sets/\d+", body.get_content())
        if found:
            return found.group(0)
    raise AssertionError(f"no set invitation to {address}")


def test_a_coordinator_and_two_trusts_run_a_learning_set(
    app: Flask,
    session: Session,
    make_trust: Callable[..., Trust],
    make_cycle: Callable[..., Cycle],
    live_server: str,  # noqa: F811
    smtp: SmtpSink,  # noqa: F811
    chromium: Browser,  # noqa: F811
    backend: str,
) -> None:
    base = live_server
    session.add(
        AdminUser(email=COORDINATOR, name="Lee Lead", password_hash=hash_password(PASSWORD))
    )
    trusts = [make_trust(n) for n in ("Alder Trust", "Birch Trust", "Cedar Trust")]
    admins = [_admin(session, f"ceo@{t.slug}.example", t) for t in trusts]
    cycles = [
        reported_cycle(session, make_cycle, t, f"{t.name} spring review", _answers(i))
        for i, t in enumerate(trusts)
    ]
    emails = [a.email for a in admins]
    names = [t.name for t in trusts]
    session.commit()  # SQLite: the test's session holds no transaction while the server writes

    # -- the coordinator creates the set and invites two trusts ------------------------------
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    lead = context.new_page()
    lead.set_default_timeout(20_000)
    check = Checker(lead, backend)
    _sign_in(lead, base, COORDINATOR)
    lead.get_by_role("link", name="Learning sets").click()
    expect(lead.get_by_role("heading", name="Learning sets and peer reviews")).to_be_visible()
    check("set-index")
    lead.get_by_label("Name").fill("North Star learning set")
    lead.get_by_role("button", name="Create the set").click()
    expect(lead.get_by_text("“North Star learning set” created")).to_be_visible()
    for email in emails[:2]:
        lead.get_by_label("The email of one of the trust's admins").fill(email)
        lead.get_by_role("button", name="Invite").click()
        expect(lead.get_by_text("is invited; its admin is emailed")).to_be_visible()
    check("set-invited")
    send_mail(app)

    # A third trust has already shared (seeded, as if it had done the same in the pages).
    session.expire_all()
    coordinator = session.query(AdminUser).filter_by(email=COORDINATOR).one()
    north = service.list_visible_sets(session, coordinator)[0]
    service.invite_trust(session, north, admins[2].email, coordinator)
    service.answer_invitation(session, north, trusts[2], admins[2], accept=True)
    service.share_cycle(session, north, cycles[2], admins[2], as_name=False)
    session.commit()

    # -- each invited admin follows the email, accepts and shares ----------------------------
    readers = []
    for n, (email, name) in enumerate(zip(emails[:2], names[:2], strict=True)):
        link = set_link(smtp, email)
        member_context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = member_context.new_page()
        page.set_default_timeout(20_000)
        page.goto(link)
        expect(page).to_have_url(re.compile(r"/admin/login"))
        _sign_in(page, base, email, path=page.url.removeprefix(base))
        expect(
            page.get_by_role("heading", name="North Star learning set", exact=True)
        ).to_be_visible()
        member_check = Checker(page, backend)
        if n == 0:
            member_check("set-invitation")
        page.get_by_role("button", name=f"Accept for {name}").click()
        expect(page.get_by_text(f"{name} has accepted the invitation")).to_be_visible()
        if n == 0:
            member_check("set-accepted")
            page.get_by_label(f"By name, {name}").check()
        page.get_by_role("button", name="Share").click()
        expect(page.get_by_text("is shared with North Star learning set")).to_be_visible()
        readers.append((page, member_check))

    # -- all three read the set's report ------------------------------------------------------
    lead.reload()
    report = lead.locator("article.set-report")
    expect(report.get_by_role("heading", name="Learning set report: North Star")).to_be_visible()
    expect(report).to_contain_text("Alder Trust")
    expect(report).not_to_contain_text("Birch Trust")
    expect(report).not_to_contain_text("Cedar Trust")
    expect(report).not_to_contain_text("Executive")
    check("set-report")
    for page, _ in readers:
        page.reload()
        expect(page.locator("article.set-report")).to_contain_text("Who to learn from")
        expect(page.get_by_role("link", name="The set's report (PDF, A4)")).to_be_visible()
    readers[1][1]("set-report-member")
    context.close()


def test_a_peer_review_pack_and_the_benchmark_in_the_browser(
    app: Flask,
    session: Session,
    make_trust: Callable[..., Trust],
    make_cycle: Callable[..., Cycle],
    live_server: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    backend: str,
) -> None:
    """Two trusts in a peer review read the pack side by side (challenge questions first) and
    download its PDF; one of them, opted in among 10 trusts, reads its benchmark."""
    base = live_server
    trusts = [make_trust(f"Peer Trust {n}") for n in ("One", "Two")]
    admins = [_admin(session, f"ceo@{t.slug}.example", t) for t in trusts]
    cycles = [
        reported_cycle(session, make_cycle, t, f"{t.name} review", _answers(3 * i))
        for i, t in enumerate(trusts)
    ]
    pair = service.create_set(
        session, admins[0], "Two-trust peer review", service.SetKind.PEER_REVIEW
    )
    for admin, trust, cycle in zip(admins, trusts, cycles, strict=True):
        service.invite_trust(session, pair, admin.email, admins[0])
        service.answer_invitation(session, pair, trust, admin, accept=True)
        service.share_cycle(session, pair, cycle, admin, as_name=True)
    # Eight more trusts opted in to the benchmark with a reported cycle each.
    for n in range(8):
        other = make_trust(f"Benchmark Trust {n}")
        other_admin = _admin(session, f"ceo@{other.slug}.example", other)
        reported_cycle(session, make_cycle, other, "Review", _answers(n % 4))
        service.set_benchmark_opt_in(session, other, "mat-assurance", other_admin, opt_in=True)
    service.set_benchmark_opt_in(session, trusts[1], "mat-assurance", admins[1], opt_in=True)
    pair_id, slug, email = pair.id, trusts[0].slug, admins[0].email
    session.commit()

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    check = Checker(page, backend)
    _sign_in(page, base, email)
    page.goto(f"{base}/sets/{pair_id}")
    pack = page.locator("article.peer-review")
    expect(pack.get_by_role("heading", name="1. Challenge questions for the visit")).to_be_visible()
    expect(pack).to_contain_text("Peer Trust One")
    expect(pack).to_contain_text("Peer Trust Two")
    expect(pack).not_to_contain_text("Executive")
    check("set-peer-review")
    with page.expect_download() as download:
        page.get_by_role("link", name="Peer review pack (PDF, A4)").click()
    saved = download.value.path()
    assert saved is not None and Path(saved).read_bytes()[:4] == b"%PDF"
    if backend == "sqlite":
        download.value.save_as(str(ARTIFACTS / "set-peer-review.pdf"))

    # The pack for the elements chosen for the visit.
    page.get_by_label("Elements for the visit").fill("2A")
    page.get_by_role("button", name="Show these elements").click()
    expect(pack).to_contain_text("2A Building capacity for improvement")
    expect(pack).not_to_contain_text("1A Clarity of purpose")
    link = page.get_by_role("link", name="Peer review pack (PDF, A4)")
    expect(link).to_have_attribute("href", re.compile(r"elements=2A"))

    page.goto(f"{base}/sets/benchmark/{slug}")
    expect(page.get_by_text("does not take part")).to_be_visible()
    page.get_by_role("button", name="Take part in the benchmark").click()
    expect(page.get_by_text("takes part in the benchmark")).to_be_visible()
    table = page.get_by_role("table")
    expect(table).to_contain_text("among 10 trusts")
    expect(table).to_contain_text("quarter")
    check("set-benchmark")
    context.close()
