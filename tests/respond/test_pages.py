"""The form one heading per page (issue 16): pages and progress, "Save and continue" into the
sealed draft, the review page, autosave, the decline question, and the time estimate shared with
the invitation email. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import framework as fw
from survey.mail.messages import InvitationRenderer
from survey.respond.pages import MAX_ELEMENTS_PER_PAGE, is_one_heading_per_page, plan_steps
from survey.services.ballots import SealedAnswers

from .conftest import OpenCycle
from .helpers import csrf_token, open_form
from .test_form import _expired_csrf

MAT = fw.load_builtin("mat-assurance")
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _page(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _words(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def _save_page(
    client: FlaskClient, number: int, token: str, data: dict[str, str], **extra: str
) -> Any:
    return client.post(
        f"/survey/page/{number}",
        data={**data, "csrf_token": token, "page": str(number), "action": "continue", **extra},
    )


# -- pages --------------------------------------------------------------------------------------


def test_the_framework_is_split_one_heading_to_a_page() -> None:
    steps = plan_steps(MAT, fw.parse_scope("all"))
    assert [s.heading.number for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s.codes for s in steps] == [tuple(e.code for e in h.elements) for h in MAT.headings]
    assert is_one_heading_per_page(steps)
    # A scope leaves out headings with nothing in it.
    steps = plan_steps(MAT, fw.parse_scope("1B,6A"))
    assert [(s.number, s.codes) for s in steps] == [(1, ("1B",)), (2, ("6A",))]


def test_a_framework_without_real_headings_gets_a_few_elements_a_page() -> None:
    one_heading = dataclasses.replace(MAT, headings=(fw.Heading(1, "Everything", MAT.elements),))
    steps = plan_steps(one_heading, fw.parse_scope("all"))
    assert len(steps) > 1 and not is_one_heading_per_page(steps)
    assert all(1 <= len(s.elements) <= MAX_ELEMENTS_PER_PAGE for s in steps)
    assert [c for s in steps for c in s.codes] == [e.code for e in MAT.elements]
    assert [(s.part, s.parts) for s in steps] == [(i + 1, len(steps)) for i in range(len(steps))]


def test_each_page_shows_one_heading_with_its_progress(
    make_open_cycle: Callable[..., OpenCycle], client: FlaskClient
) -> None:
    oc = make_open_cycle(scope="start")
    open_form(client, oc.links[0])
    landing = _page(client.get("/survey"))
    assert "Heading 1 of 6" in landing
    assert '<progress max="6" value="1"' in landing
    assert 'action="/survey/page/1"' in landing
    assert landing.count('<fieldset class="element') == len(MAT.headings[0].elements)
    for number, heading in enumerate(MAT.headings, start=1):
        response = client.get(f"/survey/page/{number}")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        page = _page(response)
        assert f"Heading {number} of 6" in page
        assert f'<progress max="6" value="{number}"' in page
        assert f'<h1 id="heading-{heading.number}">{heading.number}. {heading.title}' in page
        shown = re.findall(r'<fieldset class="element[^"]*" id="element-([^"]+)"', page)
        assert shown == [e.code for e in heading.elements]
        assert 'class="back-link"' in page
        assert ">Save and go to review<" in page if number == 6 else ">Save and continue<" in page
        assert "<script>" not in page
    assert client.get("/survey/page/7").status_code == 404
    assert client.get("/survey/page/0").status_code == 404


def test_save_and_continue_keeps_each_pages_answers_in_the_sealed_draft(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    draft_of: Callable[..., SealedAnswers | None],
) -> None:
    oc = make_open_cycle(scope="1A,1B,2A")
    token = open_form(client, oc.links[0])
    first = _save_page(
        client, 1, token, {"rating-1A": "green", "rationale-1A": "Clear vision", "rating-2A": "red"}
    )
    assert (first.status_code, first.headers["Location"]) == (303, "/survey/page/2")
    second = _save_page(client, 2, token, {"rating-2A": "amber-red", "rationale-2A": "Thin"})
    assert (second.status_code, second.headers["Location"]) == (303, "/survey/review")
    draft = draft_of(oc.invitations[0])
    assert draft is not None
    # Page 1's stray 2A field was ignored; page 2 kept page 1's answers.
    assert dict(draft.ratings) == {"1A": "green", "2A": "amber-red"}
    assert dict(draft.rationales) == {"1A": "Clear vision", "2A": "Thin"}
    assert b"Clear vision" not in bytes(query("SELECT sealed FROM drafts")[0][0])
    # Changing page 1 from the review: its answers are replaced (1A's rationale emptied), the
    # other page's kept, and the person goes back to the review.
    again = _save_page(client, 1, token, {"rating-1B": "dont-know"}, **{"return": "review"})
    assert (again.status_code, again.headers["Location"]) == (303, "/survey/review")
    draft = draft_of(oc.invitations[0])
    assert draft is not None
    assert dict(draft.ratings) == {"1B": "dont-know", "2A": "amber-red"}
    assert dict(draft.rationales) == {"2A": "Thin"}
    # The page shows what was saved.
    page = _page(client.get("/survey/page/2"))
    assert 'id="rating-2A-amber-red" value="amber-red" checked' in page
    assert "Thin</textarea>" in page
    assert _save_page(client, 1, token, {}, action="decline").headers["Location"] == (
        "/survey/decline?back=1"
    )
    assert query("SELECT count(*) FROM ballots")[0][0] == 0


def test_a_page_with_a_bad_value_is_shown_again_with_what_was_typed(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    draft_of: Callable[..., SealedAnswers | None],
) -> None:
    oc = make_open_cycle(scope="1A,2B")
    token = open_form(client, oc.links[0])
    response = _save_page(
        client, 1, token, {"rating-1A": "purple", "rationale-1A": "Kept <i>text</i>"}
    )
    assert response.status_code == 422
    page = _page(response)
    assert "“purple” is not one of the ratings" in page
    assert "Kept <i>text</i></textarea>" in page
    assert "Heading 1 of 2" in page
    assert draft_of(oc.invitations[0]) is None


# -- review and submit --------------------------------------------------------------------------


def test_the_review_lists_every_element_and_its_submit_posts_every_answer(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    ballot_box: Callable[[int], list[SealedAnswers]],
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle(scope="1A,2B")
    token = open_form(client, oc.links[0])
    text = "Line one\nLine two & <three>"
    _save_page(client, 1, token, {"rating-1A": "amber-green", "rationale-1A": text})
    review = client.get("/survey/review")
    assert review.status_code == 200
    page = _page(review)
    words = _words(page)
    assert "You have rated 1 of 2 elements." in words
    assert "1 element is not rated yet" in words
    assert re.search(r"1A\s*</span>\s*Clarity of purpose", page)
    assert "Amber green" in words and "Line one" in page
    assert "Not yet rated" in words
    assert 'href="/survey/page/2?return=review#element-2B"' in page
    assert 'Change<span class="visually-hidden"> your answer for 1A' in page
    assert 'action="/survey"' in page and 'name="action" value="submit"' in page
    raw = review.get_data(as_text=True)
    assert "Line two &amp; &lt;three&gt;" in raw  # escaped
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(raw)}
    assert fields["rating-1A"] == "amber-green" and fields["rationale-1A"] == text
    assert "rating-2B" not in fields

    assert fields["from"] == "review"
    # Submitting with 2B unrated: the review again, 422, saying so first; nothing stored.
    incomplete = client.post("/survey", data={**fields, "action": "submit"})
    assert incomplete.status_code == 422
    page = _page(incomplete)
    summary = page[page.index('id="error-summary"') : page.index("</ul>")]
    assert '<a href="#review-2B">2B Recruiting, developing and retaining talent: choose' in summary
    beside = page[page.index('id="review-2B"') :]
    assert beside.index('class="error-message"') < beside.index("</dd>")
    assert "Line two & <three>" in page  # the posted answers are kept
    assert "<title>Error: Check your answers" in page
    assert query("SELECT count(*) FROM ballots")[0][0] == 0
    # Rate 2B from the review, then submit what the review posts.
    back = _save_page(client, 2, token, {"rating-2B": "green"}, **{"return": "review"})
    assert back.headers["Location"] == "/survey/review"
    raw = client.get("/survey/review").get_data(as_text=True)
    assert "not rated yet" not in raw
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(raw)}
    done = client.post("/survey", data={**fields, "action": "submit"})
    assert (done.status_code, done.headers["Location"]) == (303, "/survey/done")
    (ballot,) = ballot_box(oc.cycle.id)
    assert dict(ballot.ratings) == {"1A": "amber-green", "2B": "green"}
    assert dict(ballot.rationales) == {"1A": text}
    assert query("SELECT count(*) FROM drafts")[0][0] == 0


def test_the_whole_form_posted_at_once_is_still_stored(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    ballot_box: Callable[[int], list[SealedAnswers]],
) -> None:
    """SPEC 6: a POST /survey carrying every field with action=submit, as scripts send it."""
    oc = make_open_cycle(scope="start")
    token = open_form(client, oc.links[0])
    chosen = {e.code: MAT.scale.answer_keys[i % 5] for i, e in enumerate(MAT.elements)}
    data = {f"rating-{code}": key for code, key in chosen.items()}
    data["rationale-3B"] = "Whole form"
    response = client.post("/survey", data={**data, "action": "submit", "csrf_token": token})
    assert (response.status_code, response.headers["Location"]) == (303, "/survey/done")
    (ballot,) = ballot_box(oc.cycle.id)
    assert dict(ballot.ratings) == chosen
    assert dict(ballot.rationales) == {"3B": "Whole form"}


# -- autosave -----------------------------------------------------------------------------------


def test_autosave_keeps_the_page_in_the_sealed_draft(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    draft_of: Callable[..., SealedAnswers | None],
) -> None:
    oc = make_open_cycle(scope="1A,2B")
    token = open_form(client, oc.links[0])
    _save_page(client, 2, token, {"rating-2B": "red"})
    data = {"csrf_token": token, "page": "1", "rating-1A": "green", "rationale-1A": "Typing…"}
    response = client.post("/survey/autosave", data=data)
    assert response.status_code == 200
    assert response.get_json() == {"saved": True, "message": ""}
    assert response.headers["Cache-Control"] == "no-store"
    draft = draft_of(oc.invitations[0])
    assert draft is not None
    assert dict(draft.ratings) == {"1A": "green", "2B": "red"}
    assert dict(draft.rationales) == {"1A": "Typing…"}
    assert b"Typing" not in bytes(query("SELECT sealed FROM drafts")[0][0])
    # Without the page's CSRF token nothing is saved.
    refused = client.post("/survey/autosave", data={**data, "csrf_token": "x", "rating-1A": "red"})
    assert refused.status_code == 400 and refused.get_json()["saved"] is False
    draft = draft_of(oc.invitations[0])
    assert draft is not None and draft.ratings["1A"] == "green"
    # A bad page number or value is refused, saying so.
    assert client.post("/survey/autosave", data={**data, "page": "9"}).status_code == 400
    bad = client.post("/survey/autosave", data={**data, "rating-1A": "purple"})
    assert bad.status_code == 422 and "purple" in bad.get_json()["message"]


def test_autosave_is_no_oracle_for_anyone_without_the_invitation_in_their_session(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
) -> None:
    """The endpoint acts only on the invitation in the browser's own session and takes no
    invitation from the request: without one, the answer is the same whatever is posted and
    whatever state anyone's invitation is in; after a decline or a submit the session holds
    none, so those people get that same answer."""
    oc = make_open_cycle(scope="1A,2B")
    token = open_form(client, oc.links[0])
    assert client.post("/survey/decline", data={"csrf_token": token}).status_code == 200
    submitter = app.test_client()
    other = open_form(submitter, oc.links[1])
    data = {"rating-1A": "green", "rating-2B": "green", "action": "submit", "csrf_token": other}
    assert submitter.post("/survey", data=data).status_code == 303
    # Their sessions were cleared: the page's old token is refused alike for both.
    stale = {
        (r.status_code, r.get_data())
        for r in (
            who.post("/survey/autosave", data={"csrf_token": t, "page": "1", "rating-1A": "red"})
            for who, t in ((submitter, other), (client, token))
        )
    }
    assert len(stale) == 1 and next(iter(stale))[0] == 400

    answers = set()
    stranger = app.test_client()
    for who in (submitter, client, stranger):
        fresh = csrf_token(who.get("/admin/login").get_data(as_text=True))
        for invitation in oc.invitations:
            for guess in (
                {"invitation_id": str(invitation.id)},
                {"invitation": str(invitation.id)},
            ):
                response = who.post(
                    "/survey/autosave",
                    data={"csrf_token": fresh, "page": "1", "rating-1A": "red", **guess},
                )
                answers.add((response.status_code, response.get_data()))
    assert len(answers) == 1, answers
    ((status, body),) = answers
    assert status == 403 and b"Open the link in your email" in body
    assert query("SELECT count(*) FROM drafts")[0][0] == 0


# -- declining ----------------------------------------------------------------------------------


def test_decline_asks_first_and_going_back_keeps_everything(
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    query: Callable[..., Any],
    draft_of: Callable[..., SealedAnswers | None],
) -> None:
    oc = make_open_cycle(scope="1A,2B")
    token = open_form(client, oc.links[0])
    asked = _save_page(client, 1, token, {"rating-1A": "red"}, action="decline")
    assert asked.headers["Location"] == "/survey/decline?back=1"
    response = client.get(asked.headers["Location"])
    assert response.status_code == 200
    page = _page(response)
    words = _words(page)
    assert "Are you sure you will not take part?" in words
    assert "you will not receive any more reminders" in words
    assert "the link in your email stops working" in words
    assert "any answers you have saved are deleted" in words
    assert 'href="/survey/page/1"' in page and "No, go back to my answers" in words
    assert 'action="/survey/decline"' in page
    # Nothing is declined by asking; what was typed is kept for going back.
    flags = query("SELECT is_declined FROM invitations WHERE id = :i", i=oc.invitations[0].id)
    assert flags[0][0] in (False, 0)
    draft = draft_of(oc.invitations[0])
    assert draft is not None and dict(draft.ratings) == {"1A": "red"}
    assert 'id="rating-1A-red" value="red" checked' in _page(client.get("/survey/page/1"))
    assert 'href="/survey/review"' in _page(client.get("/survey/decline?back=review"))
    assert client.get("/survey/decline?back=9").status_code == 404
    # Confirming declines.
    done = client.post("/survey/decline", data={"csrf_token": csrf_token(page)})
    assert done.status_code == 200 and "chosen not to take part" in _page(done)
    assert query("SELECT count(*) FROM drafts")[0][0] == 0


# -- how long it takes --------------------------------------------------------------------------


def test_the_estimate_comes_from_the_elements_and_questions_in_scope() -> None:
    start = MAT.time_estimate(fw.parse_scope("start"))
    every = MAT.time_estimate(fw.parse_scope("all"))
    two = MAT.time_estimate(fw.parse_scope("1A,2B"))
    assert (start.elements, start.questions) == (14, 42)
    assert (every.elements, every.questions) == (14, 76)
    # 42 questions x 20 s + 14 elements x 90 s = 35 minutes; + 14 x 2 min rationales = 63 -> 65.
    assert (start.minutes, start.minutes_with_rationales) == (35, 65)
    assert every.minutes > start.minutes > two.minutes
    assert start.words == (
        "about 35 minutes, or about 1 hour 5 minutes with a rationale for each element"
    )
    assert "14 elements and 42 questions" in start.basis


def test_the_landing_page_and_the_invitation_say_how_long_it_takes(
    app: Flask,
    session: Session,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
) -> None:
    oc = make_open_cycle(scope="start")
    open_form(client, oc.links[0])
    words = _words(_page(client.get("/survey")))
    assert "It takes about 35 minutes, or about 1 hour 5 minutes with a rationale" in words
    assert "estimated from the 14 elements and 42 questions in this review" in words
    with app.app_context():
        renderer = InvitationRenderer(session, oc.cycle)
        invitation = renderer.invitation(oc.invitations[0])
        reminder = renderer.reminder(oc.invitations[0])
    for text in (invitation.text, reminder.text):
        assert "Takes: about 35 minutes, or about 1 hour 5 minutes" in text
    for body in (invitation.html, reminder.html):
        assert "<strong>Takes:</strong> about 35 minutes" in body


def test_a_page_posted_with_an_expired_token_comes_back_with_what_was_typed(
    app: Flask,
    make_open_cycle: Callable[..., OpenCycle],
    client: FlaskClient,
    draft_of: Callable[..., SealedAnswers | None],
) -> None:
    oc = make_open_cycle(scope="1A,2B")
    open_form(client, oc.links[0])
    expired = _expired_csrf(app, client)
    response = _save_page(client, 2, expired, {"rating-2B": "red", "rationale-2B": "Typed late"})
    assert response.status_code == 400
    page = _page(response)
    assert "have not been saved or submitted yet" in page
    assert "Heading 2 of 2" in page and 'action="/survey/page/2"' in page
    assert 'id="rating-2B-red" value="red" checked' in page
    assert "Typed late</textarea>" in page
    assert draft_of(oc.invitations[0]) is None
    # The fresh token on that page works, and saves.
    again = _save_page(client, 2, csrf_token(page), {"rating-2B": "red"})
    assert (again.status_code, again.headers["Location"]) == (303, "/survey/review")
    draft = draft_of(oc.invitations[0])
    assert draft is not None and dict(draft.ratings) == {"2B": "red"}
