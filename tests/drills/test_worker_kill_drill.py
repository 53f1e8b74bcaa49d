"""Drill: the gunicorn worker that answered a submit is killed with SIGKILL at once, the moment
the 303 has gone out. The response is stored with all its ratings (the 303 is only sent after
the commit), the invitation counts as completed, and the next worker gunicorn starts answers
the same link with "already submitted"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

import framework as fw
from survey.models import Cycle, Invitation
from tests.ballot_box import opened_ballots

from .helpers import (
    Browser,
    Process,
    answers_for,
    children,
    mint_links,
    open_cycle_now,
    start_gunicorn,
    wait_until,
)

pytestmark = pytest.mark.slow
CODES = [e.code for e in fw.load_builtin("mat-assurance").elements_in_scope(fw.parse_scope("all"))]
KILL_HOOK = Path(__file__).with_name("gunicorn_kill_after_submit.py")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_worker_killed_right_after_answering_a_submit_keeps_the_response(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle(scope="all")
    invitations = add_people(cycle, {"headteacher": 4})
    open_cycle_now(session, cycle, len(invitations))
    links = mint_links(app, session, invitations)
    web, base = start_gunicorn(spawn, server_env, "--config", str(KILL_HOOK))

    for done, link in enumerate(links, start=1):
        workers = children(web.pid)
        browser = Browser(base)
        token = browser.open_form(link)
        answer = browser.post("/survey", answers_for(CODES, token, rating="amber-green"))
        assert answer.status == 303 and answer.location.endswith("/survey/done")

        # The worker that answered is gone (killed, not exited), and gunicorn replaced it.
        def one_gone(before: set[int] = workers) -> bool:
            return len(before - children(web.pid)) == 1

        wait_until(one_gone, 30, "the worker to die")
        wait_until(lambda: len(children(web.pid)) == 2, 30, "gunicorn to start a new worker")

        stored = opened_ballots(app.config["DATABASE_URL"], cycle.id, app.config["SECRET_KEY"])
        completed = query(
            "SELECT count(*) FROM invitations WHERE cycle_id = :c AND is_completed", c=cycle.id
        )[0][0]
        assert len(stored) == completed == done
        for ballot in stored:
            assert dict(ballot.ratings) == {c: "amber-green" for c in CODES}
            assert all(text.startswith("Evidence for") for text in ballot.rationales.values())

        again = Browser(base).get(link)
        assert again.status == 200 and "already" in again.body.lower()

    assert "Traceback" not in web.log(), web.log()[-3000:]
