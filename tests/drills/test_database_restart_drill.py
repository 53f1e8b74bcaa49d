"""Drill: PostgreSQL is restarted (stopped for 3 s, then started) while respondents submit
through gunicorn. Every submit is either stored (303) or answered 503 with Retry-After and the
form again carrying everything that person typed; nobody sees a bare 500. Once the database
is back, each person shown a 503 presses Submit again on that page, and every answer is stored
exactly once: as many sealed ballots as invitations marked completed, one per respondent.

The cluster is the drill's own, on a spare port (tests/drills/pg_cluster.py)."""

from __future__ import annotations

import html
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from survey.models import Cycle, Invitation
from tests.conftest import create_schema

from .helpers import CSRF_FIELD, Answer, Browser, Process, mint_links, open_cycle_now
from .helpers import start_gunicorn as start_web
from .pg_cluster import OwnPostgres

pytestmark = pytest.mark.slow
CODES = ["1A", "2B", "6A"]
RESPONDENTS = 40
OUTAGE_SECONDS = 3.0


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    cluster = OwnPostgres()
    try:
        cluster.start()
        cluster.create_database()
        create_schema(cluster.url)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def database_url(backend: str, own_postgres: OwnPostgres) -> str:
    """Every fixture of the drill (the app, the servers' environment, `query`) uses it."""
    assert backend == "postgresql"
    return own_postgres.url


def typed_by(person: int, token: str) -> list[tuple[str, str]]:
    fields = [("csrf_token", token)]
    for n, code in enumerate(CODES):
        rating = ("red", "amber-green", "dont-know")[(person + n) % 3]
        fields += [
            (f"rating-{code}", rating),
            (f"rationale-{code}", f"Person {person} on {code}: evidence & <detail> {n}."),
        ]
    return [*fields, ("action", "submit")]


def assert_carries_what_was_typed(answer: Answer, typed: list[tuple[str, str]]) -> None:
    assert answer.status == 503, (answer.status, answer.body[:300])
    page = html.unescape(answer.body)
    assert "Not saved yet: press Submit again in a moment." in page
    for name, value in typed:
        if name.startswith("rationale-"):
            assert f"{value}</textarea>" in page, name
        elif name.startswith("rating-"):
            code = name.removeprefix("rating-")
            as_radio = f'id="rating-{code}-{value}" value="{value}" checked'
            as_field = f'name="rating-{code}" value="{value}"'
            assert as_radio in page or as_field in page, name


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_database_restart_mid_submit_loses_nothing_and_stores_nothing_twice(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
    own_postgres: OwnPostgres,
) -> None:
    cycle = make_cycle(scope=",".join(CODES))
    invitations = add_people(cycle, {"headteacher": RESPONDENTS})
    open_cycle_now(session, cycle, len(invitations))
    links = mint_links(app, session, invitations)
    session.close()
    web, base = start_web(spawn, server_env)
    browsers = [Browser(base) for _ in links]
    typed = [
        typed_by(i, b.open_form(link))
        for i, (b, link) in enumerate(zip(browsers, links, strict=True))
    ]

    answers: dict[int, Answer] = {}
    restarted = threading.Event()

    def submit(person: int) -> None:
        answers[person] = browsers[person].post("/survey", typed[person])

    def restart() -> None:
        own_postgres.stop()
        time.sleep(OUTAGE_SECONDS)  # the outage itself
        own_postgres.start()
        restarted.set()

    # Submits arrive steadily, about 7 a second; the restart begins after a quarter of them.
    restarter = threading.Thread(target=restart)
    with ThreadPoolExecutor(max_workers=12) as pool:
        for person in range(RESPONDENTS):
            if person == RESPONDENTS // 4:
                restarter.start()
            pool.submit(submit, person)
            time.sleep(0.15)
    restarter.join()
    assert restarted.is_set()

    statuses = Counter(answer.status for answer in answers.values())
    print(f"\nsubmits during a {OUTAGE_SECONDS:.0f} s restart: {dict(statuses)}")
    assert len(answers) == RESPONDENTS
    assert set(statuses) <= {303, 503}, {p: a.body[:200] for p, a in answers.items()}
    assert statuses[503] > 0, "the restart met no submit: the drill proved nothing"
    for person, answer in answers.items():
        if answer.status == 303:
            assert answer.location.endswith("/survey/done")
        else:
            assert_carries_what_was_typed(answer, typed[person])

    # The database is back: the same page's button, once more, for everyone who saw a 503.
    for person, answer in answers.items():
        if answer.status == 503:
            found = CSRF_FIELD.search(answer.body)
            assert found, "the 503 page has no form to send again"
            fresh = [(n, found.group(1) if n == "csrf_token" else v) for n, v in typed[person]]
            again = browsers[person].post("/survey", fresh)
            stored_before = "already submitted" in again.body.lower()
            assert again.status == 303 or (again.status == 200 and stored_before), again.body[:300]

    ballots = query("SELECT count(*) FROM ballots WHERE cycle_id = :c", c=cycle.id)[0][0]
    completed = query(
        "SELECT count(*) FROM invitations WHERE cycle_id = :c AND is_completed", c=cycle.id
    )[0][0]
    assert ballots == completed == RESPONDENTS
    assert "Traceback" not in re.sub(r"\s+", " ", web.log())
