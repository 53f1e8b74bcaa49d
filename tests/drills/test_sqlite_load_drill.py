"""Drill: the embedded default (SQLite, `mat-review serve` and `mat-review jobs run`, two
processes on one database file) takes 50 simultaneous submits while the scheduler compiles
reports. The compile job reads in one short transaction and renders (PDF, PNG) holding no
lock, so submits do not wait for it: the 95th percentile of a submit stays under 0.5 s. Every
submit is stored exactly once."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

import framework as fw
from survey.mail.outbox import enqueue_invitations
from survey.models import Cycle, CycleState, Invitation, OutboxMessage, OutboxStatus, Trust
from survey.timeutil import utcnow
from tests.reports.factories import insert_responses, set_state
from tests.scheduler_locks import scheduler_lock_holders

from .helpers import (
    BIN,
    Browser,
    Process,
    answers_for,
    free_port,
    mint_links,
    open_cycle_now,
    wait_until,
)

# A latency drill: it runs alone, after the parallel suite, so another test does not share the
# machine's two cores with it (see the Makefile's `test`).
pytestmark = [pytest.mark.slow, pytest.mark.solo]
CODES = [e.code for e in fw.load_builtin("mat-assurance").elements_in_scope(fw.parse_scope("all"))]
KEYS = ["red", "amber-red", "amber-green", "green", "dont-know"]
SUBMITS = 50
CLOSED_CYCLES = 3
RESPONSES_PER_CLOSED_CYCLE = 60
P95_LIMIT_SECONDS = 0.5


def closed_cycle_with_responses(
    session: Session, make_cycle: Callable[..., Cycle], trust: Trust, n: int
) -> Cycle:
    """A closed, sealed 60-person cycle with every element rated and commented on."""
    cycle = make_cycle(trust, title=f"Closed review {n}", scope="all")
    chance = random.Random(n)
    for key in ("executive", "headteacher", "middle-leader"):
        count = RESPONSES_PER_CLOSED_CYCLE // 3
        answers = {code: [chance.choice(KEYS) for _ in range(count)] for code in CODES}
        comments = {
            code: {i: f"Evidence {i} for {code} in cycle {n}." for i in range(count)}
            for code in CODES
        }
        insert_responses(session, cycle, key, answers, comments)
    set_state(cycle, CycleState.CLOSED)
    session.commit()
    return cycle


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_50_submits_while_reports_compile_stay_quick_on_the_embedded_default(
    app: Flask,
    session: Session,
    make_trust: Callable[..., Trust],
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
    tmp_path: Path,
) -> None:
    trust = make_trust()
    for n in range(CLOSED_CYCLES):
        closed_cycle_with_responses(session, make_cycle, trust, n)
    cycle = make_cycle(trust, title="Open review", scope="all")
    invitations = add_people(cycle, {"headteacher": SUBMITS})
    open_cycle_now(session, cycle, len(invitations))
    links = mint_links(app, session, invitations)
    # As in life, the invitations went out when the cycle opened, days before anyone answers:
    # the scheduler is not also sending fifty invitation emails at the moment of the submits.
    with app.app_context():
        enqueue_invitations(session, cycle)
    session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT, sent_at=utcnow()))
    session.commit()
    session.close()

    env = {
        "PATH": str(BIN) + ":/usr/bin:/bin",
        "MAT_REVIEW_DATABASE_URL": app.config["DATABASE_URL"],
        "MAT_REVIEW_SECRET_KEY": app.config["SECRET_KEY"],
        "MAT_REVIEW_BASE_URL": app.config["BASE_URL"],
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "server-instance"),
        "MAT_REVIEW_MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "MAT_REVIEW_MAIL_RATE_PER_MINUTE": "0",
    }
    port = free_port()
    spawn("serve", str(BIN / "mat-review"), "serve", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return Browser(base).get("/healthz").status == 200
        except OSError:
            return False

    wait_until(healthy, 60, "the embedded server to answer")
    browsers = [Browser(base) for _ in links]
    forms = [answers_for(CODES, b.open_form(link)) for b, link in zip(browsers, links, strict=True)]

    def reports() -> int:
        return int(query("SELECT count(*) FROM reports")[0][0])

    def scheduling() -> bool:
        return bool(scheduler_lock_holders(app.config["DATABASE_URL"]))

    spawn("scheduler", str(BIN / "mat-review"), "jobs", "run", env=env)
    # The scheduler holds its lock: its jobs, the report compilation among them, have started.
    wait_until(scheduling, 60, "the scheduler to start its jobs", step=0.01)

    start = threading.Barrier(SUBMITS)

    def submit(i: int) -> tuple[int, float]:
        start.wait()
        began = time.perf_counter()
        answer = browsers[i].post("/survey", forms[i])
        return answer.status, time.perf_counter() - began

    with ThreadPoolExecutor(SUBMITS) as pool:
        results = list(pool.map(submit, range(SUBMITS)))
    reports_when_done = reports()

    timings = [seconds for _, seconds in results]
    print(
        f"\n{SUBMITS} submits while compiling: p50 {sorted(timings)[SUBMITS // 2]:.3f} s, "
        f"p95 {p95(timings):.3f} s, max {max(timings):.3f} s "
        f"(reports stored when they were done: {reports_when_done} of {CLOSED_CYCLES})"
    )
    assert [status for status, _ in results] == [303] * SUBMITS
    assert p95(timings) < P95_LIMIT_SECONDS
    # The submits ran while the job was still compiling (it had reports still to store).
    assert reports_when_done < CLOSED_CYCLES
    stored = query("SELECT count(*) FROM ballots WHERE cycle_id = :c", c=cycle.id)[0][0]
    completed = query(
        "SELECT count(*) FROM invitations WHERE cycle_id = :c AND is_completed", c=cycle.id
    )[0][0]
    assert stored == completed == SUBMITS
    wait_until(lambda: reports() == CLOSED_CYCLES, 120, "every report to be stored")
