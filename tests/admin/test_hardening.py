"""Web hardening (issue 12): sign-out ends the session on the server; over-long and out-of-range
input to every admin form is a form error, never a server error; `next=` with a control
character is ignored; the respondent's cookie lasts for the browser session only; admin pages
and downloads are never cached."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.db import db
from survey.models import (
    AdminSession,
    AdminUser,
    Cycle,
    CycleState,
    FrameworkVersion,
    Invitation,
    Report,
    ReportFile,
    Trust,
)
from survey.services.accounts import hash_password
from survey.services.links import mint_link
from survey.timeutil import system_now, utcnow
from tests.admin.helpers import PASSWORD, Browser
from tests.admin.test_trusts_and_cycle_form import cycle_form

SignedIn = tuple[Browser, AdminUser, Trust]

LONG = "x" * 1000
HUGE = "99999999999999999999"  # more than any integer column holds, on either database

# -- sign-out ends the session on the server ------------------------------------------------------


def _copy_cookie(source: FlaskClient, target: FlaskClient) -> None:
    """What someone who copied the session cookie (from a shared computer, a proxy log, a
    browser profile) would replay."""
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


def test_a_copied_cookie_stops_working_after_sign_out(
    app: Flask, signed_in: SignedIn, session: Session
) -> None:
    browser, _, _ = signed_in
    thief = Browser(app.test_client())
    _copy_cookie(browser.client, thief.client)
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lasts
    assert browser.post("/admin/logout", page="/admin/").status_code == 303
    replayed = thief.get("/admin/")
    assert replayed.status_code == 302
    assert replayed.location.startswith("/admin/login")
    assert thief.get("/admin/").status_code == 302
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 0
    # The copy cannot even sign out: it is sent to the sign-in page like anyone signed out.
    refused = thief.post("/admin/logout", page="/admin/login")
    assert refused.status_code == 302
    assert refused.location.startswith("/admin/login")


def test_signing_out_ends_only_that_session(
    app: Flask, make_admin: Callable[..., AdminUser], make_trust: Callable[..., Trust]
) -> None:
    admin = make_admin(trusts=[make_trust()])
    laptop, phone = Browser(app.test_client()), Browser(app.test_client())
    assert laptop.sign_in(admin.email).status_code == 303
    assert phone.sign_in(admin.email).status_code == 303
    laptop.post("/admin/logout", page="/admin/")
    assert laptop.get("/admin/").status_code == 302
    assert phone.get("/admin/").status_code == 200


def test_signing_in_again_replaces_the_session_token(
    app: Flask, signed_in: SignedIn, session: Session
) -> None:
    browser, admin, _ = signed_in
    before = Browser(app.test_client())
    _copy_cookie(browser.client, before.client)
    assert browser.sign_in(admin.email).status_code == 303
    assert browser.get("/admin/").status_code == 200
    assert before.get("/admin/").status_code == 302  # the old token ended with the new sign-in
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 1


def test_reset_password_ends_every_other_session(
    app: Flask,
    signed_in: SignedIn,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    runner: FlaskCliRunner,
) -> None:
    browser, admin, trust = signed_in
    other = Browser(app.test_client())
    assert other.sign_in(admin.email).status_code == 303
    colleague = AdminUser(
        email="head@oak.example", password_hash=hash_password(PASSWORD), trusts=[trust]
    )
    session.add(colleague)
    session.commit()
    theirs = Browser(app.test_client())
    assert theirs.sign_in(colleague.email).status_code == 303
    monkeypatch.setenv("MAT_REVIEW_ADMIN_PASSWORD", "a brand new password")
    result = runner.invoke(args=["create-admin", admin.email, "--reset-password"])
    assert result.exit_code == 0, result.output
    assert "2 signed out" in result.output
    assert browser.get("/admin/").status_code == 302
    assert other.get("/admin/").status_code == 302
    assert theirs.get("/admin/").status_code == 200  # another account is not affected
    assert browser.sign_in(admin.email, "a brand new password").status_code == 303
    assert browser.get("/admin/").status_code == 200


def test_deactivating_an_account_ends_its_sessions(signed_in: SignedIn, session: Session) -> None:
    browser, admin, _ = signed_in
    admin.is_active = False
    session.commit()
    assert browser.get("/admin/").status_code == 302
    assert session.scalar(select(func.count()).select_from(AdminSession)) == 0
    admin.is_active = True  # reactivated: the old cookie does not come back to life
    session.commit()
    assert browser.get("/admin/").status_code == 302


def test_the_database_holds_only_a_hash_of_the_session_token(
    signed_in: SignedIn, session: Session
) -> None:
    browser, _, _ = signed_in
    with browser.client.session_transaction() as cookie:
        token = cookie["admin_session"]
    assert len(token) >= 40
    stored = session.scalars(select(AdminSession)).one()
    assert token not in stored.token_hash
    assert stored.expires_at > utcnow()


# -- over-long and out-of-range admin form input --------------------------------------------------


@dataclass
class Places:
    trust: Trust
    draft: Cycle
    open: Cycle


@dataclass(frozen=True)
class FormCase:
    """One admin form posted with one bad value: the page it answers with and the message."""

    id: str
    url: Callable[[Places], str]
    data: Callable[[Places], dict[str, Any]]
    status: int
    message: str
    page: Callable[[Places], str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


FRAMEWORK = """key: our-trust-review
title: Our trust review
scale:
  levels:
    - key: red
      label: Red
      score: 1
    - key: green
      label: Green
      score: 2
headings:
  - number: 1
    title: Vision
elements:
  - code: 1A
    heading: 1
    title: Clarity of purpose
    questions:
      - number: i
        stage: start
        text: Is the vision clear?
"""


def _framework(old: str, new: str) -> Callable[[Places], dict[str, Any]]:
    assert old in FRAMEWORK
    return lambda p: {"text": FRAMEWORK.replace(old, new, 1)}


def _new_cycle(p: Places) -> str:
    return f"/admin/trusts/{p.trust.slug}/cycles/new"


def _edit_cycle(p: Places) -> str:
    return f"/admin/cycles/{p.draft.id}/edit"


def _cycle_data(**overrides: str) -> Callable[[Places], dict[str, Any]]:
    return lambda p: cycle_form(**overrides)


def _person(**overrides: str) -> Callable[[Places], dict[str, Any]]:
    person = {"email": "gus@oak.example", "name": "Gus", "group": "headteacher", "school": "Ash"}
    return lambda p: {**person, **overrides}


def _rows(line: str) -> Callable[[Places], dict[str, Any]]:
    return lambda p: {"rows": f"email,name,group,school\n{line}\n"}


MANY_DAYS = ",".join(str(day) for day in range(1, 60))
LONG_EMAIL = "a" * 300 + "@oak.example"

FORM_CASES = [
    FormCase(
        "sign-in email",
        lambda p: "/admin/login",
        lambda p: {"email": LONG_EMAIL * 10, "password": PASSWORD},
        401,
        "The email address or password is not right",
    ),
    FormCase(
        "sign-in password",
        lambda p: "/admin/login",
        lambda p: {"email": "ceo@oak.example", "password": LONG * 50},
        401,
        "The email address or password is not right",
    ),
    FormCase(
        "trust name",
        lambda p: "/admin/trusts",
        lambda p: {"name": LONG, "timezone": "Europe/London"},
        422,
        "The trust's name must be 200 characters or fewer",
    ),
    FormCase(
        "trust time zone",
        lambda p: "/admin/trusts",
        lambda p: {"name": "Ash Trust", "timezone": LONG},
        422,
        "The time zone must be 64 characters or fewer",
    ),
    FormCase(
        "framework key",
        lambda p: f"/admin/trusts/{p.trust.slug}/frameworks",
        _framework("key: our-trust-review", "key: " + "k" * 81),
        422,
        "key: must be 80 characters or fewer",
    ),
    FormCase(
        "framework title",
        lambda p: f"/admin/trusts/{p.trust.slug}/frameworks",
        _framework("title: Our trust review", "title: " + LONG),
        422,
        "title: must be 200 characters or fewer",
    ),
    FormCase(
        "framework element code",
        lambda p: f"/admin/trusts/{p.trust.slug}/frameworks",
        _framework("code: 1A", "code: " + "A" * 17),
        422,
        "elements[0].code: must be 16 characters or fewer",
    ),
    FormCase(
        "framework scale key",
        lambda p: f"/admin/trusts/{p.trust.slug}/frameworks",
        _framework("key: green", "key: " + "g" * 41),
        422,
        "scale.levels[1].key: must be 40 characters or fewer",
    ),
    FormCase(
        "cycle title",
        _new_cycle,
        _cycle_data(title=LONG),
        422,
        "The title must be 200 characters or fewer",
    ),
    FormCase(
        "group key",
        _new_cycle,
        _cycle_data(**{"group-3-key": "k" * 41}),
        422,
        "A group key must be 40 characters or fewer",
    ),
    FormCase(
        "group name",
        _new_cycle,
        _cycle_data(**{"group-3-label": LONG}),
        422,
        "A group's name must be 120 characters or fewer",
    ),
    FormCase(
        "minimum group size, huge",
        _new_cycle,
        _cycle_data(min_group_size=HUGE),
        422,
        "The minimum group size must be 1,000 or less",
    ),
    FormCase(
        "minimum group size, hugely negative",
        _new_cycle,
        _cycle_data(min_group_size="-" + HUGE),
        422,
        "The minimum group size must be 3 or more",
    ),
    FormCase(
        "minimum group size for comments, huge",
        _new_cycle,
        _cycle_data(min_comment_group_size=HUGE),
        422,
        "The minimum group size for comments must be 1,000 or less",
    ),
    FormCase(
        "previous cycle, huge",
        _new_cycle,
        _cycle_data(previous_cycle=HUGE),
        422,
        "Choose a previous cycle from the list",
    ),
    FormCase(
        "open date, year 1",
        _new_cycle,
        _cycle_data(opens="0001-01-01T00:00"),
        422,
        "Enter the open date between the years 2000 and 2999",
    ),
    FormCase(
        "close date, year 9999",
        _new_cycle,
        _cycle_data(closes="9999-12-31T23:59"),
        422,
        "Enter the close date between the years 2000 and 2999",
    ),
    FormCase(
        "reminder days, huge",
        _new_cycle,
        _cycle_data(reminder_days=HUGE),
        422,
        "Reminder days must be between 0 and 365 days before close",
    ),
    FormCase(
        "reminder days, too many",
        _new_cycle,
        _cycle_data(reminder_days=MANY_DAYS),
        422,
        "At most 10 reminder days",
    ),
    FormCase(
        "report recipient, over-long address",
        _new_cycle,
        _cycle_data(report_to=LONG_EMAIL),
        422,
        "is not a valid email",
    ),
    FormCase(
        "framework, over-long key",
        _new_cycle,
        _cycle_data(framework=LONG),
        422,
        "Unknown framework",
    ),
    FormCase(
        "scope, over-long choice",
        _new_cycle,
        _cycle_data(scope=LONG),
        422,
        "Choose which questions to ask",
    ),
    FormCase(
        "scope codes, over-long",
        _new_cycle,
        _cycle_data(scope="codes", scope_codes=LONG),
        422,
        "unknown element code",
    ),
    FormCase(
        "edit: cycle title",
        _edit_cycle,
        _cycle_data(title=LONG),
        422,
        "The title must be 200 characters or fewer",
    ),
    FormCase(
        "edit: minimum group size, huge",
        _edit_cycle,
        _cycle_data(min_group_size=HUGE),
        422,
        "The minimum group size must be 1,000 or less",
    ),
    FormCase(
        "extend: not a date",
        lambda p: f"/admin/cycles/{p.open.id}/extend",
        lambda p: {"closes": HUGE},
        422,
        "is not an ISO date",
        page=lambda p: f"/admin/cycles/{p.open.id}",
    ),
    FormCase(
        "extend: year 9999",
        lambda p: f"/admin/cycles/{p.open.id}/extend",
        lambda p: {"closes": "9999-12-31T23:59"},
        422,
        "Enter the new close date between the years 2000 and 2999",
        page=lambda p: f"/admin/cycles/{p.open.id}",
    ),
    FormCase(
        "extend: year 1",
        lambda p: f"/admin/cycles/{p.open.id}/extend",
        lambda p: {"closes": "0001-01-01T00:00"},
        422,
        "Enter the new close date between the years 2000 and 2999",
        page=lambda p: f"/admin/cycles/{p.open.id}",
    ),
    FormCase(
        "add one person: email",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients/add",
        _person(email=LONG_EMAIL),
        422,
        "is not a valid email address",
        page=lambda p: f"/admin/cycles/{p.draft.id}/invitations",
    ),
    FormCase(
        "add one person: name",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients/add",
        _person(name=LONG),
        422,
        "Name must be 200 characters or fewer",
        page=lambda p: f"/admin/cycles/{p.draft.id}/invitations",
    ),
    FormCase(
        "add one person: school",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients/add",
        _person(school=LONG),
        422,
        "School must be 200 characters or fewer",
        page=lambda p: f"/admin/cycles/{p.draft.id}/invitations",
    ),
    FormCase(
        "add one person: group",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients/add",
        _person(group=LONG),
        422,
        "Not added: unknown group",
        page=lambda p: f"/admin/cycles/{p.draft.id}/invitations",
    ),
    FormCase(
        "recipients file: name",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients",
        _rows(f"gus@oak.example,{LONG},headteacher,Ash"),
        422,
        "name must be 200 characters or fewer",
    ),
    FormCase(
        "recipients file: school",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients",
        _rows(f"gus@oak.example,Gus,headteacher,{LONG}"),
        422,
        "school must be 200 characters or fewer",
    ),
    FormCase(
        "recipients file: email",
        lambda p: f"/admin/cycles/{p.draft.id}/recipients",
        _rows(f"{LONG_EMAIL},Gus,headteacher,Ash"),
        422,
        "is not a valid email address",
    ),
]


@pytest.fixture
def places(signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]) -> Places:
    _, _, trust = signed_in
    draft = make_cycle(trust, title="Spring review")
    opened = make_cycle(trust, title="Autumn review")
    opened.state, opened.opened_at = CycleState.OPEN, opened.opens_at
    session.commit()
    return Places(trust, draft, opened)


def _saved(session: Session) -> tuple[int, ...]:
    """How many trusts, cycles, invitations and framework versions there are."""
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Trust, Cycle, Invitation, FrameworkVersion)
    )


@pytest.mark.parametrize("case", FORM_CASES, ids=[c.id for c in FORM_CASES])
def test_over_long_or_out_of_range_input_is_a_form_error_not_a_server_error(
    case: FormCase, signed_in: SignedIn, places: Places, session: Session
) -> None:
    browser, _, _ = signed_in
    before = _saved(session)
    page = case.page(places) if case.page else None
    response = browser.post(case.url(places), case.data(places), page=page)
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == case.status, text[:2000]
    assert case.message in text
    assert 'name="csrf_token"' in text  # the form is there to correct, not a bare error page
    assert _saved(session) == before  # nothing was stored
    for name, value in case.data(places).items():
        # What was typed is kept (short values only: a browser would not have let the rest in).
        if name not in ("password", "text", "rows", "previous_cycle") and 0 < len(value) <= 64:
            assert f'value="{value}"' in text or value in text, name


def _many_elements(count: int) -> str:
    """A trust's own framework with `count` elements, E01, E02, ..."""
    head, elements = FRAMEWORK.split("elements:\n")
    element = elements.replace("code: 1A", "code: {code}")
    return (
        head
        + "elements:\n"
        + "".join(element.format(code=f"E{n:02d}") for n in range(1, count + 1))
    )


def test_a_scope_too_long_to_store_is_a_form_error(
    signed_in: SignedIn, places: Places, session: Session
) -> None:
    browser, _, trust = signed_in
    text = _many_elements(70)  # "E01,E02,...,E70" is 279 characters
    uploaded = browser.post(f"/admin/trusts/{trust.slug}/frameworks", {"text": text})
    assert uploaded.status_code == 303
    codes = ", ".join(f"E{n:02d}" for n in range(1, 71))
    data = cycle_form(framework="our-trust-review", scope="codes", scope_codes=codes)
    response = browser.post(_new_cycle(places), data)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Scope: the list of element codes must be 200 characters or fewer" in page
    fewer = ", ".join(f"E{n:02d}" for n in range(1, 41))  # 159 characters
    data = cycle_form(framework="our-trust-review", scope="codes", scope_codes=fewer)
    assert browser.post(_new_cycle(places), data).status_code == 303


def test_the_frameworks_limits_are_the_columns_lengths() -> None:
    from framework.model import (
        MAX_CODE_LENGTH,
        MAX_KEY_LENGTH,
        MAX_SCALE_KEY_LENGTH,
        MAX_TITLE_LENGTH,
    )
    from survey.models import Rating
    from survey.services.limits import max_length

    assert MAX_KEY_LENGTH == max_length(FrameworkVersion.key) == max_length(Cycle.framework_key)
    assert max_length(FrameworkVersion.title) == MAX_TITLE_LENGTH
    assert max_length(Rating.element_code) == MAX_CODE_LENGTH
    assert max_length(Rating.scale_key) == MAX_SCALE_KEY_LENGTH


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trust", "add", LONG], "the trust's name must be 200 characters or fewer"),
        (["trust", "add", "Ash", "--timezone", "Europe/" + LONG], "64 characters or fewer"),
        (["cycle", "create", "--title", LONG], "the title must be 200 characters or fewer"),
        (["cycle", "create", "--min-group-size", HUGE], "must be 1,000 or less"),
        (["cycle", "create", "--opens", "0001-01-01"], "outside the years 2000 to 2999"),
        (["cycle", "create", "--group", "k:" + LONG], "its name must be 120 characters"),
        (["create-admin", "ops@oak.example", "--name", LONG], "the name must be 200 characters"),
    ],
)
def test_the_command_line_refuses_the_same_values_with_a_message(
    runner: FlaskCliRunner, make_trust: Callable[..., Trust], args: list[str], message: str
) -> None:
    trust = make_trust()
    if args[:2] == ["cycle", "create"]:
        options = {
            "--trust": trust.slug,
            "--title": "Spring review",
            "--opens": "2030-03-02",
            "--closes": "2030-03-20",
        }
        given = dict(zip(args[2::2], args[3::2], strict=True))
        args = ["cycle", "create"] + [x for pair in {**options, **given}.items() for x in pair]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        "/admin/cycles/{huge}",
        "/admin/cycles/{huge}/edit",
        "/admin/cycles/{huge}/invitations",
        "/admin/cycles/{huge}/report",
        "/admin/cycles/{huge}/report/report.pdf",
        "/admin/cycles/1/invitations/{huge}/resend",
        "/admin/trusts/{long}",
        "/admin/trusts/{long}/frameworks/{long}",
    ],
)
def test_out_of_range_ids_in_admin_addresses_are_not_found(
    url: str, signed_in: SignedIn, places: Places
) -> None:
    browser, _, _ = signed_in
    target = url.format(huge=HUGE, long=LONG)
    response = browser.post(target) if target.endswith("/resend") else browser.get(target)
    assert response.status_code == 404


def test_an_out_of_range_audit_page_is_an_empty_page(signed_in: SignedIn, places: Places) -> None:
    browser, _, trust = signed_in
    for page in (HUGE, "-" + HUGE, "0"):
        response = browser.get(f"/admin/trusts/{trust.slug}/audit?page={page}")
        assert response.status_code == 200, page


def test_a_forged_or_over_long_pending_upload_is_refused_with_a_message(
    signed_in: SignedIn, places: Places, session: Session
) -> None:
    browser, _, _ = signed_in
    url = f"/admin/cycles/{places.draft.id}/recipients/confirm"
    response = browser.post(url, {"pending": LONG * 100}, page="/admin/")
    assert response.status_code == 303
    assert "That preview has expired" in browser.get(response.location).get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Invitation)) == 0


# -- next= with control characters ----------------------------------------------------------------

CONTROL_CHARACTERS = ["\r\n", "\r", "\n", "\t", "\x00", "\x1b", "\x7f", "\x85"]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=[repr(c) for c in CONTROL_CHARACTERS])
def test_a_next_value_with_a_control_character_is_ignored(app: Flask, char: str) -> None:
    with app.app_context():
        db.session.add(AdminUser(email="ceo@oak.example", password_hash=hash_password(PASSWORD)))
        db.session.commit()
    browser = Browser(app.test_client())
    evil = f"/admin/{char}Set-Cookie:admin_session=planted"
    url = "/admin/login?next=" + quote(evil, safe="/")
    response = browser.post(url, {"email": "ceo@oak.example", "password": PASSWORD})
    assert response.status_code == 303
    assert response.location == "/admin/"
    assert len(response.headers.getlist("Set-Cookie")) == 1


def test_a_plain_next_value_is_still_followed(app: Flask) -> None:
    with app.app_context():
        db.session.add(AdminUser(email="ceo@oak.example", password_hash=hash_password(PASSWORD)))
        db.session.commit()
    browser = Browser(app.test_client())
    url = "/admin/login?next=" + quote("/admin/trusts/oak?page=2", safe="/")
    response = browser.post(url, {"email": "ceo@oak.example", "password": PASSWORD})
    assert response.location == "/admin/trusts/oak?page=2"


# -- cookies and caching --------------------------------------------------------------------------


def _session_cookie(set_cookie: list[str]) -> str:
    (cookie,) = [c for c in set_cookie if c.startswith("session=")]
    return cookie.lower()


def test_the_respondents_cookie_lasts_only_for_the_browser_session(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    cycle = make_cycle()
    (person,) = add_people(cycle, {"headteacher": 1})
    cycle.state, cycle.opened_at = CycleState.OPEN, cycle.opens_at
    link = mint_link(session, person).removeprefix(app.config["BASE_URL"])
    session.commit()
    client = app.test_client()
    landing = client.get(link)
    assert landing.status_code == 303
    cookie = _session_cookie(landing.headers.getlist("Set-Cookie"))
    assert "expires=" not in cookie and "max-age=" not in cookie
    assert "httponly" in cookie
    form = client.get("/survey")
    assert form.status_code == 200
    for header in form.headers.getlist("Set-Cookie"):
        assert "expires=" not in header.lower() and "max-age=" not in header.lower()


def test_the_admins_cookie_still_lasts_for_the_session_lifetime(
    app: Flask, browser: Browser, make_admin: Callable[..., AdminUser]
) -> None:
    admin = make_admin()
    response = browser.sign_in(admin.email)
    cookie = _session_cookie(response.headers.getlist("Set-Cookie"))
    assert "expires=" in cookie
    expires = cookie.split("expires=")[1].split(";")[0]
    when = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S gmt").replace(tzinfo=UTC)
    lifetime = app.permanent_session_lifetime
    # Flask dates the cookie by the system clock, as the browser that keeps it reads it (not by
    # the application's clock, which a test run may shift).
    assert abs(when - (system_now() + lifetime)) < timedelta(minutes=1)


def test_admin_pages_and_downloads_are_never_cached(
    signed_in: SignedIn, places: Places, session: Session
) -> None:
    browser, _, trust = signed_in
    report = Report(cycle_id=places.open.id)
    report.files = [
        ReportFile(name=name, content_type=kind, content=b"figures")
        for name, kind in (
            ("report.pdf", "application/pdf"),
            ("summary.csv", "text/csv"),
            (
                "results.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        )
    ]
    session.add(report)
    session.commit()
    cycle = places.open.id
    urls = [
        "/admin/",
        f"/admin/trusts/{trust.slug}",
        f"/admin/trusts/{trust.slug}/audit",
        f"/admin/trusts/{trust.slug}/frameworks",
        f"/admin/cycles/{cycle}",
        f"/admin/cycles/{cycle}/invitations",
        f"/admin/cycles/{places.draft.id}/recipients",
        f"/admin/cycles/{cycle}/report/report.pdf",
        f"/admin/cycles/{cycle}/report/summary.csv",
        f"/admin/cycles/{cycle}/report/results.xlsx",
        "/admin/cycles/999/report/report.pdf",  # an error page too
        "/admin/login",
    ]
    for url in urls:
        response = browser.get(url)
        assert response.status_code in (200, 302, 404), url
        directives = {d.strip() for d in response.headers.get("Cache-Control", "").split(",")}
        assert "no-store" in directives, url
    download = browser.get(f"/admin/cycles/{cycle}/report/summary.csv")
    assert download.get_data() == b"figures"
    signed_out = Browser(browser.client.application.test_client())
    redirect = signed_out.get("/admin/")
    assert redirect.status_code == 302
    assert "no-store" in redirect.headers["Cache-Control"]
