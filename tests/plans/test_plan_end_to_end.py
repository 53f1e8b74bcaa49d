"""Issue 18, end to end on both databases: a reported cycle -> the worksheet (agreed ratings)
-> three priorities with actions and progress notes -> the plan as PDF and XLSX (pages and
command line) -> "you said, we did" to everyone invited over real SMTP, once, and never after a
purge. And the viewer reads the plan but cannot change it."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask
from mail.smtp_sink import SmtpSink
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import framework as fw
from jobs.schedule import run_once
from survey.mail.dispatch import dispatch
from survey.models import (
    ActionNote,
    ActionStatus,
    AdminRole,
    AuditEvent,
    MessageKind,
    OutboxMessage,
    PlanAction,
    PlanElement,
    Trust,
)
from tests.admin.helpers import Browser

from .conftest import CODES, Reported

FRAMEWORK = fw.load_builtin("mat-assurance")
PRIORITIES = {
    "2A": [
        ("Agree one moderation calendar for every school", "Director of Education", "2026-12-18"),
        ("Peer review of English books each term", "Primary lead", "2027-03-31"),
    ],
    "3B": [("Publish the trust's SEND offer and train SENCOs", "Head of Inclusion", "2027-02-26")],
    "5A": [("=Budget forecasts shared monthly with heads", "Chief Financial Officer", "")],
}


def pdf_text(data: bytes) -> str:
    result = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return " ".join(result.stdout.decode("utf-8").split())


def worksheet_form(agreed: dict[str, str], priorities: set[str]) -> dict[str, str]:
    form: dict[str, str] = {}
    for code in CODES:
        form[f"agreed-{code}"] = agreed.get(code, "")
        form[f"rationale-{code}"] = f"We discussed {code} at length." if code in agreed else ""
        if code in priorities:
            form[f"priority-{code}"] = "yes"
    return form


def fill_in_the_plan(browser: Browser, cycle_id: int) -> None:
    base = f"/admin/cycles/{cycle_id}/plan"
    agreed = {code: "amber-green" for code in CODES} | {c: "amber-red" for c in PRIORITIES}
    saved = browser.post(base, worksheet_form(agreed, set(PRIORITIES)))
    assert saved.status_code == 303, saved.get_data(as_text=True)
    for code, actions in PRIORITIES.items():
        for what, owner, due in actions:
            added = browser.post(
                f"{base}/actions/new?element={code}",
                {
                    "what": what,
                    "owner": owner,
                    "due_on": due,
                    "success_measure": f"Measure for {what[:20]}",
                    "status": "not-started",
                },
            )
            assert added.status_code == 303, added.get_data(as_text=True)


def test_report_to_plan_to_you_said_we_did(
    app: Flask,
    session: Session,
    browser: Browser,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
    smtp: SmtpSink,
    runner: Any,
    tmp_path: Path,
) -> None:
    trust = make_trust("Oak Learning Trust")
    ceo = make_admin("ceo@oak.example", trust)
    done = reported(trust)
    cycle = done.cycle
    browser.sign_in(ceo.email)

    # The worksheet shows the groups' figures from the report, the descriptors and questions.
    page = browser.get(f"/admin/cycles/{cycle.id}/plan").get_data(as_text=True)
    assert "Leadership&#39;s agreed view" in page or "Leadership's agreed view" in page
    element = FRAMEWORK.element("2A")
    assert str(escape(element.questions[0].descriptors["red"][:40])) in page
    assert str(escape(element.questions[0].text[:40])) in page
    assert "All shown groups" in page and "Middle leaders" in page

    # Agreed ratings for all 14, three priorities, four actions.
    fill_in_the_plan(browser, cycle.id)
    rows = {r.element_code: r for r in session.scalars(select(PlanElement))}
    assert len(rows) == 14
    assert {c for c, r in rows.items() if r.is_priority} == set(PRIORITIES)
    assert rows["2A"].agreed_key == "amber-red" and rows["1A"].agreed_key == "amber-green"
    actions = session.scalars(select(PlanAction).order_by(PlanAction.id)).all()
    assert len(actions) == 4 and actions[0].owner == "Director of Education"

    # A status change and dated progress notes.
    first = actions[0]
    edit = f"/admin/cycles/{cycle.id}/plan/actions/{first.id}"
    changed = browser.post(
        edit,
        {
            "what": first.what,
            "owner": first.owner,
            "due_on": "2026-12-18",
            "success_measure": "Every school moderates on the same dates",
            "status": "under-way",
        },
    )
    assert changed.status_code == 303
    for text in ("Calendar drafted with heads", "Two schools have already moderated together"):
        assert browser.post(f"{edit}/notes", {"note": text}, page=edit).status_code == 303
    session.expire_all()
    assert session.get(PlanAction, first.id).status == ActionStatus.UNDER_WAY  # type: ignore[union-attr]
    notes = session.scalars(select(ActionNote).where(ActionNote.action_id == first.id)).all()
    assert [n.author for n in notes] == [ceo.email, ceo.email]
    # A bad date is refused beside its field, nothing saved.
    bad = browser.post(f"/admin/cycles/{cycle.id}/plan/actions/new?element=3B",
                       {"what": "x", "due_on": "next week", "status": "done"})  # fmt: skip
    assert bad.status_code == 422 and "Give the due date as a date" in bad.get_data(as_text=True)
    # An action for an element that is not a priority is refused.
    refused = browser.post(f"/admin/cycles/{cycle.id}/plan/actions/new?element=1A",
                           {"what": "x", "status": "done"})  # fmt: skip
    assert refused.status_code == 422
    assert session.scalar(select(func.count()).select_from(PlanAction)) == 4

    # Every change is in the audit log.
    audited = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("plan.%"))
    ).all()
    assert audited.count("plan.agree") == 14
    assert audited.count("plan.action-add") == 4
    assert audited.count("plan.action-edit") == 1 and audited.count("plan.note") == 2

    # The plan: PDF and XLSX from the command line ...
    out = tmp_path / "plan"
    result = runner.invoke(args=["plan", "export", str(cycle.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["plan.pdf", "plan.xlsx"]
    pdf = (out / "plan.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for heading in FRAMEWORK.headings:
        assert f"{heading.number}. {heading.title}" in text, heading.title
    for actions_of in PRIORITIES.values():
        for what, owner, _ in actions_of:
            assert what[:30] in text and owner in text
    assert "Leadership's agreed view" in text
    assert "Under way" in text and "Two schools have already moderated together" in text
    book = load_workbook(out / "plan.xlsx")
    assert book.sheetnames == ["Agreed view", "Actions"]
    sheet = book["Actions"]
    whats = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(whats) == 4
    assert "'=Budget forecasts shared monthly with heads" in whats  # never a formula
    notes_cell = next(
        r[7] for r in sheet.iter_rows(min_row=2, values_only=True) if r[6] == "Under way"
    )
    assert "Calendar drafted with heads" in notes_cell

    # ... and from the cycle's page.
    cycle_page = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert f"/admin/cycles/{cycle.id}/plan/plan.pdf" in cycle_page
    for name, magic in (("plan.pdf", b"%PDF"), ("plan.xlsx", b"PK")):
        download = browser.get(f"/admin/cycles/{cycle.id}/plan/{name}")
        assert download.status_code == 200 and download.data.startswith(magic)
    load_workbook(io.BytesIO(browser.get(f"/admin/cycles/{cycle.id}/plan/plan.xlsx").data))

    # Command-line refusals: one line, exit status 1.
    missing = runner.invoke(args=["plan", "export", "99999", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and len(missing.output.strip().splitlines()) == 1

    # "You said, we did": words edited, previewed, sent once to everyone invited.
    url = f"/admin/cycles/{cycle.id}/you-said"
    saved = browser.post(url, {"subject": "You said, we did: our spring review",
                               "opening": "Thank you all.", "closing": "Jane Smith"})  # fmt: skip
    assert saved.status_code == 303
    preview = browser.get(url).get_data(as_text=True)
    assert "Thank you all." in preview
    assert "Publish the trust&#39;s SEND offer" in preview or "Publish the trust's SEND" in preview
    assert "Priorities" in preview  # the report's findings, as it words them
    assert "executive: 3 of 3 answered" not in preview
    send = f"{url}/send"
    assert browser.post(send, page=url).status_code == 303
    assert browser.post(send, page=url).status_code == 303  # pressed again: refused, flashed
    session.expire_all()
    queued = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.FOLLOW_UP)
    ).all()
    invited = {inv.email for inv in done.invitations}
    assert len(invited) == 14
    assert {row.recipient for row in queued} == invited  # answered, declined, silent alike
    assert len(queued) == 14

    session.commit()
    for _ in range(3):  # however often the scheduler's jobs run
        outcomes = run_once(app)
        assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    dispatch(session)  # and the dispatcher on its own
    received = smtp.snapshot()
    follow_ups = [
        r for r in received if r.message["Subject"] == "You said, we did: our spring review"
    ]
    assert sorted(r.message["To"] for r in follow_ups) == sorted(invited)
    bodies = {_text(r.message) for r in follow_ups}
    assert len(bodies) == 1  # the same words to everyone: nothing says who answered
    body = bodies.pop()
    assert "Agree one moderation calendar for every school" in body and "Under way" in body
    assert "11 of the 14 people asked answered" in body or "fewer than" in body
    assert "Middle leaders: 4 of 6 answered" in body
    again = browser.get(url).get_data(as_text=True)
    assert "14 delivered" in again and "Send to everyone invited" not in again

    # The purge page says it was sent; after a purge another cycle's message is refused.
    purge_page = browser.get(f"/admin/cycles/{cycle.id}/purge").get_data(as_text=True)
    assert "was sent" in purge_page
    other = reported(trust, title="Autumn 2026 review")
    assert "has <strong>not</strong> been sent" in browser.get(
        f"/admin/cycles/{other.cycle.id}/purge"
    ).get_data(as_text=True)
    assert browser.post(f"/admin/cycles/{other.cycle.id}/purge").status_code == 303
    other_url = f"/admin/cycles/{other.cycle.id}/you-said"
    browser.post(f"{other_url}/send", page=other_url)
    refused_page = browser.get(other_url).get_data(as_text=True)
    assert "have been removed" in refused_page
    count = (
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.cycle_id == other.cycle.id, OutboxMessage.kind == MessageKind.FOLLOW_UP
        )
    )
    assert session.scalar(count) == 0
    # The plan stays editable after a purge (it holds nobody's answers).
    assert (
        browser.post(
            f"/admin/cycles/{other.cycle.id}/plan", worksheet_form({"1A": "green"}, {"1A"})
        ).status_code
        == 303
    )


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_you_said_is_refused_before_the_report_is_compiled(
    session: Session,
    browser: Browser,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    make_cycle: Callable[..., Any],
    add_people: Callable[..., Any],
    runner: Any,
    tmp_path: Path,
) -> None:
    trust = make_trust()
    ceo = make_admin("ceo@oak.example", trust)
    cycle = make_cycle(trust)
    add_people(cycle, {"headteacher": 3})
    browser.sign_in(ceo.email)
    url = f"/admin/cycles/{cycle.id}/you-said"
    assert "once the cycle&#39;s report has been compiled" in browser.get(url).get_data(
        as_text=True
    ) or "once the cycle's report has been compiled" in browser.get(url).get_data(as_text=True)
    browser.post(f"{url}/send", page=url)
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.FOLLOW_UP)) == 0  # fmt: skip
    assert browser.get(f"/admin/cycles/{cycle.id}/plan").status_code == 303
    result = runner.invoke(args=["plan", "export", str(cycle.id), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "report has been compiled" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_viewer_reads_the_plan_but_cannot_change_it(
    session: Session,
    browser: Browser,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
) -> None:
    trust = make_trust()
    ceo = make_admin("ceo@oak.example", trust)
    viewer = make_admin("pa@oak.example", trust, AdminRole.VIEWER)
    cycle = reported(trust).cycle
    browser.sign_in(ceo.email)
    fill_in_the_plan(browser, cycle.id)
    action = session.scalars(select(PlanAction)).first()
    assert action is not None
    browser.post("/admin/logout", page="/admin/")
    assert browser.sign_in(viewer.email).status_code == 303
    page = browser.get(f"/admin/cycles/{cycle.id}/plan")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Agree one moderation calendar" in html
    assert 'name="agreed-1A"' not in html and "Add an action" not in html
    base = f"/admin/cycles/{cycle.id}"
    attempts = [
        (f"{base}/plan", worksheet_form({"1A": "red"}, set())),
        (f"{base}/plan/actions/new?element=2A", {"what": "x", "status": "done"}),
        (f"{base}/plan/actions/{action.id}", {"what": "changed", "status": "done"}),
        (f"{base}/plan/actions/{action.id}/notes", {"note": "sneaky"}),
        (f"{base}/you-said", {"subject": "x", "opening": "", "closing": ""}),
        (f"{base}/you-said/send", {}),
    ]
    for url, data in attempts:
        assert browser.post(url, data, page="/admin/").status_code == 403, url
    session.expire_all()
    assert session.get(PlanAction, action.id).what == action.what  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(ActionNote)) == 0
    assert session.get(PlanElement, (cycle.id, "1A")).agreed_key == "amber-green"  # type: ignore[union-attr]
    assert (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == MessageKind.FOLLOW_UP)
        )
        == 0
    )


def test_you_said_from_the_command_line_is_queued_once(
    session: Session,
    make_trust: Callable[..., Trust],
    reported: Callable[..., Reported],
    runner: Any,
    smtp: SmtpSink,
) -> None:
    trust = make_trust()
    done = reported(trust)
    cycle_id = str(done.cycle.id)
    preview = runner.invoke(args=["plan", "you-said", cycle_id])
    assert preview.exit_code == 0, preview.output
    assert "Subject: You said, we did: Spring 2026 review" in preview.output
    assert "WHAT WE FOUND" in preview.output and "Leadership has not yet agreed" in preview.output
    sent = runner.invoke(args=["plan", "you-said", cycle_id, "--send"])
    assert sent.exit_code == 0 and sent.output.strip() == "queued to 14 invitation(s)"
    again = runner.invoke(args=["plan", "you-said", cycle_id, "--send"])
    assert again.exit_code == 1
    assert len(again.output.strip().splitlines()) == 1 and "only once" in again.output
    session.commit()
    dispatch(session)
    dispatch(session)
    assert sorted(r.message["To"] for r in smtp.snapshot()) == sorted(
        str(inv.email) for inv in done.invitations
    )
    purge = runner.invoke(args=["cycle", "purge", cycle_id])
    assert purge.exit_code == 0, purge.output
    after = runner.invoke(args=["plan", "you-said", cycle_id])
    assert "have been removed" in after.output or "already been sent" in after.output


def test_an_element_no_longer_a_priority_keeps_its_actions_in_view(
    browser: Browser,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
) -> None:
    trust = make_trust()
    ceo = make_admin("ceo@oak.example", trust)
    cycle = reported(trust).cycle
    browser.sign_in(ceo.email)
    fill_in_the_plan(browser, cycle.id)
    url = f"/admin/cycles/{cycle.id}/plan"
    assert browser.post(url, worksheet_form({}, {"2A", "3B"})).status_code == 303
    page = browser.get(url).get_data(as_text=True)
    five_a = page[page.index('id="actions-5A"') :]
    assert "no longer a priority" in five_a and "=Budget forecasts shared monthly" in five_a
    assert "Add an action to 5A" not in page and "Add an action to 2A" in page
