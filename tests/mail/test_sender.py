"""Invitations from a person (issue 17): the cycle names its sender; the email shows that name
with the service's own address as sender, the person's address as Reply-To, and their note.
Through the outbox to a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr
from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner
from mail.smtp_sink import SmtpSink
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.mail.dispatch import dispatch
from survey.mail.messages import sender_header
from survey.models import AuditEvent, Cycle
from survey.services.cycles import Sender, launch_cycle, set_sender

NOTE = "Last year your views shaped our plan.\nThis year I would like to hear from you again."


def _body(message: Any) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()
    return text, html


def test_invitations_come_from_the_named_person_with_their_note(
    app: Flask,
    session: Session,
    smtp: SmtpSink,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle(scope="1A")
    people = add_people(cycle, {"headteacher": 2})
    set_sender(
        session,
        cycle,
        Sender("Jane Smith", "Chief Executive", "Jane.Smith@Oak.example", NOTE),
        "test",
    )
    launch_cycle(session, cycle, "test")
    session.commit()
    dispatch(session)
    received = smtp.to(str(people[0].email))
    assert len(received) == 1
    message = received[0]
    shown_name, address = parseaddr(str(message["From"]))
    assert shown_name == "Jane Smith (Oak Learning Trust)"
    # The service sends, from its configured address; the person is only shown.
    assert address == parseaddr(app.config["MAIL_FROM"])[1]
    assert str(message["Reply-To"]) == "Jane.Smith@oak.example"
    assert str(message["Subject"]).startswith("Jane Smith (Oak Learning Trust) asks for your view")
    text, html = _body(message)
    assert (
        "Jane Smith, Chief Executive, is asking for your view in Oak Learning Trust's review"
        in text
    )
    assert "Last year your views shaped our plan.\nThis year I would like" in text
    assert "Last year your views shaped our plan.<br>This year I would like" in html
    assert "\n\nJane Smith, Chief Executive\nOak Learning Trust\n" in text
    assert "(A reply to this email reaches Jane Smith at Jane.Smith@oak.example.)\n\n--" in text


def test_without_a_named_sender_the_trust_asks(
    app: Flask,
    session: Session,
    smtp: SmtpSink,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> None:
    cycle = make_cycle(scope="1A")
    people = add_people(cycle, {"headteacher": 1})
    launch_cycle(session, cycle, "test")
    session.commit()
    dispatch(session)
    (message,) = smtp.to(str(people[0].email))
    assert str(message["From"]) == app.config["MAIL_FROM"]
    assert message["Reply-To"] is None
    text, _ = _body(message)
    assert "Oak Learning Trust is asking for your view in its review" in text


def test_sender_checks_and_header_safety(
    session: Session, make_cycle: Callable[..., Cycle], runner: FlaskCliRunner
) -> None:
    cycle = make_cycle()
    for sender, field in (
        (Sender("Jane", reply_to="not-an-address"), "reply_to"),
        (Sender("", role="CEO"), "sender_name"),
        (Sender("Jane", note="x" * 1001), "invitation_note"),
        (Sender("J" * 201), "sender_name"),
    ):
        try:
            set_sender(session, cycle, sender, "test")
        except UserError as exc:
            assert exc.field == field, (sender, exc.field)
        else:
            raise AssertionError(f"accepted {sender}")
    session.rollback()
    result = runner.invoke(
        args=["cycle", "sender", str(cycle.id), "--name", "Jane\r\nBcc: x@evil.example"]
    )
    assert result.exit_code == 0, result.output
    session.expire_all()
    stored = session.get(Cycle, cycle.id)
    assert stored is not None and stored.sender_name is not None
    # Stored as typed, but a header built from it is one line: no header can be injected.
    header = sender_header("mat-review@localhost", stored.sender_name)
    assert "\n" not in header and "\r" not in header
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "cycle.sender")).all()
