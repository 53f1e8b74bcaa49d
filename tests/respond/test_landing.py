"""GET /s/<token>: the personal link (SPEC section 6), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from survey.config import update_settings
from survey.models import Cycle, CycleState
from survey.services.cycles import close_cycle
from survey.services.links import LINK_SALT
from survey.timeutil import format_local, utcnow

from .conftest import OpenCycle
from .helpers import answers_for, open_form

INVALID = "This link is not valid"


def _token(link: str) -> str:
    return link.removeprefix("/s/")


def _flip(token: str, index: int) -> str:
    """Change one character (one in the middle of the signature is never just padding)."""
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


def _nonce(app: Flask, link: str) -> str:
    nonce: str = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=LINK_SALT).loads(
        _token(link)
    )
    return nonce


def test_valid_link_redirects_to_the_token_free_form_without_using_the_link_up(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, query: Callable[..., Any]
) -> None:
    oc = make_open_cycle()
    for _ in range(3):  # a mail scanner, then the person, then the person again
        response = client.get(oc.links[0])
        assert response.status_code == 303
        assert response.headers["Location"] == "/survey"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "/s/" not in response.headers["Location"]
    with client.session_transaction() as stored:
        assert stored["invitation_id"] == oc.invitations[0].id
        assert not stored.permanent  # the cookie lasts for the browser session only
    assert query(
        "SELECT is_completed, is_declined FROM invitations WHERE id = :i", i=oc.invitations[0].id
    )[0] == (False, False)
    form = client.get("/survey")
    assert form.status_code == 200
    assert form.headers["Cache-Control"] == "no-store"
    assert form.headers["Referrer-Policy"] == "same-origin"


def test_opening_another_link_switches_the_session_to_that_invitation(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    client.get(oc.links[0])
    client.get(oc.links[1])
    with client.session_transaction() as stored:
        assert stored["invitation_id"] == oc.invitations[1].id


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: _flip(t, -10), id="tampered-signature"),
        pytest.param(lambda t: _flip(t, 3), id="tampered-nonce"),
        pytest.param(lambda t: t[:20], id="truncated"),
        pytest.param(lambda t: "x" + t, id="prefixed"),
        pytest.param(lambda t: t + "/extra", id="with-slash"),
        pytest.param(lambda t: "A" * 300, id="too-long"),
    ],
)
def test_mangled_tokens_answer_404(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    mangle: Callable[[str], str],
) -> None:
    oc = make_open_cycle()
    response = client.get("/s/" + mangle(_token(oc.links[0])))
    assert response.status_code == 404
    assert INVALID in response.get_data(as_text=True)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    with client.session_transaction() as stored:
        assert "invitation_id" not in stored


def test_wrong_salt_wrong_key_and_unknown_nonce_answer_404(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    nonce = _nonce(app, oc.links[0])
    key = app.config["SECRET_KEY"]
    wrong_salt = URLSafeTimedSerializer(key, salt="another-purpose").dumps(nonce)
    wrong_key = URLSafeTimedSerializer("not-our-key-" * 4, salt=LINK_SALT).dumps(nonce)
    unknown = URLSafeTimedSerializer(key, salt=LINK_SALT).dumps("an-unknown-nonce-0123456789")
    not_text = URLSafeTimedSerializer(key, salt=LINK_SALT).dumps({"nonce": nonce})
    for token in (wrong_salt, wrong_key, unknown, not_text):
        response = client.get(f"/s/{token}")
        assert response.status_code == 404
        assert INVALID in response.get_data(as_text=True)


def test_an_expired_link_answers_404_saying_it_is_too_old(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    max_age = int(app.config["LINK_MAX_AGE_DAYS"]) * 86400

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            # itsdangerous signs with the system clock, not ours
            return int(time.time()) - max_age - 60  # noqa: TID251

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=LINK_SALT, signer=LongAgo)
    response = client.get("/s/" + old.dumps(_nonce(app, oc.links[0])))
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert INVALID in page and "too old" in page


def test_links_signed_with_a_rotated_key_still_work(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    nonce = _nonce(app, oc.links[0])
    old_key = app.config["SECRET_KEY"]
    update_settings(
        app, SECRET_KEY="a-brand-new-key-after-rotation-0123456789", SECRET_KEY_FALLBACKS=[old_key]
    )
    old_token = URLSafeTimedSerializer(old_key, salt=LINK_SALT).dumps(nonce)
    assert client.get(f"/s/{old_token}").status_code == 303


def test_a_cycle_not_yet_open_shows_its_opening_date_in_the_trust_time_zone(
    session: Session,
    make_cycle: Callable[..., Cycle],
    make_trust: Callable[..., Any],
    add_people: Callable[..., list[Any]],
    app: Flask,
    client: FlaskClient,
) -> None:
    from survey.services.links import mint_link

    trust = make_trust("Harbour Trust", timezone="America/New_York")
    opens = utcnow().replace(microsecond=0) + timedelta(days=3)
    cycle = make_cycle(trust=trust, opens_at=opens, closes_at=opens + timedelta(days=14))
    invitations = add_people(cycle, {"headteacher": 3})
    cycle.launch(invitation_count=3)
    session.commit()
    assert cycle.state == CycleState.SCHEDULED
    with app.app_context():
        link = mint_link(session, invitations[0]).removeprefix(app.config["BASE_URL"])
    session.commit()
    response = client.get(link)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "has not opened yet" in page
    shown = format_local(opens, "America/New_York")
    assert shown in page and ("EST" in shown or "EDT" in shown)
    assert response.headers["Cache-Control"] == "no-store"
    with client.session_transaction() as stored:
        assert "invitation_id" not in stored


def test_a_closed_cycle_answers_410(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], session: Session, client: FlaskClient
) -> None:
    oc = make_open_cycle()
    with app.app_context():  # sealing opens ballots with the app's secret key
        close_cycle(session, oc.cycle, "test")
    session.commit()
    response = client.get(oc.links[0])
    assert response.status_code == 410
    assert "This review has closed" in response.get_data(as_text=True)


def test_a_cycle_past_its_close_date_answers_410_before_the_scheduler_closes_it(
    make_open_cycle: Callable[..., OpenCycle], session: Session, client: FlaskClient
) -> None:
    oc = make_open_cycle()
    oc.cycle.closes_at = utcnow() - timedelta(minutes=1)
    session.commit()
    assert client.get(oc.links[0]).status_code == 410


def test_already_submitted_and_declined_links_say_so(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, app: Flask
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    data = {**answers_for(["1A", "2B"]), "action": "submit", "csrf_token": token}
    assert client.post("/survey", data=data).status_code == 303
    response = client.get(oc.links[0])
    assert response.status_code == 200
    assert "already submitted" in response.get_data(as_text=True)

    other = app.test_client()
    token = open_form(other, oc.links[1])
    assert other.post("/survey/decline", data={"csrf_token": token}).status_code == 200
    response = other.get(oc.links[1])
    assert response.status_code == 200
    assert "chosen not to take part" in response.get_data(as_text=True)


def test_invalid_links_are_rate_limited_per_client_but_valid_links_never_are(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    # Valid links never count: a whole school shares one address.
    for _ in range(15):
        assert client.get(oc.links[0]).status_code == 303
    for _ in range(10):
        assert client.get("/s/not-a-real-token").status_code == 404
    limited = client.get("/s/not-a-real-token")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    assert "Too many links that do not work" in limited.get_data(as_text=True)
    # ...and once the limit is reached, a colleague's valid link still opens.
    assert client.get(oc.links[1]).status_code == 303
    # Another address has its own count.
    other = client.get("/s/not-a-real-token", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 404


def test_no_link_token_reaches_any_log_line(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], caplog: pytest.LogCaptureFixture
) -> None:
    """Through werkzeug's real server (the embedded `serve`): its request log and Flask's
    exception log both print paths; neither may print a token."""
    oc = make_open_cycle()
    token = _token(oc.links[0])

    @app.get("/s/<path:token>/boom")
    def _boom(token: str) -> str:
        raise RuntimeError("a bug in a view")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with caplog.at_level(logging.INFO):
            for path in (f"/s/{token}", f"/s/{token}x", f"/s/{token}/boom"):
                request = urllib.request.Request(base + path, headers={"Referer": base + path})
                # Without a cookie jar even the valid link ends on /survey's 403 page.
                with pytest.raises(urllib.error.HTTPError):
                    urllib.request.urlopen(request, timeout=10)
    finally:
        server.shutdown()
        thread.join(5)
    messages = [record.getMessage() for record in caplog.records]
    assert any("/s/[redacted]" in m and "GET" in m for m in messages), messages
    assert any("Exception on /s/[redacted]" in m for m in messages), messages
    assert not any(token[:20] in m for m in messages)
    for record in caplog.records:
        assert token[:20] not in str(record.args)
