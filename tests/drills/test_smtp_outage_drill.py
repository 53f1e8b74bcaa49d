"""Drill: the mail server is down when a cycle opens and `mat-review jobs run` starts sending
the invitations, and comes up a few seconds later. Every invitation arrives, none twice (one
Message-ID each, the one its outbox row was given), and nobody is marked failed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from survey.models import Cycle, Invitation
from survey.timeutil import utcnow

from .helpers import Inbox, Process, start_scheduler, wait_for_runs, wait_until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["postgresql"])
def test_smtp_down_then_up_delivers_every_invitation_exactly_once(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    inbox: Inbox,
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle(scope="1A", opens_at=utcnow() + timedelta(seconds=1))
    invitations = add_people(cycle, {"headteacher": 30, "middle-leader": 30})
    # Launched: the scheduler opens it and enqueues the invitations (the "invitation run").
    cycle.launch(invitation_count=len(invitations))
    session.commit()

    env = {**server_env, "MAT_REVIEW_MAIL_RETRY_SECONDS": "1", "MAT_REVIEW_MAIL_MAX_ATTEMPTS": "30"}
    scheduler = start_scheduler(spawn, env)

    def refused_three_times() -> bool:
        # Each dispatcher run tries one message, finds the server down and leaves the rest.
        rows = query(
            "SELECT count(*) FROM outbox WHERE kind = 'invitation' AND attempts >= 1 "
            "AND last_error IS NOT NULL AND status = 'pending'"
        )
        return rows[0][0] >= 3

    wait_until(refused_three_times, 60, "three dispatcher runs to find the server down")
    assert not inbox.snapshot()
    assert query("SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0] == 0

    inbox.start()

    def all_sent() -> bool:
        rows = query("SELECT count(*) FROM outbox WHERE kind = 'invitation' AND status = 'sent'")
        return rows[0][0] == len(invitations)

    wait_until(all_sent, 90, "every invitation to be sent")
    # Two more dispatcher runs, at least one begun after the last send: nothing is sent again.
    wait_for_runs(scheduler.log, ("dispatch-outbox",))

    received = inbox.snapshot()
    ids = [str(message["Message-ID"]) for message in received]
    recipients = Counter(str(message["To"]) for message in received)
    assert len(received) == len(invitations)
    assert len(set(ids)) == len(ids)
    assert set(ids) == {row[0] for row in query("SELECT message_id FROM outbox")}
    assert recipients == Counter(str(invitation.email) for invitation in invitations)
    statuses = query("SELECT delivery_status, count(*) FROM invitations GROUP BY 1")
    assert dict(statuses) == {"sent": len(invitations)}
    assert scheduler.process.poll() is None
    assert "Traceback" not in scheduler.log(), scheduler.log()[-3000:]
