"""Drill: 200 respondents submit at the same moment through gunicorn (two workers) on PostgreSQL
while `mat-review jobs run` is sending reminders to the same people. Every 303 is a stored
response with all its ratings, no answer is lost, nothing answers 5xx, and no reminder is sent
twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from survey.models import Cycle, DeliveryStatus, Invitation
from survey.timeutil import utcnow
from tests.ballot_box import opened_ballots

from .helpers import (
    DAY,
    Answer,
    Browser,
    Inbox,
    Process,
    answers_for,
    mint_links,
    open_cycle_now,
    start_gunicorn,
    start_scheduler,
    wait_until,
)

pytestmark = pytest.mark.slow
CODES = ["1A", "2B", "6A"]
PEOPLE = {"executive": 20, "headteacher": 80, "middle-leader": 100}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_200_concurrent_submits_while_the_scheduler_sends_reminders_lose_nothing(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    inbox: Inbox,
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
) -> None:
    now = utcnow()
    # Opened six days ago, invitations delivered five days ago, closing in three days: the
    # reminder "4 days before close" (yesterday 08:00 local) is due for everyone who has not
    # answered. Weekend reminders on, so the drill does not depend on the day it runs.
    cycle = make_cycle(
        scope=",".join(CODES),
        opens_at=now - 6 * DAY,
        closes_at=now + 3 * DAY,
        reminder_days="4,3",
        remind_at_weekends=True,
    )
    invitations = add_people(cycle, PEOPLE)
    open_cycle_now(session, cycle, len(invitations), opened_at=now - 6 * DAY)
    session.execute(
        update(Invitation)
        .where(Invitation.cycle_id == cycle.id)
        .values(delivery_status=DeliveryStatus.SENT, sent_at=now - 5 * DAY)
    )
    session.commit()
    links = mint_links(app, session, invitations)

    inbox.start()
    # Five reminders a second: the reminder run spans the whole burst of submissions.
    scheduler = start_scheduler(spawn, {**server_env, "MAT_REVIEW_MAIL_RATE_PER_MINUTE": "300"})
    web, base = start_gunicorn(spawn, server_env)
    wait_until(lambda: len(inbox.snapshot()) >= 5, 60, "the first reminders")

    ready = threading.Barrier(len(links))

    def respond(link: str) -> list[Answer]:
        browser = Browser(base)
        landing = browser.get(link)
        page = browser.get("/survey")
        token = page.body.split('name="csrf_token" value="', 1)[-1].split('"', 1)[0]
        ready.wait(timeout=120)  # everyone presses "Submit" at the same moment
        return [landing, page, browser.post("/survey", answers_for(CODES, token))]

    with ThreadPoolExecutor(max_workers=len(links)) as pool:
        results = list(pool.map(respond, links))

    statuses = [[answer.status for answer in steps] for steps in results]
    assert all(s < 500 for steps in statuses for s in steps), statuses
    assert all(steps[:2] == [303, 200] for steps in statuses), statuses
    submitted = [steps[2] for steps in results]
    assert all(a.status == 303 and a.location.endswith("/survey/done") for a in submitted), [
        (a.status, a.location) for a in submitted if a.status != 303
    ]

    # Every 303 is a stored ballot with all its ratings; nothing more, nothing less.
    stored = opened_ballots(app.config["DATABASE_URL"], cycle.id, app.config["SECRET_KEY"])
    completed = query(
        "SELECT count(*) FROM invitations WHERE cycle_id = :c AND is_completed", c=cycle.id
    )[0][0]
    assert len(stored) == completed == len(links)
    assert sorted({len(ballot.ratings) for ballot in stored}) == [len(CODES)]
    keys = dict(query("SELECT id, key FROM groups WHERE cycle_id = :c", c=cycle.id))
    groups = Counter(keys[ballot.group_id] for ballot in stored)
    assert dict(groups) == PEOPLE
    assert query("SELECT count(*) FROM responses WHERE cycle_id = :c", c=cycle.id)[0][0] == 0

    # The reminder run finishes: each reminder was sent or, for someone who had answered by
    # then, cancelled; none twice.
    def settled() -> bool:
        return not query(
            "SELECT 1 FROM outbox WHERE kind = 'reminder' AND status = 'pending' LIMIT 1"
        )

    wait_until(settled, 60, "the reminder run to finish")
    outcome = dict(query("SELECT status, count(*) FROM outbox WHERE kind = 'reminder' GROUP BY 1"))
    assert set(outcome) <= {"sent", "cancelled"}
    assert sum(outcome.values()) == len(links)
    received = inbox.snapshot()
    ids = [str(m["Message-ID"]) for m in received]
    assert len(ids) == len(set(ids)) == outcome.get("sent", 0) > 0
    assert outcome.get("cancelled", 0) > 0, "no reminder overlapped a submission"

    assert scheduler.process.poll() is None and web.process.poll() is None
    for process in (scheduler, web):
        assert "Traceback" not in process.log(), process.log()[-3000:]
