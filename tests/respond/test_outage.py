"""A database that cannot be reached (SPEC 6): 503 with Retry-After, the form shown again with
everything posted, "Not saved yet", and nothing lost or stored twice once it is back.

The outage is real, not mocked: a second app with the same secret key whose database is one
that cannot be reached (PostgreSQL: a port nobody listens on; SQLite: a file in a folder that
does not exist). A respondent's browser opens the form on the working app and then posts to
the broken one with the same cookies, as after a database restart."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey import create_app
from survey.db import make_engine
from tests.drills.helpers import free_port

from .conftest import OpenCycle
from .helpers import csrf_token, open_form

CODES = ["1A", "2B"]
TYPED = {
    "rating-1A": "amber-green",
    "rationale-1A": "Our trust board <b>meets</b> termly & reviews it.\nSecond line.",
    "rating-2B": "dont-know",
    "rationale-2B": "Not enough evidence yet",
}


def _page(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def unreachable(backend: str, app_config: dict[str, Any]) -> Iterator[Flask]:
    """The same service (same secret key) on a database that cannot be reached."""
    if backend == "sqlite":
        url = "sqlite:////nonexistent-folder-for-a-test/mat-review.sqlite3"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone"
    broken = create_app({**app_config, "DATABASE_URL": url})
    yield broken
    with broken.app_context():
        from survey.db import db

        db.engine.dispose()


def same_browser(client: FlaskClient, app: Flask) -> FlaskClient:
    """A client of `app` holding `client`'s cookies (the person's browser, another server)."""
    other = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    other.set_cookie(name, cookie.value)
    return other


def assert_the_form_holds_what_was_typed(page: str) -> None:
    assert 'id="rating-1A-amber-green" value="amber-green" checked' in page
    assert 'id="rating-2B-dont-know" value="dont-know" checked' in page
    assert f"{TYPED['rationale-1A']}</textarea>" in page
    assert f"{TYPED['rationale-2B']}</textarea>" in page


def test_a_submit_while_the_database_is_down_shows_the_form_again_then_stores_once(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    unreachable: Flask,
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle(scope=",".join(CODES))
    token = open_form(client, oc.links[0])
    down = same_browser(client, unreachable)
    started = time.monotonic()
    response = down.post("/survey", data={**TYPED, "action": "submit", "csrf_token": token})
    assert response.status_code == 503
    # Tried once more before giving up (a pause of about a second).
    assert time.monotonic() - started >= 1.0
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Cache-Control"] == "no-store"
    page = _page(response)
    assert "Not saved yet: press Submit again in a moment." in page
    assert oc.cycle.title in page and "Oak Learning Trust" in page
    assert_the_form_holds_what_was_typed(page)
    assert query("SELECT count(*) FROM ballots")[0][0] == 0

    # The database is back: the same page's button stores the answers, once.
    again = same_browser(down, client.application)
    stored = again.post(
        "/survey", data={**TYPED, "action": "submit", "csrf_token": csrf_token(page)}
    )
    assert stored.status_code == 303 and stored.location.endswith("/survey/done")
    assert query("SELECT count(*) FROM ballots")[0][0] == 1
    assert query("SELECT count(*) FROM invitations WHERE is_completed")[0][0] == 1


def test_a_save_and_a_decline_while_the_database_is_down_say_which_button_to_press(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, unreachable: Flask
) -> None:
    oc = make_open_cycle(scope=",".join(CODES))
    token = open_form(client, oc.links[0])
    down = same_browser(client, unreachable)
    saved = down.post("/survey", data={**TYPED, "action": "save", "csrf_token": token})
    assert saved.status_code == 503 and saved.headers["Retry-After"] == "5"
    page = _page(saved)
    assert "Not saved yet: press “Save and come back later” again in a moment." in page
    assert_the_form_holds_what_was_typed(page)

    declined = down.post("/survey/decline", data={"csrf_token": token})
    assert declined.status_code == 503 and declined.headers["Retry-After"] == "5"
    assert "Not recorded yet: press “I will not take part” again in a moment." in _page(declined)


def test_pages_that_only_show_say_to_reload_in_a_moment(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, unreachable: Flask
) -> None:
    oc = make_open_cycle(scope=",".join(CODES))
    open_form(client, oc.links[1])
    down = same_browser(client, unreachable)
    for path in ("/survey", oc.links[0]):
        response = down.get(path)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == "5"
        page = _page(response)
        assert "This page is not available just now" in page
        assert "reload this page" in page
    assert down.get(oc.links[0]).headers["Referrer-Policy"] == "no-referrer"


def test_without_the_forms_details_the_answers_come_back_in_a_plain_form_that_sends_them(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    unreachable: Flask,
    query: Callable[..., Any],
) -> None:
    """A session that holds only the invitation (one from an earlier version, say): a plain
    page lists every answer, in a form that sends them again."""
    oc = make_open_cycle(scope=",".join(CODES))
    token = open_form(client, oc.links[0])
    with client.session_transaction() as kept:
        del kept["form_page"]
    down = same_browser(client, unreachable)
    resend = down.post("/survey", data={**TYPED, "action": "submit", "csrf_token": token})
    page = _page(resend)
    assert resend.status_code == 503, page[:500]
    assert "Not saved yet: press Submit again in a moment." in page
    assert "1A</strong>: Amber green" in page and "2B</strong>: Don't know" in page
    assert f"{TYPED['rationale-1A']}</textarea>" in page
    fields = re.findall(r'<input type="hidden" name="(rating-\w+)" value="([^"]+)">', page)
    assert fields == [("rating-1A", "amber-green"), ("rating-2B", "dont-know")]

    back = same_browser(down, client.application)
    form = {
        **dict(fields),
        "rationale-1A": TYPED["rationale-1A"],
        "rationale-2B": TYPED["rationale-2B"],
        "action": "submit",
        "csrf_token": csrf_token(page),
    }
    stored = back.post("/survey", data=form)
    assert stored.status_code == 303
    assert query("SELECT count(*) FROM ballots")[0][0] == 1


def test_admin_pages_say_kindly_that_the_database_is_unavailable(
    client: FlaskClient, unreachable: Flask, make_trust: Callable[..., Any], session: Any
) -> None:
    from survey.models import AdminUser
    from survey.services.accounts import hash_password
    from tests.admin.helpers import PASSWORD, Browser

    trust = make_trust()
    session.add(
        AdminUser(email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[trust])
    )
    session.commit()
    browser = Browser(client)
    assert browser.sign_in("ceo@oak.example").status_code == 303
    form = csrf_token(client.get("/admin/").get_data(as_text=True))
    down = same_browser(client, unreachable)
    page = down.get("/admin/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "Not available just now" in _page(page) and "reload this page" in _page(page)
    sent = down.post("/admin/trusts", data={"name": "Elm Trust", "csrf_token": form})
    assert sent.status_code == 503
    assert "What you sent has not been saved" in _page(sent)


# -- one more try inside the request --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("failures", [1, 2])
def test_a_submit_whose_connection_drops_is_tried_once_more(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    failures: int,
) -> None:
    """The submit's connection is ended by the server (as in a restart) while it waits for
    the cycle's lock. Once: tried again and stored. Twice: 503 with the answers, nothing stored."""
    oc = make_open_cycle(scope=",".join(CODES))
    token = open_form(client, oc.links[0])
    engine = make_engine(app.config["DATABASE_URL"])
    holder = engine.connect()
    holder.execute(sa.text("SELECT id FROM cycles WHERE id = :c FOR UPDATE"), {"c": oc.cycle.id})
    result: dict[str, Any] = {}

    def submit() -> None:
        result["response"] = client.post(
            "/survey", data={**TYPED, "action": "submit", "csrf_token": token}
        )

    thread = threading.Thread(target=submit)
    thread.start()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            for _ in range(failures):
                end_the_waiting_backend(watcher)
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=30)
        engine.dispose()
    response = result["response"]
    if failures == 1:
        assert response.status_code == 303, _page(response)[:500]
        assert query("SELECT count(*) FROM ballots")[0][0] == 1
    else:
        assert response.status_code == 503
        assert_the_form_holds_what_was_typed(_page(response))
        assert query("SELECT count(*) FROM ballots")[0][0] == 0
        assert query("SELECT count(*) FROM invitations WHERE is_completed")[0][0] == 0


def end_the_waiting_backend(watcher: sa.Connection) -> None:
    """pg_terminate_backend the one session waiting for a lock, once it waits (`watcher`
    autocommits: within a transaction, pg_stat_activity would not change)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = watcher.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ).scalars()
        waiting = list(pids)
        if waiting:
            assert len(waiting) == 1
            watcher.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": waiting[0]})
            # Wait until it is gone, so the next wait seen is the retry's.
            while watcher.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": waiting[0]}
            ).scalar():
                time.sleep(0.02)
            return
        time.sleep(0.02)
    raise AssertionError("no submit waited for the cycle's lock")


def test_a_page_or_an_autosave_while_the_database_is_down_keeps_what_was_typed(
    app: Flask,
    unreachable: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
) -> None:
    """One page of the form posted while the database is down: that page again (503) with what
    was typed and which button to press; an autosave says "not saved yet" in JSON."""
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    down = same_browser(client, unreachable)
    typed = {"rating-1A": "amber-green", "rationale-1A": TYPED["rationale-1A"]}
    response = down.post(
        "/survey/page/1",
        data={**typed, "page": "1", "action": "continue", "csrf_token": token},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    page = _page(response)
    assert "press “Save and continue” again in a moment" in page
    assert 'id="rating-1A-amber-green" value="amber-green" checked' in page
    assert f"{TYPED['rationale-1A']}</textarea>" in page
    assert 'action="/survey/page/1"' in page and "Heading 1 of 2" in page
    saved = down.post("/survey/autosave", data={**typed, "page": "1", "csrf_token": token})
    assert saved.status_code == 503 and saved.get_json()["saved"] is False
    assert query("SELECT count(*) FROM drafts")[0][0] == 0
