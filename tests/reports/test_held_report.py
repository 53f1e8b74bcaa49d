"""The held report (SPEC section 8), on SQLite and PostgreSQL, with the scheduler's own jobs and
a real SMTP server: held, the compiled report is not emailed; the CEO reads the redacted comments,
hides one, releases; the report is compiled again without it, says how many were hidden, and is
emailed once, with a personal read-only link that works signed out."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from mail.smtp_sink import SmtpSink
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs import tasks
from jobs.schedule import run_once
from survey.db import db
from survey.models import (
    AdminUser,
    AuditEvent,
    Cycle,
    CycleState,
    HiddenComment,
    MessageKind,
    OutboxMessage,
    Rating,
    Report,
    Response,
)
from survey.services.accounts import hash_password
from survey.services.report_review import list_review_comments, set_comment_hidden, set_report_hold
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD, Browser
from tests.admin.test_browser_journey import ARTIFACTS

from .conftest import Golden
from .factories import EXEC_SECRET

HIDE_ME = "Teaching is observed termly"
KEEP_ME = "Strong shared purpose across our schools"
NAMING = "Ask middle-leader 4 on 07700 900123 or ml4@school.example about it"
HANDLE = re.compile(r'name="comment" value="([^"]+)"')


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {**app_config, "MAIL_URL": smtp.url, "MAIL_TIMEOUT": 5}


def run_jobs(app: Flask, session: Session, now: datetime | None = None) -> dict[str, str]:
    session.commit()  # hold no transaction (on SQLite it would hold the write lock)
    outcomes = run_once(app, now or utcnow(), force=True)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    session.expire_all()
    return {o.job.id: o.summary for o in outcomes}


def _ceo(session: Session, cycle: Cycle, app: Flask) -> Browser:
    admin = AdminUser(
        email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[cycle.trust]
    )
    session.add(admin)
    session.commit()
    browser = Browser(app.test_client())
    assert browser.sign_in(admin.email).status_code == 303
    return browser


def _handle_of(page: str, text: str) -> str:
    """The hide form's handle just after `text` on the review page."""
    start = page.index(text)
    match = HANDLE.search(page, start)
    assert match
    return match.group(1)


def _report_html(session: Session, cycle: Cycle) -> str:
    session.expire_all()
    row = session.scalar(select(Report).where(Report.cycle_id == cycle.id))
    assert row is not None
    stored = row.file("report.html")
    assert stored is not None
    return stored.content.decode()


def test_held_report_is_reviewed_then_released_and_emailed_once(
    app: Flask, session: Session, golden: Golden, smtp: SmtpSink, backend: str
) -> None:
    cycle = golden.cycle
    # A comment that names a person, a phone number and an address.
    middle = cycle.group_by_key("middle-leader")
    assert middle is not None
    rating = session.scalars(
        select(Rating)
        .join(Response, Response.id == Rating.response_id)
        .where(
            Response.group_id == middle.id,
            Rating.element_code == "2A",
            Rating.rationale.is_(None),
        )
        .limit(1)
    ).one()
    rating.rationale = NAMING
    session.commit()
    ceo = _ceo(session, cycle, app)
    cycle_page = f"/admin/cycles/{cycle.id}"
    assert "Hold the report" in ceo.get(cycle_page).get_data(as_text=True)
    assert (
        ceo.post(f"{cycle_page}/report/hold", {"hold": "yes"}, page=cycle_page).status_code == 303
    )
    session.expire_all()
    assert session.get(Cycle, cycle.id).is_report_held  # type: ignore[union-attr]

    # Held: compiled, not emailed, the cycle stays closed.
    summaries = run_jobs(app, session)
    assert "1 held for review" in summaries["compile-closed-cycles"], summaries
    run_jobs(app, session)
    assert smtp.count == 0
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert session.get(Cycle, cycle.id).state == CycleState.CLOSED  # type: ignore[union-attr]
    assert HIDE_ME in _report_html(session, cycle)

    # The review page: what the report would publish, redacted; never a withheld group's.
    review = ceo.get(f"{cycle_page}/report/review")
    assert review.status_code == 200
    page = review.get_data(as_text=True)
    assert HIDE_ME in page and KEEP_ME in page
    assert EXEC_SECRET not in page  # the executive group is below the comment threshold
    assert "Ask [a person] on [a phone number] or [an email] about it" in page
    assert "07700" not in page and "ml4@" not in page
    response_ids = set(session.scalars(select(Response.id)))
    assert not any(rid in page for rid in response_ids)  # handles, never response ids

    hidden = ceo.post(
        f"{cycle_page}/report/review/comments",
        {"comment": _handle_of(page, HIDE_ME), "action": "hide"},
        page=f"{cycle_page}/report/review",
    )
    assert hidden.status_code == 303
    assert "hidden" in ceo.get(f"{cycle_page}/report/review").get_data(as_text=True)
    # A hide writes one bare row of its own; the comment itself is untouched.
    rows = session.execute(select(HiddenComment.__table__)).all()  # type: ignore[arg-type]
    assert len(rows) == 1 and len(rows[0]) == 3
    assert session.scalar(select(func.count()).where(Rating.rationale == HIDE_ME)) == 1
    run_jobs(app, session)
    assert smtp.count == 0  # still held

    released = ceo.post(f"{cycle_page}/report/release", page=f"{cycle_page}/report/review")
    assert released.status_code == 303
    # After release nothing more can be hidden.
    refused = ceo.post(
        f"{cycle_page}/report/review/comments",
        {"comment": _handle_of(page, KEEP_ME), "action": "hide"},
        page=cycle_page,
    )
    assert refused.status_code == 303
    assert session.scalar(select(func.count()).select_from(HiddenComment)) == 1

    summaries = run_jobs(app, session)
    assert "1 cycle(s) compiled and reported" in summaries["compile-closed-cycles"], summaries
    run_jobs(app, session)
    assert smtp.count == 1
    [email] = smtp.to("ceo@oak.example")
    assert session.get(Cycle, cycle.id).state == CycleState.REPORTED  # type: ignore[union-attr]

    html = _report_html(session, cycle)
    assert HIDE_ME not in html and KEEP_ME in html
    assert "1 comment was left out by the trust when it reviewed the comments" in html
    stored_pdf = session.scalar(select(Report).where(Report.cycle_id == cycle.id)).file(
        "report.pdf"
    )  # type: ignore[union-attr]
    assert stored_pdf is not None
    pdf_text = " ".join(
        subprocess.run(
            ["pdftotext", "-", "-"], input=stored_pdf.content, capture_output=True, check=True
        )
        .stdout.decode()
        .split()
    )
    assert "1 comment was left out by the trust" in pdf_text and HIDE_ME not in pdf_text
    if backend == "sqlite":  # kept to look at, as the browser tests keep their screenshots
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "held-report.pdf").write_bytes(stored_pdf.content)

    # The email's personal link opens the report with nobody signed in.
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://survey\.test(/r/[^\s]+)", text)
    assert link, text
    opened = app.test_client().get(link.group(1))
    assert opened.status_code == 200
    assert "1 comment was left out" in opened.get_data(as_text=True)
    assert HIDE_ME not in opened.get_data(as_text=True)

    # Audited: who held, hid and released, with no comment text and no response id.
    actions = [
        (e.actor, e.action, e.detail)
        for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("report%")).order_by(AuditEvent.id)
        )
    ]
    assert ("ceo@oak.example", "report.comment-hide", "a comment on 3A") in actions
    assert ("ceo@oak.example", "report.release", "1 comment hidden") in actions
    assert [a[1] for a in actions][:1] == ["report.hold"]
    assert any(a[1] == "report-link.issue" and a[0] == "mailer" for a in actions)
    for _, _, detail in actions:
        assert HIDE_ME not in detail and not any(rid in detail for rid in response_ids)


def test_without_a_hold_the_report_is_emailed_when_compiled(
    app: Flask, session: Session, golden: Golden, smtp: SmtpSink
) -> None:
    run_jobs(app, session)
    run_jobs(app, session)
    assert smtp.count == 1
    assert session.get(Cycle, golden.cycle.id).state == CycleState.REPORTED  # type: ignore[union-attr]
    assert "left out" not in _report_html(session, golden.cycle)
    assert (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == MessageKind.REPORT)
        )
        == 1
    )


def test_the_command_line_holds_hides_releases_and_manages_links(
    app: Flask, session: Session, golden: Golden, smtp: SmtpSink, runner: Any
) -> None:
    cycle_id = str(golden.cycle.id)
    held = runner.invoke(args=["report", "hold", cycle_id])
    assert held.exit_code == 0, held.output
    run_jobs(app, session)
    assert smtp.count == 0

    listed = runner.invoke(args=["report", "comments", cycle_id])
    assert listed.exit_code == 0, listed.output
    assert EXEC_SECRET not in listed.output
    [line] = [line for line in listed.output.splitlines() if HIDE_ME in line]
    handle = line.strip().split(":")[0]
    hidden = runner.invoke(args=["report", "hide", cycle_id, handle])
    assert hidden.exit_code == 0, hidden.output
    assert "the comment on 3A is hidden" in hidden.output
    refused = runner.invoke(args=["report", "hold", cycle_id, "--no-hold"])
    assert refused.exit_code == 1 and "release the report" in refused.output

    released = runner.invoke(args=["report", "release", cycle_id])
    assert released.exit_code == 0, released.output
    run_jobs(app, session)
    run_jobs(app, session)
    assert smtp.count == 1
    assert HIDE_ME not in _report_html(session, golden.cycle)

    links = runner.invoke(args=["report", "links", cycle_id])
    assert links.exit_code == 0, links.output
    link_id, recipient = links.output.split()[:2]
    assert recipient == "ceo@oak.example:" and "works until" in links.output
    revoked = runner.invoke(args=["report", "link", cycle_id, link_id, "revoke"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in runner.invoke(args=["report", "links", cycle_id]).output
    again = runner.invoke(args=["report", "link", cycle_id, link_id, "renew"])
    assert again.exit_code == 1 and "is revoked" in again.output

    # The recipient gets the report again with a new link that works; the old one stays dead.
    old_link = re.search(
        r"(/r/\S+)", smtp.to("ceo@oak.example")[0].get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]
    assert old_link
    sent = runner.invoke(args=["report", "link", cycle_id, link_id, "send"])
    assert sent.exit_code == 0, sent.output
    run_jobs(app, session)
    assert smtp.count == 2
    newest = smtp.to("ceo@oak.example")[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    new_link = re.search(r"(/r/\S+)", newest)
    assert new_link and new_link.group(1) != old_link.group(1)
    reader = app.test_client()
    assert reader.get(new_link.group(1)).status_code == 200
    assert reader.get(old_link.group(1)).status_code == 404


def test_a_comment_hidden_while_the_report_compiles_is_left_out(
    app: Flask, session: Session, golden: Golden, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler reads the comments, then renders for seconds with no transaction open; a
    comment the CEO hides meanwhile must not end up in the stored report."""
    cycle_id = golden.cycle.id
    set_report_hold(session, golden.cycle, True, "test")
    render = tasks.render_report_in_background

    def render_while_the_ceo_hides(inputs: Any) -> Any:
        rendered = render(inputs)
        with app.app_context():  # a request of its own, in another session
            cycle = db.session.get(Cycle, cycle_id)
            assert cycle is not None
            [element] = [e for e in list_review_comments(db.session, cycle) if e.code == "3A"]
            set_comment_hidden(db.session, cycle, element.comments[0].handle, "ceo@oak.example")
            db.session.commit()
        return rendered

    monkeypatch.setattr(tasks, "render_report_in_background", render_while_the_ceo_hides)
    summaries = run_jobs(app, session)
    assert "1 to compile again" in summaries["compile-closed-cycles"], summaries
    assert session.scalar(select(func.count()).select_from(Report)) == 0
    monkeypatch.undo()

    summaries = run_jobs(app, session)
    assert "1 held for review" in summaries["compile-closed-cycles"], summaries
    html = _report_html(session, golden.cycle)
    assert HIDE_ME not in html and KEEP_ME in html
    assert "1 comment was left out" in html
    assert smtp.count == 0
