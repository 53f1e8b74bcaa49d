"""GET/POST /survey, drafts, submit, decline, CSRF (SPEC section 6), on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from survey.services.ballots import SealedAnswers
from survey.services.cycles import close_cycle

from .conftest import OpenCycle
from .helpers import answers_for, csrf_token, open_form, whole_form

CODES = ["1A", "2B"]


def _page(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _words(page: str) -> str:
    """The page's text with its tags taken out and its white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", page).split())


def _submit(client: FlaskClient, token: str, data: dict[str, str], action: str = "submit") -> Any:
    return client.post("/survey", data={**data, "action": action, "csrf_token": token})


def _counts(query: Callable[..., Any]) -> tuple[int, int, int]:
    """(sealed ballots, readable responses and ratings, drafts). Until close, a submit writes
    only a sealed ballot: nothing readable."""
    return (
        query("SELECT count(*) FROM ballots")[0][0],
        query("SELECT (SELECT count(*) FROM responses) + (SELECT count(*) FROM ratings)")[0][0],
        query("SELECT count(*) FROM drafts")[0][0],
    )


# -- the page -----------------------------------------------------------------------------------


def test_without_a_session_the_survey_asks_for_the_emailed_link(client: FlaskClient) -> None:
    response = client.get("/survey")
    assert response.status_code == 403
    assert "Open the link in your email" in _page(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_form_shows_every_element_in_scope_with_its_questions_and_descriptors(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle(scope="start", min_group_size=4, min_comment_group_size=6)
    open_form(client, oc.links[0])
    response = client.get("/survey")
    assert response.headers["Cache-Control"] == "no-store"
    page = html.unescape(whole_form(client))
    flat = " ".join(page.split())
    # Introduction and the promise with this cycle's thresholds.
    assert "diagnostic, not a judgement" in page
    assert "tool is diagnostic, not evaluative or judgemental" in page  # the framework's own
    assert (
        "Your ratings and comments are sealed as soon as you submit them and are stored without "
        "your name, email or link. Results are shown only for groups of at least 4 people. "
        "Nobody, including the trust's leaders, can tell which answers are yours."
    ) in flat
    words = _words(page)
    assert "You are one of 3 people invited in the group Headteachers." in words
    assert "Written comments are shown only for groups where at least 6 people answer" in flat
    # How that is kept, before any question: the unanimous group and the one honest limit.
    assert flat.index("How your answers are protected") < flat.index('<fieldset class="element')
    assert "if everyone in a group gives an element the same rating, the results show it" in flat
    assert (
        "Whoever holds this service's secret key and watches its database while the review is "
        "open could match answers to people. The people who run the service keep that key "
        "apart from the database and its backups."
    ) in flat
    assert "deleted when you submit, or when the review closes" in flat
    assert "open-group" not in page
    # Every element: a fieldset with a legend, its focus labels, start questions only.
    assert page.count('<fieldset class="element') == 14
    assert page.count('<fieldset class="rating"') == 14
    assert re.search(r"<legend><h3[^>]*>.*1A</span> Clarity of purpose</h3></legend>", page)
    assert re.search(r"<legend><h2[^>]*>.*6B</span> [^<]*</h2></legend>", page)
    assert "Vision for the MAT · Link to strategy · Roles and responsibilities" in page
    assert "Does the MAT have a clear vision of what excellent education looks like" in page
    assert '<span class="tag">additional question</span>' not in page
    assert "Red looks like" in page and "Green looks like" in page
    assert "The MAT has a clear and compelling vision for the quality of education" in page
    # Labelled radios with words, and a rationale box with its limit.
    for key, words in [
        ("red", "Red"),
        ("amber-red", "Amber red"),
        ("amber-green", "Amber green"),
        ("green", "Green"),
        ("dont-know", "Don't know / not enough evidence"),
    ]:
        assert f'<label for="rating-6B-{key}">' in page
        assert f'id="rating-6B-{key}" value="{key}"' in page
        assert re.search(rf'value="{key}">\s*<span><span class="swatch[^>]*></span>{words}<', page)
    assert 'name="rationale-6B" id="rationale-6B" rows="4" maxlength="2000"' in page
    assert 'aria-describedby="rationale-6B-hint"' in page
    assert "Up to 2,000 characters" in page
    assert page.count('name="action" value="continue"') == 6  # one heading to a page
    assert page.count('name="action" value="decline"') == 6  # saves, then asks first
    assert "<script>" not in page  # the CSP allows no inline script


def test_the_form_for_all_questions_and_a_list_of_codes(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle(scope="1B,6A")
    open_form(client, oc.links[0])
    page = html.unescape(whole_form(client))
    assert page.count('<fieldset class="element') == 2
    assert '<span class="tag">additional question</span>' in page
    assert 'id="element-1B"' in page and 'id="element-6A"' in page
    assert 'id="element-1A"' not in page
    assert "1. Vision, culture and ethos" in page and "6. Governance capability" in page
    assert "2. People and partners" not in page


def test_an_open_group_is_told_its_ratings_are_shown_though_it_is_small(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle(
        counts={"executive": 2, "headteacher": 3},
        groups=["executive:Executive leaders and chair:open", "headteacher:Headteachers"],
    )
    open_form(client, oc.links[0])
    page = _page(client.get("/survey"))
    flat = " ".join(page.split())
    words = _words(page)
    # What is true for them comes first, and nothing calls their answers anonymous.
    panel = flat[flat.index('id="anonymity"') :]
    assert panel.index('id="open-group"') < panel.index("<p>")
    assert "Your group's ratings are shown as a group, even though it is small" in flat
    assert (
        "You are one of 2 people invited in the group Executive leaders and chair. The trust "
        "has marked this group as open: when the review closes, its ratings are shown together "
        "in the results even if fewer than 3 of you answer."
    ) in words
    assert "may be able to work out yours" in flat
    assert (
        "Your written comments follow the same rule as everyone's: they are shown only if at "
        "least 5 people in your group answer"
    ) in flat
    assert "Your answers are anonymous" not in flat
    # The promise is still shown, as what holds for every other group.
    assert (
        'For every other group the promise is: <q class="promise-text">Your ratings and '
        "comments are sealed as soon as you submit them"
    ) in flat
    assert "How your answers are protected" in flat

    other = oc.links[2]
    client.get(other)
    page = _page(client.get("/survey"))
    assert 'id="open-group"' not in page
    assert "Your answers are anonymous" in page
    assert "You are one of 3 people invited in the group Headteachers." in _words(page)


# -- validation ---------------------------------------------------------------------------------


def test_submit_with_an_element_unrated_is_422_naming_it_and_keeping_every_answer(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, query: Callable[..., Any]
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    response = _submit(
        client, token, {"rating-1A": "amber-red", "rationale-1A": "Our <b>vision</b> & plan"}
    )
    assert response.status_code == 422
    page = _page(response)
    summary = page[page.index('class="error-summary"') : page.index("</ul>")]
    assert '<a href="#rating-2B-red">2B Recruiting, developing and retaining talent' in summary
    assert "1A" not in summary
    beside = page[page.index('id="element-2B"') :]
    assert 'class="error-message" id="rating-2B-red-error"' in beside
    assert 'aria-describedby="rating-2B-red-error"' in beside
    assert 'id="rating-1A-amber-red" value="amber-red" checked' in page
    raw = response.get_data(as_text=True)
    assert "Our &lt;b&gt;vision&lt;/b&gt; &amp; plan</textarea>" in raw  # kept, and escaped
    assert response.headers["Cache-Control"] == "no-store"
    assert _counts(query) == (0, 0, 0)
    assert query("SELECT count(*) FROM invitations WHERE is_completed")[0][0] == 0


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"rating-2B": "purple"}, "“purple” is not one of the ratings"),
        ({"rating-2B": "amber"}, "“amber” is not one of the ratings"),
        ({"rating-9Z": "green"}, "“9Z” is not an element of this review"),
        ({"rating-6A": "green"}, "“6A” is not an element of this review"),
        ({"rationale-3C": "not asked"}, "“3C” is not an element of this review"),
        ({"rationale-2B": "x" * 2001}, "the rationale is 2,001 characters long"),
    ],
)
def test_bad_values_are_422_with_the_problem_named_and_the_text_kept(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    extra: dict[str, str],
    problem: str,
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    data = {**answers_for(CODES), "rationale-1A": "Kept text for 1A", **extra}
    for action in ("submit", "save"):
        response = _submit(client, token, data, action)
        assert response.status_code == 422
        page = _page(response)
        summary = page[page.index('class="error-summary"') : page.index("</ul>")]
        assert problem in summary
        assert "Kept text for 1A</textarea>" in page
        if "rationale-2B" in extra:
            assert ("x" * 2001) + "</textarea>" in page
    assert _counts(query) == (0, 0, 0)


def test_line_breaks_count_once_towards_the_2000_character_limit(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    ballot_box: Callable[[int], list[SealedAnswers]],
) -> None:
    """Browsers submit CRLF but count a line break as one character for `maxlength`."""
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    text = ("a" * 99 + "\r\n") * 20  # 2,000 characters as the browser counts them
    response = _submit(client, token, answers_for(CODES, **{"rationale-1A": text}))
    assert response.status_code == 303
    (stored,) = ballot_box(oc.cycle.id)
    assert stored.rationales["1A"] == text.replace("\r\n", "\n").strip()


def test_a_missing_action_is_422_and_nothing_is_stored(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, query: Callable[..., Any]
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    response = client.post("/survey", data={**answers_for(CODES), "csrf_token": token})
    assert response.status_code == 422
    assert "Submit my answers" in _page(response)
    assert _counts(query) == (0, 0, 0)


# -- drafts -------------------------------------------------------------------------------------


def test_save_keeps_a_draft_that_the_link_restores_later(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    draft_of: Callable[..., SealedAnswers | None],
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    response = _submit(
        client, token, {"rating-1A": "dont-know", "rationale-1A": "Half way"}, "save"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/survey"
    saved = _page(client.get("/survey"))
    assert "Your answers are saved" in saved
    assert query("SELECT invitation_id FROM drafts")[0][0] == oc.invitations[0].id
    draft = draft_of(oc.invitations[0])
    assert draft is not None
    assert (dict(draft.ratings), dict(draft.rationales)) == (
        {"1A": "dont-know"},
        {"1A": "Half way"},
    )
    # Sealed: the words are not in the row.
    assert b"Half way" not in bytes(query("SELECT sealed FROM drafts")[0][0])
    # Later, in another browser: the link restores the draft.
    later = app.test_client()
    open_form(later, oc.links[0])
    assert "restored the answers you saved" in _page(later.get("/survey"))
    page = _page(later.get("/survey/page/1"))
    assert 'id="rating-1A-dont-know" value="dont-know" checked' in page
    assert "Half way</textarea>" in page
    # Saving again replaces the draft; someone else's form shows none of it.
    token = csrf_token(page)
    assert _submit(later, token, {"rating-2B": "red"}, "save").status_code == 303
    draft = draft_of(oc.invitations[0])
    assert draft is not None
    assert (dict(draft.ratings), dict(draft.rationales)) == ({"2B": "red"}, {})
    assert query("SELECT count(*) FROM drafts")[0][0] == 1
    stranger = app.test_client()
    open_form(stranger, oc.links[1])
    assert "Half way" not in html.unescape(whole_form(stranger))
    assert _counts(query)[:2] == (0, 0)


# -- submit -------------------------------------------------------------------------------------


def test_submit_stores_one_anonymous_response_and_deletes_the_draft(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    ballot_box: Callable[[int], list[SealedAnswers]],
) -> None:
    oc = make_open_cycle(counts={"headteacher": 3, "middle-leader": 3})
    invitation = oc.invitations[4]  # a middle leader
    token = open_form(client, oc.links[4])
    assert _submit(client, token, {"rating-1A": "red"}, "save").status_code == 303
    response = _submit(
        client,
        token,
        {
            "rating-1A": "amber-green",
            "rationale-1A": "  ",
            "rating-2B": "dont-know",
            "rationale-2B": "Not enough evidence yet",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/survey/done"
    stored = query("SELECT id, cycle_id FROM ballots")
    assert len(stored) == 1
    response_id, cycle_id = stored[0]
    assert len(response_id) == 32 and re.fullmatch(r"[0-9a-f]{32}", response_id)
    assert cycle_id == oc.cycle.id
    assert _counts(query) == (1, 0, 0)  # nothing readable until the cycle closes
    (ballot,) = ballot_box(oc.cycle.id)
    assert ballot.group_id == invitation.group_id
    assert dict(ballot.ratings) == {"1A": "amber-green", "2B": "dont-know"}
    assert dict(ballot.rationales) == {"2B": "Not enough evidence yet"}
    assert query("SELECT is_completed FROM invitations WHERE id = :i", i=invitation.id)[0][0]
    assert query("SELECT count(*) FROM drafts")[0][0] == 0
    # The session keeps nothing about the invitation or the response.
    with client.session_transaction() as stored:
        assert dict(stored) == {"has_submitted": True}
    assert response_id not in str(client.get_cookie("session"))
    done = client.get("/survey/done")
    assert done.status_code == 200
    assert "your answers have been submitted" in _page(done)
    assert done.headers["Cache-Control"] == "no-store"
    assert client.get("/survey").status_code == 403


def test_a_double_click_stores_one_response_and_the_second_sees_already_submitted(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    ballot_box: Callable[[int], list[SealedAnswers]],
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    with client.session_transaction() as stored:
        cookie_session = dict(stored)
    first = _submit(client, token, answers_for(CODES))
    assert first.status_code == 303
    # The second click was sent with the same cookie as the first.
    with client.session_transaction() as stored:
        stored.clear()
        stored.update(cookie_session)
    second = _submit(client, token, answers_for(CODES, "red"))
    assert second.status_code == 200
    assert "already submitted" in _page(second)
    assert _counts(query) == (1, 0, 0)
    assert [set(b.ratings.values()) for b in ballot_box(oc.cycle.id)] == [{"green"}]


def test_the_thank_you_page_reveals_nothing_to_anyone_else(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    _submit(client, token, answers_for(CODES))
    stranger = app.test_client()
    page = _page(stranger.get("/survey/done"))
    assert "Nothing to show" in page
    assert "submitted" not in page
    assert oc.cycle.title not in page and "Oak" not in page


def test_submit_after_close_is_410_and_shows_back_what_was_typed(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    session: Session,
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    assert _submit(client, token, {"rating-1A": "red"}, "save").status_code == 303
    with app.app_context():  # sealing opens ballots with the app's secret key
        close_cycle(session, oc.cycle, "test")
    session.commit()
    data = answers_for(CODES, **{"rationale-2B": "Line one\r\nLine <two>"})
    for action in ("submit", "save"):
        response = _submit(client, token, data, action)
        assert response.status_code == 410
        page = _page(response)
        assert "This review has closed" in page
        assert "closed before your answers could be recorded" in page
        assert "Line one\nLine <two>" in page
        assert "2B: Green" in page
    assert _counts(query) == (0, 0, 0)  # the draft went at close; nothing new was stored
    decline = client.post("/survey/decline", data={"csrf_token": token})
    assert decline.status_code == 410


# -- CSRF ---------------------------------------------------------------------------------------


def _expired_csrf(app: Flask, client: FlaskClient) -> str:
    """A real Flask-WTF token for this session, signed longer ago than the time limit."""
    with client.session_transaction() as stored:
        raw = stored["csrf_token"]
    limit = int(app.config["WTF_CSRF_TIME_LIMIT"])

    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            # itsdangerous signs with the system clock, not ours
            return int(time.time()) - limit - 60  # noqa: TID251

    signer = URLSafeTimedSerializer(app.config["SECRET_KEY"], "wtf-csrf-token", signer=LongAgo)
    return signer.dumps(raw)


def test_an_expired_csrf_token_shows_the_form_again_with_every_answer(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle()
    open_form(client, oc.links[0])
    expired = _expired_csrf(app, client)
    data = {"rating-1A": "amber-green", "rationale-1A": "Typed before lunch", "rating-2B": "red"}
    for action in ("submit", "save"):
        response = _submit(client, expired, data, action)
        assert response.status_code == 400
        page = _page(response)
        assert "have not been saved or submitted yet" in page
        assert 'id="rating-1A-amber-green" value="amber-green" checked' in page
        assert 'id="rating-2B-red" value="red" checked' in page
        assert "Typed before lunch</textarea>" in page
        assert response.headers["Cache-Control"] == "no-store"
    assert _counts(query) == (0, 0, 0)
    # The fresh token on that page works.
    assert _submit(client, csrf_token(page), data).status_code == 303
    assert _counts(query) == (1, 0, 0)


def test_a_missing_csrf_token_and_a_lost_session_still_show_what_was_typed(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle()
    open_form(client, oc.links[0])
    missing = client.post("/survey", data={**answers_for(CODES), "action": "submit"})
    assert missing.status_code == 400
    assert "Evidence for 2B</textarea>" in _page(missing)
    # A browser whose session cookie is gone (closed, or hours later).
    lost = app.test_client()
    response = lost.post(
        "/survey", data={"rating-1A": "green", "rationale-1A": "Still here", "action": "submit"}
    )
    assert response.status_code == 400
    page = _page(response)
    assert "Open the link in your email" in page
    assert "1A: Green" in page and "Still here" in page


def test_a_post_over_https_with_a_same_origin_referer_succeeds(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], query: Callable[..., Any]
) -> None:
    """Flask-WTF checks the Referer on HTTPS: the form page's same-origin policy sends one."""
    oc = make_open_cycle()
    secure = app.test_client()
    base = "https://survey.test"
    landing = secure.get(oc.links[0], base_url=base)
    assert landing.status_code == 303
    assert "Strict-Transport-Security" in landing.headers
    form = secure.get("/survey/page/1", base_url=base)
    assert form.headers["Referrer-Policy"] == "same-origin"
    token = csrf_token(form.get_data(as_text=True))
    data = {**answers_for(CODES), "action": "submit", "csrf_token": token}
    no_referer = secure.post("/survey", base_url=base, data=data)
    assert no_referer.status_code == 400  # refused, and the form is shown again with answers
    assert "Evidence for 1A</textarea>" in _page(no_referer)
    token = csrf_token(no_referer.get_data(as_text=True))
    response = secure.post(
        "/survey",
        base_url=base,
        data={**data, "csrf_token": token},
        headers={"Referer": f"{base}/survey"},
    )
    assert response.status_code == 303
    assert _counts(query)[0] == 1


# -- decline ------------------------------------------------------------------------------------


def test_decline_counts_as_declined_deletes_the_draft_and_stops_the_form(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, query: Callable[..., Any]
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    assert _submit(client, token, {"rating-1A": "red"}, "save").status_code == 303
    response = client.post("/survey/decline", data={"csrf_token": token})
    assert response.status_code == 200
    page = _page(response)
    assert "You will not receive any more reminders" in " ".join(page.split())
    flags = query(
        "SELECT is_declined, is_completed FROM invitations WHERE id = :i", i=oc.invitations[0].id
    )[0]
    assert tuple(flags) == (True, False)
    assert _counts(query) == (0, 0, 0)
    assert client.get("/survey").status_code == 403
    again = client.get(oc.links[0])
    assert again.status_code == 200 and "chosen not to take part" in _page(again)
    with client.session_transaction() as stored:
        assert "invitation_id" not in stored


def test_decline_after_submitting_changes_nothing(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient, query: Callable[..., Any]
) -> None:
    oc = make_open_cycle()
    token = open_form(client, oc.links[0])
    with client.session_transaction() as stored:
        before = dict(stored)
    assert _submit(client, token, answers_for(CODES)).status_code == 303
    with client.session_transaction() as stored:
        stored.update(before)
    response = client.post("/survey/decline", data={"csrf_token": token})
    assert response.status_code == 200
    assert "already submitted" in _page(response)
    flags = query(
        "SELECT is_declined, is_completed FROM invitations WHERE id = :i", i=oc.invitations[0].id
    )[0]
    assert tuple(flags) == (False, True)
