"""The outbox and its dispatcher against a real SMTP server (aiosmtpd on loopback), on SQLite
and PostgreSQL: exactly-once delivery, temporary and permanent failures, links only in the sent
message, and content that says who is asking, why, until when, and the anonymity promise."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import SmtpSink, TricklingServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.schedule import run_once
from survey.config import update_settings
from survey.db import db
from survey.errors import UserError
from survey.mail.dispatch import dispatch
from survey.mail.messages import LINK_PLACEHOLDER, new_message_id
from survey.mail.outbox import enqueue_invitations, enqueue_resend, report_key, resend_report_email
from survey.models import (
    AuditEvent,
    Cycle,
    DeliveryStatus,
    Invitation,
    InvitationLink,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)
from survey.queries import cycle_status_dict
from survey.services.cycles import launch_cycle
from survey.services.links import resolve_token
from survey.timeutil import Clock, utcnow

LINK = re.compile(r"http://survey\.test/s/[A-Za-z0-9_.\-]+")


def open_cycle(
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
    counts: dict[str, int],
    **fields: Any,
) -> tuple[Cycle, list[Invitation]]:
    cycle = make_cycle(**fields)
    invitations = add_people(cycle, counts)
    launch_cycle(session, cycle, "test", now=fields.get("opens_at"))
    session.commit()
    return cycle, invitations


def run_jobs(app: Flask, session: Session, now: datetime | None = None) -> dict[str, str]:
    # The test's own session must not hold a transaction open (on SQLite it would hold the lock).
    session.commit()
    # A `now` the test chose is far from the database's clock: run as of it all the same.
    outcomes = run_once(app, now, force=now is not None)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    session.expire_all()
    return {o.job.id: o.summary for o in outcomes}


def rows(session: Session, kind: MessageKind | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        stmt = stmt.where(OutboxMessage.kind == kind)
    return list(session.scalars(stmt))


def test_launching_and_running_the_jobs_twice_delivers_each_invitation_exactly_once(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    cycle, invitations = open_cycle(
        session, make_cycle, add_people, {"headteacher": 4, "middle-leader": 3}
    )
    assert enqueue_invitations(session, cycle) == 0  # launch already enqueued them all

    first = run_jobs(app, session)
    second = run_jobs(app, session)

    assert first["dispatch-outbox"].startswith("sent 7,")
    assert second["dispatch-outbox"].startswith("sent 0,")
    received = smtp.snapshot()
    assert len(received) == 7
    assert len({r.message_id for r in received}) == 7
    assert sorted(r.recipients[0] for r in received) == sorted(i.email for i in invitations)
    assert {r.message_id for r in received} == {row.message_id for row in rows(session)}
    assert all(row.status == OutboxStatus.SENT and row.attempts == 1 for row in rows(session))
    for invitation in invitations:
        session.refresh(invitation)
        assert invitation.sent_at is not None
        assert invitation.delivery_status == DeliveryStatus.SENT
    totals = cycle_status_dict(session, cycle)["totals"]
    assert totals == {"invited": 7, "sent": 7, "completed": 0, "declined": 0, "failed": 0}


def test_an_invitation_says_who_asks_why_until_when_the_promise_and_carries_a_working_link(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink, clock: Clock
) -> None:
    # Time is set, not read: the cycle opens on 1 March 2027 and closes at 17:00 GMT on the 15th,
    # and the application's clock stands a minute after it opens (the link is checked then).
    opens, closes = datetime(2027, 3, 1, 9, tzinfo=UTC), datetime(2027, 3, 15, 17, tzinfo=UTC)
    clock.freeze(opens + timedelta(minutes=1))
    _cycle, (invitation,) = open_cycle(
        session,
        make_cycle,
        add_people,
        {"headteacher": 1},
        opens_at=opens,
        closes_at=closes,
        title="Spring review",
    )
    run_jobs(app, session)  # as of the frozen clock, which the clock check shifts alike

    (received,) = smtp.snapshot()
    message = received.message
    assert message["From"] == "Oak reviews <reviews@oak.example>"
    assert message["To"] == invitation.email
    assert message["Message-ID"] == rows(session)[0].message_id
    assert "Oak Learning Trust" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Oak Learning Trust" in body
        assert "Spring review" in body
        assert "Monday 15 March 2027, 17:00 (GMT)" in body
        assert "diagnostic, not a judgement" in body
        assert "MAT Assurance Framework" in body
        assert "stored without your name, email or link" in body
        assert "groups of at least 3 people" in body
        assert LINK_PLACEHOLDER not in body
    assert "headteacher 1" in text
    (link,) = set(LINK.findall(text))
    assert f'href="{link}"' in html
    assert 'style="' in html and "<style" not in html  # inline styles only

    token = link.rsplit("/", 1)[1]
    check = resolve_token(session, token)
    assert check.reason == "ok" and check.invitation is not None
    assert check.invitation.id == invitation.id
    # The database holds the message with a placeholder and a hash: never a working link.
    stored = rows(session)[0]
    assert LINK_PLACEHOLDER in stored.body_text and LINK_PLACEHOLDER in stored.body_html
    assert token not in stored.body_text and "/s/" not in stored.body_text
    assert session.scalar(select(func.count()).select_from(InvitationLink)) == 1
    assert token not in session.scalars(select(InvitationLink.nonce_hash)).one()


def test_a_server_answering_421_at_first_gets_every_message_once_after_it_recovers(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    _cycle, invitations = open_cycle(session, make_cycle, add_people, {"headteacher": 3})
    smtp.temp_fail_data = 5  # all three refused once, two of them twice
    start = utcnow()
    results = [dispatch(session, now=start)]
    assert (results[0].sent, results[0].retried, results[0].failed) == (0, 3, 0)
    retried = rows(session)
    assert all(r.status == OutboxStatus.PENDING and r.next_attempt_at > start for r in retried)
    assert all(r.last_error and r.last_error.startswith("421") for r in retried)

    session.commit()  # end this test's read: dispatch sends in sessions of its own
    for day in range(1, 6):
        results.append(dispatch(session, now=start + timedelta(days=day)))
    session.expire_all()

    assert sum(r.sent for r in results) == 3
    assert sum(r.failed for r in results) == 0
    assert smtp.count == 3
    assert len(set(smtp.message_ids())) == 3
    assert sorted(r.attempts for r in rows(session)) == [2, 3, 3]
    assert all(r.status == OutboxStatus.SENT for r in rows(session))
    for invitation in invitations:
        session.refresh(invitation)
        assert invitation.delivery_status == DeliveryStatus.SENT


def test_a_550_marks_that_invitation_failed_with_the_reply_and_the_rest_are_delivered(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    cycle, invitations = open_cycle(session, make_cycle, add_people, {"headteacher": 4})
    bad = invitations[1]
    smtp.reject.add(str(bad.email))

    result = dispatch(session)
    assert (result.sent, result.retried, result.failed) == (3, 0, 1)
    session.expire_all()
    session.refresh(bad)
    assert bad.delivery_status == DeliveryStatus.FAILED
    assert bad.delivery_error is not None and bad.delivery_error.startswith("550 5.1.1")
    assert bad.sent_at is None
    failed_row = session.scalars(
        select(OutboxMessage).where(OutboxMessage.invitation_id == bad.id)
    ).one()
    assert failed_row.status == OutboxStatus.FAILED and failed_row.attempts == 1
    assert sorted(r.recipients[0] for r in smtp.snapshot()) == sorted(
        str(i.email) for i in invitations if i.id != bad.id
    )
    assert cycle_status_dict(session, cycle)["totals"]["failed"] == 1  # type: ignore[index]
    # A later run does not try it again.
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    assert dispatch(session, now=utcnow() + timedelta(days=3)).failed == 0
    assert smtp.count == 3


def test_temporary_failures_give_up_after_the_attempt_limit_and_record_it(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    update_settings(app, MAIL_MAX_ATTEMPTS=3)
    _cycle, (invitation,) = open_cycle(session, make_cycle, add_people, {"headteacher": 1})
    smtp.temp_fail_data = 100
    start = utcnow()
    outcomes = [dispatch(session, now=start + timedelta(days=d)) for d in range(5)]
    assert [(o.retried, o.failed) for o in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    session.expire_all()
    session.refresh(invitation)
    assert invitation.delivery_status == DeliveryStatus.FAILED
    assert invitation.delivery_error is not None and invitation.delivery_error.startswith("421")
    assert rows(session)[0].attempts == 3


def test_an_unreachable_server_costs_one_attempt_and_leaves_the_rest_waiting(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    _cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 3})
    smtp.stop()  # nothing listens on the port any more
    result = dispatch(session)
    assert (result.sent, result.retried, result.failed) == (0, 1, 0)
    session.expire_all()
    attempts = sorted(r.attempts for r in rows(session))
    assert attempts == [0, 0, 1]
    assert all(r.claim_token is None and r.claimed_until is None for r in rows(session))
    assert all(r.status == OutboxStatus.PENDING for r in rows(session))


def test_messages_that_no_longer_apply_are_cancelled_not_sent(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    _cycle, invitations = open_cycle(session, make_cycle, add_people, {"headteacher": 3})
    invitations[0].is_completed = True
    invitations[1].is_declined = True
    session.commit()
    result = dispatch(session)
    assert (result.sent, result.cancelled) == (1, 2)
    assert [r.recipients[0] for r in smtp.snapshot()] == [invitations[2].email]
    reasons = {r.invitation_id: (r.status, r.last_error) for r in rows(session)}
    assert reasons[invitations[0].id] == (OutboxStatus.CANCELLED, "already completed")
    assert reasons[invitations[1].id] == (OutboxStatus.CANCELLED, "declined")


def test_a_resend_is_the_next_sequence_with_a_new_link_and_both_links_work(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    cycle, (invitation, other) = open_cycle(session, make_cycle, add_people, {"headteacher": 2})
    dispatch(session)
    resend = enqueue_resend(session, invitation)
    assert resend is not None
    assert resend.dedupe_key == f"{cycle.id}:inv{invitation.id}:invitation:2"
    again = enqueue_resend(session, invitation)
    assert again is not None and again.id == resend.id  # still waiting: not doubled
    session.commit()
    dispatch(session)

    messages = smtp.to(str(invitation.email))
    assert len(messages) == 2
    assert messages[0]["Message-ID"] != messages[1]["Message-ID"]
    links = [LINK.findall(m.get_body(("plain",)).get_content())[0] for m in messages]
    assert links[0] != links[1]
    for link in links:
        check = resolve_token(session, link.rsplit("/", 1)[1])
        assert check.invitation is not None and check.invitation.id == invitation.id

    other.is_completed = True
    session.commit()
    before = session.scalar(select(func.count()).select_from(OutboxMessage))
    # No error that would tell the CEO this person answered; simply nothing is queued.
    assert enqueue_resend(session, other) is None
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == before


def test_two_dispatchers_at_once_never_send_the_same_row(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    update_settings(app, MAIL_BATCH_SIZE=5)
    _cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 30})
    smtp.delay = 0.01
    session.commit()
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)  # both start together, so that they overlap

    def worker() -> None:
        try:
            with app.app_context():
                start.wait(10)
                results.append(dispatch(db.session))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sum(r.sent for r in results) == 30
    # Both took part: the rows were shared, not all sent by one while the other found none.
    assert len(results) == 2 and all(r.sent > 0 for r in results), [r.sent for r in results]
    assert smtp.count == 30 and len(set(smtp.message_ids())) == 30


def test_sending_is_paced_at_the_configured_rate(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    update_settings(app, MAIL_RATE_PER_MINUTE=600)  # one every 0.1 s
    open_cycle(session, make_cycle, add_people, {"headteacher": 4})
    started = time.monotonic()
    assert dispatch(session).sent == 4
    assert time.monotonic() - started >= 0.3


def test_a_lapsed_claim_is_taken_over_and_a_live_one_is_left_alone(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    _cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 2})
    lapsed, live = rows(session)
    now = utcnow()
    lapsed.claim_token, lapsed.claimed_until = "crashed-dispatcher", now - timedelta(seconds=1)
    live.claim_token, live.claimed_until = "busy-dispatcher", now + timedelta(minutes=5)
    session.commit()
    assert dispatch(session, now=now).sent == 1
    assert [r.recipients[0] for r in smtp.snapshot()] == [lapsed.recipient]
    session.refresh(live)
    assert live.status == OutboxStatus.PENDING and live.claim_token == "busy-dispatcher"


# -- deadlines, stopping and leftover claims --------------------------------------------------


def test_a_message_the_server_trickles_is_cut_off_on_time_and_the_rest_still_go(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, trickler: TricklingServer
) -> None:
    update_settings(app, MAIL_URL=trickler.url, MAIL_MESSAGE_SECONDS=1)
    _cycle, invitations = open_cycle(session, make_cycle, add_people, {"headteacher": 4})
    slow = invitations[1]
    trickler.tarpit.add(str(slow.email))
    started = time.monotonic()
    result = dispatch(session)
    assert time.monotonic() - started < 3  # the trickle would have gone on for hours
    assert (result.sent, result.retried, result.failed) == (3, 1, 0)
    session.expire_all()
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.invitation_id == slow.id)).one()
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.last_error is not None and "too slowly" in row.last_error
    assert row.claim_token is None

    trickler.tarpit.clear()  # the server recovers: the next try goes through, same Message-ID
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    assert dispatch(session, now=row.next_attempt_at).sent == 1
    assert trickler.attempted.count(row.message_id) == 2
    assert trickler.received.count(row.message_id) == 1
    assert len(trickler.received) == 4


def test_stopping_cuts_off_a_send_under_way_and_puts_the_message_back_unsent(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, trickler: TricklingServer
) -> None:
    update_settings(app, MAIL_URL=trickler.url)  # the message deadline (120 s) is far away
    _cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 2})
    trickler.trickle_all = True
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    result = dispatch(session, stop=stop)
    assert time.monotonic() - started < 1.5
    assert (result.sent, result.retried, result.failed) == (0, 0, 0)
    session.expire_all()
    # Untouched: no attempt counted, no error, no claim; due as before.
    assert [(r.status, r.attempts, r.last_error, r.claim_token) for r in rows(session)] == [
        (OutboxStatus.PENDING, 0, None, None)
    ] * 2
    (cut_off,) = trickler.attempted

    trickler.trickle_all = False
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    assert dispatch(session).sent == 2
    assert trickler.received.count(cut_off) == 1  # sent once more, with its same Message-ID
    assert sorted(trickler.received) == sorted(r.message_id for r in rows(session))


def test_a_run_takes_no_new_message_after_its_deadline_and_the_next_run_goes_on(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    update_settings(app, MAIL_RUN_SECONDS=1)
    _cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 8})
    smtp.delay = 0.3
    started = time.monotonic()
    first = dispatch(session)
    assert time.monotonic() - started < 1.6
    assert 1 <= first.sent < 8 and first.failed == 0  # about 3: the rest wait
    session.expire_all()
    assert all(r.claim_token is None for r in rows(session))

    update_settings(app, MAIL_RUN_SECONDS=60)
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    dispatch(session, now=utcnow() + timedelta(hours=1))  # after any retry's backoff
    session.expire_all()
    assert all(r.status == OutboxStatus.SENT for r in rows(session))
    # At most the one message cut off at the deadline arrived twice (same Message-ID).
    ids = smtp.message_ids()
    assert set(ids) == {r.message_id for r in rows(session)} and len(ids) - len(set(ids)) <= 1


def test_an_exclusive_run_releases_claims_left_by_a_dead_run_at_once(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    _cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 3})
    for row in rows(session):
        # Claimed minutes ago by a run that was then killed: the claim would hold for minutes.
        row.claim_token, row.claimed_until = "killed-dispatcher", utcnow() + timedelta(minutes=4)
    session.commit()
    assert dispatch(session).sent == 0  # another dispatcher might still be working on them
    assert dispatch(session, is_exclusive=True).sent == 3  # no other can be: released
    assert smtp.count == 3


# -- emails someone is waiting for ------------------------------------------------------------


def add_report_email(session: Session, cycle: Cycle, recipient: str) -> OutboxMessage:
    """A report email as `enqueue_report_emails` writes it (the cycle needs no report for it)."""
    row = OutboxMessage(
        dedupe_key=report_key(cycle.id, recipient),
        kind=MessageKind.REPORT,
        cycle_id=cycle.id,
        recipient=recipient,
        subject="The report",
        body_text="The report is ready.",
        body_html="<p>The report is ready.</p>",
        message_id=new_message_id("reviews@oak.example"),
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.commit()
    return row


def test_a_report_email_outlives_the_attempt_limit_retrying_at_the_capped_interval(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    update_settings(app, MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_SECONDS=120, MAIL_RETRY_MAX_SECONDS=3600)
    cycle, (invitation,) = open_cycle(session, make_cycle, add_people, {"headteacher": 1})
    report = add_report_email(session, cycle, "ceo@oak.example")
    smtp.temp_fail_data = 1000  # 421 to every message, for a day
    start = utcnow()
    for hour in range(24):
        at = start + timedelta(hours=hour)
        session.commit()  # end this test's read: dispatch sends in sessions of its own
        dispatch(session, now=at)
        session.refresh(report)
        # Never more than the cap (plus its jitter) away.
        assert report.next_attempt_at <= at + timedelta(minutes=75)
    session.refresh(invitation)
    assert invitation.delivery_status == DeliveryStatus.FAILED  # invitations keep their limit
    assert report.status == OutboxStatus.PENDING and report.attempts >= 10
    assert report.last_error is not None and report.last_error.startswith("421")

    smtp.temp_fail_data = 0
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    dispatch(session, now=start + timedelta(hours=25))
    session.refresh(report)
    assert report.status == OutboxStatus.SENT
    assert [m["Message-ID"] for m in smtp.to("ceo@oak.example")] == [report.message_id]


def test_a_report_email_refused_for_good_stops_until_it_is_sent_again(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 1})
    report = add_report_email(session, cycle, "ceo@oak.example")
    smtp.reject.add("ceo@oak.example")
    dispatch(session)
    session.refresh(report)
    assert (report.status, report.attempts) == (OutboxStatus.FAILED, 1)
    assert report.last_error is not None and report.last_error.startswith("550")
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    dispatch(session, now=utcnow() + timedelta(days=2))
    session.refresh(report)
    assert report.attempts == 1  # a 5xx is not retried by itself

    smtp.reject.clear()  # the recipient's mailbox is put right
    resend_report_email(session, cycle, report.id, "ceo@oak.example")
    session.commit()
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.resend")).one()
    assert (event.actor, event.cycle_id, event.detail) == (
        "ceo@oak.example",
        cycle.id,
        "ceo@oak.example",
    )
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    assert dispatch(session).sent == 1
    assert [m["Message-ID"] for m in smtp.to("ceo@oak.example")] == [report.message_id]
    with pytest.raises(UserError, match="already been delivered"):
        resend_report_email(session, cycle, report.id, "ceo@oak.example")


def test_a_report_email_waits_out_an_outbox_folder_it_cannot_write_to(
    app: Flask, session: Session, make_cycle: Any, add_people: Any, tmp_path: Path
) -> None:
    # The file transport (the embedded default) meets a folder it cannot write to, as with a
    # full disk: a temporary failure, tried again and again, never given up.
    blocker = tmp_path / "disk"
    blocker.write_text("not a folder")
    update_settings(app, MAIL_URL=f"file://{blocker}/outbox", MAIL_MAX_ATTEMPTS=2)
    cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 1})
    report = add_report_email(session, cycle, "ceo@oak.example")
    start = utcnow()
    for hour in range(6):
        dispatch(session, now=start + timedelta(hours=hour))
    session.refresh(report)
    assert report.status == OutboxStatus.PENDING and report.attempts >= 3
    assert report.last_error is not None and report.last_error.startswith("cannot write to")

    blocker.unlink()  # space again
    session.commit()  # end this test's read: dispatch sends in sessions of its own
    dispatch(session, now=start + timedelta(hours=8))
    session.refresh(report)
    assert report.status == OutboxStatus.SENT
    (written,) = (blocker / "outbox").glob("*.eml")
    assert report.message_id in written.read_text()


def test_the_cli_says_which_report_emails_are_undelivered_and_sends_them_again(
    app: Flask, session: Session, runner: Any, make_cycle: Any, add_people: Any, smtp: SmtpSink
) -> None:
    cycle, _ = open_cycle(session, make_cycle, add_people, {"headteacher": 1})
    add_report_email(session, cycle, "ceo@oak.example")
    add_report_email(session, cycle, "chair@oak.example")
    smtp.reject.add("chair@oak.example")
    dispatch(session)
    session.commit()

    listed = runner.invoke(args=["report", "emails", str(cycle.id)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        "ceo@oak.example: delivered",
        "chair@oak.example: refused for good, tried 1 time(s); last error: 550 5.1.1 "
        "<chair@oak.example>: mailbox unavailable",
    ]
    smtp.reject.clear()
    resent = runner.invoke(args=["report", "resend", str(cycle.id)])
    assert resent.exit_code == 0, resent.output
    assert resent.output == "chair@oak.example: will be sent again within a minute\n"
    session.expire_all()
    assert dispatch(session).sent == 1
    assert runner.invoke(args=["report", "emails", str(cycle.id)]).output.splitlines()[1] == (
        "chair@oak.example: delivered"
    )
    again = runner.invoke(args=["report", "resend", str(cycle.id), "--to", "ceo@oak.example"])
    assert again.exit_code == 1 and "no undelivered report email to ceo@oak.example" in again.output
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "report.resend")).all()
    assert [(e.actor, e.detail) for e in events] == [("cli", "chair@oak.example")]
