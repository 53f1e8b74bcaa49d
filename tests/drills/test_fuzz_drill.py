"""Drill: a fuzz pass (hypothesis) over what strangers can send us, on SQLite and PostgreSQL.

- the recipient CSV reader (`read_recipients`, through `import_recipients` as the CLI and the
  upload page use it): it answers with rows and problems or a one-line user error, never
  anything else, and saves the whole file or nothing;
- the token parser (`resolve_token`) and GET /s/<token>: nothing but the real link ever finds
  an invitation (a tampered token that still decodes to the same signed nonce finds the same
  one), and the page is a 404, never a 5xx;
- the survey POST handler with any fields, values and actions: no 5xx, no exception (the test
  app propagates them), and never a part of a response: every stored response has all its
  ratings, and an invitation is completed exactly when its response was stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from survey.db import db
from survey.errors import UserError
from survey.models import AuditEvent, Cycle, Invitation
from survey.services.links import resolve_token
from survey.services.recipients import RecipientErrors, import_recipients
from tests.ballot_box import opened_ballots

from .helpers import CSRF_FIELD, mint_links, open_cycle_now

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SCOPE = ["1A", "2B"]
GROUPS = ["executive", "headteacher", "middle-leader"]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Bad links are rate limited per address; the fuzz pass sends hundreds from one.
    return {**app_config, "RATELIMIT_ENABLED": False}


# -- the recipient CSV reader -------------------------------------------------------------------

tricky = st.one_of(
    st.text(alphabet=st.sampled_from(list(",;\"'\r\n\t\x00\ufeff =+-@ aZé")), max_size=12),
    st.sampled_from(["Ann\x00Smith", "\x00"]),  # PostgreSQL text cannot hold NUL
)
emails = st.one_of(
    st.sampled_from(
        ["head@oak.example", "HEAD@Oak.Example", "a.b+c@school.example", "x@", "@y.example",
         "no-at-sign", "a@b", "dup@oak.example", " spaced@oak.example ", "ünï@oak.example", ""]
    ),
    st.emails(),
    tricky,
)  # fmt: skip
groups = st.one_of(st.sampled_from([*GROUPS, "Headteacher", " executive ", "trustee", ""]), tricky)
names = st.one_of(st.text(max_size=20), tricky)


@st.composite
def csv_documents(draw: st.DrawFn) -> bytes | str:
    """Whole files: random bytes or text, or CSV-shaped documents with good and bad rows."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return draw(st.text(max_size=300))
    header = draw(
        st.one_of(
            st.permutations(["email", "name", "group", "school"]).map(list),
            st.permutations(["email", "name", "group"]).map(list),
            st.lists(st.sampled_from(["email", "Name", " GROUP", "school", "x", ""]), max_size=5),
        )
    )
    cell_for = {"email": emails, "name": names, "group": groups, "school": names}
    rows = [header]
    for _ in range(draw(st.integers(0, 6))):
        row = [draw(cell_for.get(c.strip().lower(), names)) for c in header]
        row += draw(st.lists(st.one_of(st.just(""), tricky), max_size=2))
        rows.append(row)
    delimiter = draw(st.sampled_from([",", ";"]))
    buffer = io.StringIO()
    if draw(st.booleans()):
        csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    else:  # written by hand, quotes and all, as people do
        buffer.write("\n".join(delimiter.join(row) for row in rows))
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["str", "utf-8", "utf-8-sig", "cp1252"]))
    if encoding == "str":
        return text
    return text.encode(encoding, errors="replace")


def _invitation_count(session: Session, cycle: Cycle) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.cycle_id == cycle.id)
        )
        or 0
    )


def test_fuzzed_recipient_files_are_saved_whole_or_not_at_all(
    session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    cycle = make_cycle()

    @FUZZ
    @given(document=csv_documents())
    @example(document="email,name,group\nhead@oak.example,Ann\x00Smith,headteacher\n")
    def check(document: bytes | str) -> None:
        try:
            saved = import_recipients(session, cycle, document, "fuzz")
        except RecipientErrors as exc:
            session.rollback()
            assert exc.problems and all(p.line >= 2 for p in exc.problems)
            assert _invitation_count(session, cycle) == 0
            return
        except UserError as exc:
            session.rollback()
            assert "\n" not in str(exc).strip()
            assert _invitation_count(session, cycle) == 0
            return
        session.commit()
        assert _invitation_count(session, cycle) == len(saved) > 0
        keys = {g.id: g.key for g in cycle.groups}
        assert all(i.email and "@" in i.email and keys[i.group_id] in GROUPS for i in saved)
        session.execute(delete(Invitation).where(Invitation.cycle_id == cycle.id))
        session.execute(delete(AuditEvent).where(AuditEvent.cycle_id == cycle.id))
        session.commit()

    check()


# -- the token parser and GET /s/<token> --------------------------------------------------------


@st.composite
def tampered(draw: st.DrawFn, token: str) -> str:
    """A real token, changed a little: a character replaced, dropped or added, or cut short."""
    how = draw(st.sampled_from(["replace", "drop", "insert", "truncate", "swap-parts"]))
    i = draw(st.integers(0, len(token) - 1))
    char = draw(st.sampled_from([*"AZaz09-_.=/%~", "\x00", "é"]))
    if how == "replace":
        return token[:i] + char + token[i + 1 :]
    if how == "drop":
        return token[:i] + token[i + 1 :]
    if how == "insert":
        return token[:i] + char + token[i:]
    if how == "truncate":
        return token[:i]
    parts = token.split(".")
    return ".".join(reversed(parts))


def test_fuzzed_tokens_find_no_one_else_and_never_fail(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    cycle = make_cycle(scope=",".join(SCOPE))
    invitations = add_people(cycle, {"headteacher": 2})
    open_cycle_now(session, cycle, len(invitations))
    owner = invitations[0].id
    link = mint_links(app, session, invitations[:1])[0]
    real = link.removeprefix("/s/")

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        token = data.draw(st.one_of(st.text(max_size=250), tampered(real), st.just(real)))
        with app.app_context():
            found = resolve_token(db.session, token)
            assert found.reason in ("ok", "invalid", "expired")
            assert (found.invitation is None) == (found.reason != "ok")
            assert found.invitation is None or found.invitation.id == owner
        response = app.test_client().get("/s/" + quote(token, safe=""))
        if found.invitation is not None:
            assert response.status_code == 303
        else:
            # 308: werkzeug merging the slashes of "/s//..." before any of our code runs.
            assert response.status_code in (404, 308), response.status_code
            assert "Traceback" not in response.get_data(as_text=True)

    check()


# -- the survey POST handler ---------------------------------------------------------------------

ANSWER_KEYS = ["red", "amber-red", "amber-green", "green", "dont-know"]
field_names = st.one_of(
    st.sampled_from(
        [*(f"rating-{c}" for c in SCOPE), *(f"rationale-{c}" for c in SCOPE), "rating-9Z",
         "rating-", "rationale-", "rating-1a", "rating-6B", "csrf_token", "action"]
    ),
    st.text(max_size=12).map(lambda t: "rating-" + t),
    st.text(max_size=12),
)  # fmt: skip
field_values = st.one_of(
    st.sampled_from(ANSWER_KEYS),
    st.text(max_size=60),
    # Characters a database may refuse (PostgreSQL text cannot hold NUL) or a page may mangle.
    st.sampled_from(["a\x00b", "\x00", "<script>alert(1)</script>", "=1+2", "\ufeff\u202e"]),
    st.just("x" * 2001),
    st.just("y" * 1999 + "\r\n"),
    st.just(""),
)


@st.composite
def submissions(draw: st.DrawFn) -> tuple[list[tuple[str, str]], str, bool]:
    """(fields, action, use the real CSRF token): often a complete, valid set of answers with
    noise added, so that submits that are stored are fuzzed as well as those refused."""
    fields: list[tuple[str, str]] = []
    shape = draw(st.sampled_from(["complete", "complete", "partial", "none"]))
    for code in SCOPE if shape == "complete" else SCOPE[:1] if shape == "partial" else []:
        fields.append((f"rating-{code}", draw(st.sampled_from(ANSWER_KEYS))))
        if draw(st.booleans()):
            fields.append((f"rationale-{code}", draw(field_values)))
    fields += draw(st.lists(st.tuples(field_names, field_values), max_size=5))
    fields = draw(st.permutations(fields))
    action = draw(st.sampled_from(["submit", "submit", "save", "", "SUBMIT", "decline"]))
    return fields, action, draw(st.sampled_from([True] * 9 + [False]))


def test_fuzzed_survey_posts_never_fail_or_save_part_of_a_response(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    query: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle(scope=",".join(SCOPE))
    invitations = add_people(cycle, {"headteacher": 30, "middle-leader": 30})
    open_cycle_now(session, cycle, len(invitations))
    links = mint_links(app, session, invitations)
    ids = [invitation.id for invitation in invitations]
    position = [0]

    @FUZZ
    @given(submission=submissions())
    @example(submission=([("rating-1A", "red"), ("rating-2B", "green"), ("rationale-1A", "a\x00b")],
                         "submit", True))  # fmt: skip
    @example(submission=([("rating-1A", "red"), ("rationale-2B", "\x00")], "save", True))
    def check(submission: tuple[list[tuple[str, str]], str, bool]) -> None:
        fields, action, real_token = submission
        client = app.test_client()
        link, invitation_id = links[position[0]], ids[position[0]]
        assert client.get(link).status_code == 303
        page = client.get("/survey")
        assert page.status_code == 200
        found = CSRF_FIELD.search(page.get_data(as_text=True))
        assert found
        token = found.group(1) if real_token else "not-the-token"
        form = MultiDict([*fields, ("csrf_token", token), ("action", action)])
        response = client.post("/survey", data=form)
        assert response.status_code in (200, 303, 400, 422), response.status_code

        stored = opened_ballots(app.config["DATABASE_URL"], cycle.id, app.config["SECRET_KEY"])
        assert all(len(ballot.ratings) == len(SCOPE) for ballot in stored), stored
        completed = query(
            "SELECT id FROM invitations WHERE cycle_id = :c AND is_completed", c=cycle.id
        )
        assert len(stored) == len(completed)
        submitted = response.status_code == 303 and response.location.endswith("/survey/done")
        assert ((invitation_id,) in completed) == submitted
        drafts = query("SELECT invitation_id FROM drafts")
        assert not set(drafts) & set(completed)
        if submitted:
            position[0] += 1

    check()
    assert position[0] > 0, "no fuzzed submission was stored"
