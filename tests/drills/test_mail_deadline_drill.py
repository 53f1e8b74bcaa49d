"""Drill: a mail server that answers one message a byte every half second, for ever, which no
per-read timeout (`MAIL_TIMEOUT`) ever trips. `mat-review jobs run` gives up on that message at
its deadline and the rest of the mail still goes out; SIGTERM in the middle of such a send ends
the scheduler within seconds; the message cut off is sent once more later, with its same
Message-ID. Real processes and a hand-written trickling SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import TricklingServer
from sqlalchemy import update
from sqlalchemy.orm import Session

from survey.models import Cycle, OutboxMessage
from survey.services.cycles import launch_cycle
from survey.timeutil import utcnow

from .helpers import Process, start_scheduler, wait_until

pytestmark = pytest.mark.slow
SLOW = "headteacher2@school.example"


@pytest.fixture
def trickler() -> Iterator[TricklingServer]:
    server = TricklingServer(trickle_seconds=0.5).start()
    yield server
    server.stop()


def terminate(scheduler: Process) -> float:
    """SIGTERM; returns how long the process took to exit (it must exit cleanly)."""
    started = time.monotonic()
    scheduler.process.send_signal(signal.SIGTERM)
    assert scheduler.process.wait(15) == 0, scheduler.log()[-3000:]
    return time.monotonic() - started


def test_a_trickling_server_holds_neither_the_other_mail_nor_the_scheduler(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., Any],
    trickler: TricklingServer,
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    cycle = make_cycle(opens_at=utcnow() - timedelta(days=1))
    add_people(cycle, {"headteacher": 5})
    with app.app_context():
        launch_cycle(session, cycle, "test", now=utcnow())  # opens it: 5 invitations queued
        session.commit()
    (slow_id,) = query("SELECT message_id FROM outbox WHERE recipient = :r", r=SLOW)[0]
    trickler.tarpit.add(SLOW)
    env = {
        **server_env,
        "MAT_REVIEW_MAIL_URL": trickler.url,
        "MAT_REVIEW_MAIL_TIMEOUT": "5",  # each read: far longer than the half-second trickle
        "MAT_REVIEW_MAIL_MESSAGE_SECONDS": "2",
        "MAT_REVIEW_MAIL_RETRY_SECONDS": "3600",  # no retry by itself during the drill
    }

    # 1. The slow message is given up at its deadline; the other four go out.
    first = start_scheduler(spawn, env)
    wait_until(lambda: len(trickler.received) == 4, 30, "the other four invitations")
    slow_row = "SELECT status, attempts, last_error, claim_token FROM outbox WHERE recipient = :r"
    wait_until(lambda: query(slow_row, r=SLOW)[0][1] == 1, 30, "the slow message's attempt")
    status, attempts, error, claim = query(slow_row, r=SLOW)[0]
    assert (status, attempts, claim) == ("pending", 1, None)
    assert "too slowly" in error
    wait_until(lambda: len(trickler.trickles) == 1, 5, "the server to see the client hang up")
    ((trickle_started, trickle_ended),) = trickler.trickles
    # Cut off at 2 s (the server notices within one more trickled byte), not hours later.
    assert trickle_ended - trickle_started < 2 + 1.5
    assert terminate(first) < 10
    assert slow_id not in trickler.received

    # 2. SIGTERM while the slow message is being sent (deadline a minute away): the scheduler
    # ends within seconds and the message is put back untouched.
    second = start_scheduler(spawn, {**env, "MAT_REVIEW_MAIL_MESSAGE_SECONDS": "60"})
    due_now = update(OutboxMessage).values(next_attempt_at=utcnow())
    session.execute(due_now.where(OutboxMessage.recipient == SLOW))
    session.commit()
    wait_until(lambda: trickler.trickling == 1, 30, "the slow message to be under way")
    took = terminate(second)
    with capsys.disabled():
        print(f"\n[trickling SMTP, {backend}] SIGTERM mid-send: exited in {took:.2f} s")
    assert took < 10, f"SIGTERM took {took:.1f} s"
    assert "put back unsent" in second.log() and "scheduler stopped" in second.log()
    assert query(slow_row, r=SLOW)[0][:2] == ("pending", 1)  # no attempt counted

    # 3. The server is well again: the message goes out once more, with its same Message-ID.
    trickler.tarpit.clear()
    third = start_scheduler(spawn, env)
    wait_until(lambda: slow_id in trickler.received, 30, "the slow message to be delivered")
    time.sleep(1.5)  # a few more ticks: nothing is sent twice
    assert terminate(third) < 10
    assert trickler.attempted.count(slow_id) == 3  # cut off, cut off, delivered
    every_message = [row[0] for row in query("SELECT message_id FROM outbox")]
    assert sorted(trickler.received) == sorted(every_message)  # each once
    for scheduler in (first, second, third):
        assert "Traceback" not in scheduler.log(), scheduler.log()[-3000:]
