"""Benchmark 4: dispatching mail to a local aiosmtpd with the rate limit off.

An open cycle's invitation emails are enqueued in the outbox (rendered, as the scheduler does
when a cycle opens; not timed). Then:
- `dispatch()` sends them all: claim a batch, per message mint the personal link and commit,
  build the MIME message, hand it to the server over one SMTP connection, record it and commit;
- the floor: raw `smtplib` over one connection sending the same messages (the same rows built
  into the same MIME messages beforehand, each with a link of the same length).
The ratio is dispatch's messages/s over the floor's.
"""

from __future__ import annotations

import secrets
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    BASE_URL,
    BENCH_DIR,
    BENCH_SECRET,
    free_port,
    make_app,
    prepare_database,
    scratch_database,
)
from itsdangerous import URLSafeTimedSerializer
from setup_data import create_cycle_with_people
from sqlalchemy import func, select

from survey.db import db
from survey.mail.dispatch import dispatch
from survey.mail.messages import build_email, fill_link
from survey.models import MessageKind, OutboxMessage, OutboxStatus
from survey.services.links import LINK_SALT


class Sink:
    """The SMTP sink process; `count()` asks it how many messages it has received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "smtp_sink.py"), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")

    def count(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def mail_benchmark(messages: int) -> dict[str, Any]:
    sink = Sink()
    try:
        with scratch_database("mail") as url:
            instance = Path(tempfile.mkdtemp(prefix="mat-review-bench-"))
            prepare_database(url, instance)
            app = make_app(
                url, instance, MAIL_URL=f"smtp://127.0.0.1:{sink.port}", MAIL_RATE_PER_MINUTE=0
            )
            with app.app_context():
                session = db.session
                create_cycle_with_people(
                    session, messages, title="Bench mail", enqueue_invitations=True
                )
                session.commit()
                pending = session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == OutboxStatus.PENDING)
                )
                assert pending == messages, pending
                session.commit()  # dispatch sends in sessions of its own

                started = time.perf_counter()
                result = dispatch(session)
                dispatch_seconds = time.perf_counter() - started
                delivered = sink.count()

                floor_messages = _same_messages(session, str(app.config["MAIL_FROM"]))
                db.engine.dispose()

            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
                smtp.ehlo()
                for message, recipient in floor_messages:
                    smtp.send_message(message, to_addrs=[recipient])
            floor_seconds = time.perf_counter() - started
            floor_delivered = sink.count() - delivered
    finally:
        sink.stop()
    rate = result.sent / dispatch_seconds
    floor_rate = len(floor_messages) / floor_seconds
    return {
        "measured": (
            "dispatch() sending every due invitation email over one SMTP connection to a local "
            "aiosmtpd (its own process), MAIL_RATE_PER_MINUTE=0"
        ),
        "messages": messages,
        "sent": result.sent,
        "delivered": delivered,
        "seconds": dispatch_seconds,
        "messages_per_second": rate,
        "floor": {
            "measured": "raw smtplib, one connection, the same messages built beforehand",
            "messages": len(floor_messages),
            "delivered": floor_delivered,
            "seconds": floor_seconds,
            "messages_per_second": floor_rate,
        },
        "ratio_to_floor": rate / floor_rate,
    }


def _same_messages(session: Any, sender: str) -> list[tuple[Any, str]]:
    """The dispatched rows built into MIME messages again, each with a fresh link of the same
    shape as a real one (a signed random nonce), ready to send."""
    serializer = URLSafeTimedSerializer(BENCH_SECRET, salt=LINK_SALT)
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == MessageKind.INVITATION)
        .order_by(OutboxMessage.id)
    ).all()
    built = []
    for row in rows:
        link = f"{BASE_URL}/s/{serializer.dumps(secrets.token_urlsafe(16))}"
        text, html_body = fill_link(row.body_text, row.body_html, link)
        message = build_email(
            sender=sender,
            recipient=str(row.recipient),
            subject=row.subject,
            text=text,
            html_body=html_body,
            message_id=row.message_id,
        )
        built.append((message, str(row.recipient)))
    return built
