"""Drill: `mat-review jobs run` is killed with SIGKILL in the middle of compiling a closed cycle's
report (its transaction open, the cycle row locked, the PDF being drawn). Nothing of that run
survives; a new scheduler compiles the report once and each recipient gets one report email,
with the same files attached."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from survey.models import Cycle, Invitation
from survey.services import responses
from survey.services.cycles import close_cycle
from survey.services.frameworks import get_cycle_framework, get_cycle_scope

from .helpers import Inbox, Process, open_cycle_now, start_scheduler, wait_for_runs, wait_until

pytestmark = pytest.mark.slow
RECIPIENTS = ["ceo@oak.example", "chair@oak.example", "cfo@oak.example"]


def _answer_all(session: Session, cycle: Cycle, invitations: list[Invitation]) -> None:
    """Store a response for every invitation through the respondent's own service."""
    framework = get_cycle_framework(session, cycle)
    scope = get_cycle_scope(cycle)
    keys = framework.scale.keys
    for n, invitation in enumerate(invitations):
        fields = []
        for i, element in enumerate(framework.elements_in_scope(scope)):
            fields.append((f"rating-{element.code}", keys[(n + i) % len(keys)]))
            fields.append((f"rationale-{element.code}", f"Person {n} on {element.code}: evidence."))
        answers = responses.parse_answers(fields, framework, scope)
        assert not answers.problems
        outcome = responses.record_response(session, invitation, answers, framework)
        assert outcome == responses.Outcome.RECORDED
        session.commit()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_scheduler_killed_mid_compile_then_restarted_reports_once(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    inbox: Inbox,
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle(scope="all", report_to=RECIPIENTS)
    invitations = add_people(cycle, {"executive": 5, "headteacher": 6, "middle-leader": 6})
    open_cycle_now(session, cycle, len(invitations))
    # Submitting seals each answer with the app's secret key, and closing opens the ballots:
    # both run in the app's context, as the respondent's request and the scheduler do.
    with app.app_context():
        _answer_all(session, cycle, invitations)
        close_cycle(session, cycle, "test")
        session.commit()
    inbox.start()

    first = start_scheduler(spawn, server_env)

    def compiling() -> bool:
        # The compile job's transaction: open, holding the cycle's row lock (so it has a
        # transaction id), while Python works between queries. No other job of this drill
        # keeps a transaction id: there is nothing else due.
        return bool(
            query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = :name "
                "AND state = 'idle in transaction' AND backend_xid IS NOT NULL",
                name="mat-review-drill-scheduler",
            )
        )

    wait_until(compiling, 60, "the scheduler to start compiling", step=0.01)
    first.kill()

    # Nothing of the killed run is left: no report, no report email queued or sent. (Once its
    # connections are gone, PostgreSQL has rolled its transaction back.)
    wait_until(
        lambda: (
            not query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = :name",
                name="mat-review-drill-scheduler",
            )
        ),
        30,
        "the killed scheduler's connections to end",
    )
    assert query("SELECT count(*) FROM reports")[0][0] == 0
    assert query("SELECT count(*) FROM outbox WHERE kind = 'report'")[0][0] == 0
    assert query("SELECT state FROM cycles WHERE id = :c", c=cycle.id)[0][0] == "closed"
    assert not inbox.snapshot()
    assert "compiled and reported (" not in first.log()

    second = start_scheduler(spawn, server_env)
    wait_until(lambda: len(inbox.snapshot()) >= len(RECIPIENTS), 120, "the report emails")
    # Two more runs of the compiler and the dispatcher, at least one begun after the last report
    # email arrived: nothing is compiled or sent again.
    wait_for_runs(second.log, ("compile-closed-cycles", "dispatch-outbox"))

    assert query("SELECT count(*) FROM reports WHERE cycle_id = :c", c=cycle.id)[0][0] == 1
    assert query("SELECT state FROM cycles WHERE id = :c", c=cycle.id)[0][0] == "reported"
    outbox = query("SELECT recipient, status FROM outbox WHERE kind = 'report'")
    assert sorted(outbox) == sorted((r, "sent") for r in RECIPIENTS)
    received = inbox.snapshot()
    assert Counter(str(m["To"]) for m in received) == Counter(RECIPIENTS)
    assert len({str(m["Message-ID"]) for m in received}) == len(RECIPIENTS)
    for message in received:
        names = sorted(str(part.get_filename()) for part in message.iter_attachments())
        assert names == ["report.pdf", "results.xlsx"]
    assert "Traceback" not in second.log(), second.log()[-3000:]
