"""Fixtures for the respondent's path: an open cycle with people, their links, form helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from survey.db import db, make_engine, read_only
from survey.models import Cycle, Invitation
from survey.services import ballots
from survey.services.ballots import SealedAnswers
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.services.links import mint_link
from survey.timeutil import utcnow

from .helpers import csrf_token


@dataclass
class OpenCycle:
    cycle: Cycle
    invitations: list[Invitation]
    links: list[str]  # paths, "/s/<token>"


def open_now(session: Session, cycle: Cycle, invitation_count: int) -> None:
    """Launch and open through the model's own transitions (invitation emails are the mail
    area's business and are not needed to answer)."""
    cycle.launch(invitation_count=invitation_count, now=utcnow())
    cycle.open(utcnow())
    session.commit()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A database session of the test's own, outside any app context.

    The shared `session` fixture keeps an app context pushed for the whole test, and Flask then
    reuses it for every test-client request: `g` (with Flask-WTF's cached CSRF token) and the
    request's database session would be shared between "different browsers". Here each request
    gets its own app context, as in production. Commit after every use: on SQLite an open
    transaction holds the write lock.
    """
    engine = make_engine(app.config["DATABASE_URL"])
    with Session(engine, expire_on_commit=False) as own:
        yield own
    engine.dispose()


@pytest.fixture
def make_open_cycle(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> Callable[..., OpenCycle]:
    """make_open_cycle(counts={"headteacher": 3}, **cycle fields) -> an open cycle with links."""

    def make(counts: dict[str, int] | None = None, **fields: Any) -> OpenCycle:
        fields.setdefault("scope", "1A,2B")
        cycle = make_cycle(**fields)
        invitations = add_people(cycle, counts or {"headteacher": 3})
        open_now(session, cycle, len(invitations))
        base = app.config["BASE_URL"]
        with app.app_context():
            links = [mint_link(session, invitation)[len(base) :] for invitation in invitations]
        session.commit()
        return OpenCycle(cycle, invitations, links)

    return make


@pytest.fixture
def post_answers(client: FlaskClient) -> Callable[..., Any]:
    """post_answers(data, action="submit", token=None) -> the response to POST /survey."""

    def post(data: dict[str, str], action: str = "submit", token: str | None = None) -> Any:
        if token is None:
            token = csrf_token(client.get("/survey").get_data(as_text=True))
        return client.post("/survey", data={**data, "action": action, "csrf_token": token})

    return post


@pytest.fixture
def query(database_url: str) -> Iterator[Callable[..., Any]]:
    """query(sql, **params) -> all rows, on a plain connection of its own that holds no lock
    between calls (the app's SQLite engine takes the write lock at BEGIN)."""
    # The app's own engine factory (on SQLite, the same bundled library as the app), reading
    # without the write lock.
    engine = make_engine(database_url)

    def run(sql: str, **params: Any) -> list[Any]:
        with read_only(), engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    yield run
    engine.dispose()


@pytest.fixture
def ballot_box(app: Flask, query: Callable[..., Any]) -> Callable[[int], list[SealedAnswers]]:
    """ballot_box(cycle_id) -> the cycle's sealed ballots, opened with the app's secret key (as
    only sealing at close does): what a submit stored."""

    def opened(cycle_id: int) -> list[SealedAnswers]:
        boxes = [r[0] for r in query("SELECT sealed FROM ballots WHERE cycle_id = :c", c=cycle_id)]
        with app.app_context():
            cycle = db.session.get(Cycle, cycle_id)
            assert cycle is not None
            framework, scope = get_cycle_framework(db.session, cycle), get_cycle_scope(cycle)
            ring = ballots.keyring()
            return [
                ballots.unseal(ring, ballots.BALLOT, cycle_id, bytes(box), framework, scope)
                for box in boxes
            ]

    return opened


@pytest.fixture
def draft_of(app: Flask, query: Callable[..., Any]) -> Callable[[Invitation], SealedAnswers | None]:
    """draft_of(invitation) -> its sealed draft, opened with the app's secret key, or None."""

    def opened(invitation: Invitation) -> SealedAnswers | None:
        rows = query("SELECT sealed FROM drafts WHERE invitation_id = :i", i=invitation.id)
        if not rows:
            return None
        with app.app_context():
            cycle = db.session.get(Cycle, invitation.cycle_id)
            assert cycle is not None
            return ballots.unseal(
                ballots.keyring(),
                ballots.DRAFT,
                cycle.id,
                bytes(rows[0][0]),
                get_cycle_framework(db.session, cycle),
                get_cycle_scope(cycle),
                bound=str(invitation.id),
            )

    return opened
