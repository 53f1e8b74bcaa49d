"""Issue 18: leadership's agreed view is a heat map column of its own, labelled and kept apart
from the survey's figures. A report held for review is compiled; leadership meets and records
its agreed ratings; on release the report is compiled again with the agreed column (HTML, PDF,
XLSX), while summary.csv (the SPEC section 8 contract) holds the survey's figures only. And
"you said, we did" waits until the report has been sent."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Callable
from typing import Any

from flask import Flask
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from jobs.schedule import run_once
from survey.models import CycleState, Trust
from survey.reports.stored import get_report
from survey.services import report_review, you_said
from tests.admin.helpers import Browser
from tests.reports.factories import section, table_rows

from .conftest import CODES, Reported
from .test_plan_end_to_end import worksheet_form


def run_jobs(app: Flask, session: Session) -> None:
    session.commit()
    outcomes = run_once(app)
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    session.expire_all()


def test_the_agreed_view_is_its_own_column_when_a_held_report_is_released(
    app: Flask,
    session: Session,
    browser: Browser,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
) -> None:
    trust = make_trust()
    ceo = make_admin("ceo@oak.example", trust)
    cycle = reported(trust, held=True).cycle
    run_jobs(app, session)
    held = get_report(session, cycle)
    assert held is not None and cycle.state == CycleState.CLOSED
    held_html = held.file("report.html").content.decode()  # type: ignore[union-attr]
    assert "Leadership&#39;s agreed view" not in held_html and "agreed view" not in held_html

    # Leadership meets over the held report and records its view.
    browser.sign_in(ceo.email)
    agreed = {code: "amber-green" for code in CODES} | {"2A": "red", "5A": "amber-red"}
    del agreed["6B"]
    saved = browser.post(f"/admin/cycles/{cycle.id}/plan", worksheet_form(agreed, {"2A"}))
    assert saved.status_code == 303
    # Not yet sent to the board: "you said, we did" waits.
    assert "sent" in (you_said.refusal(session, cycle) or "")

    report_review.release_report(session, cycle, ceo.email)
    run_jobs(app, session)
    assert cycle.state == CycleState.REPORTED
    released = get_report(session, cycle)
    assert released is not None
    html = released.file("report.html").content.decode()  # type: ignore[union-attr]
    heat = section(html, "heat-map")
    rows = table_rows(heat)
    assert rows[0][-1] == "Leadership's agreed view not a survey figure"
    assert rows[0][-2].startswith("All shown groups")  # the survey's columns come first
    two_a = next(r for r in rows if r[0].startswith("2A "))
    assert two_a[-1] == "Red"
    assert next(r for r in rows if r[0].startswith("6B "))[-1] == "Not agreed"
    assert "is not a survey figure" in heat

    pdf = released.file("report.pdf").content  # type: ignore[union-attr]
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    assert "Leadership's agreed view" in text.stdout.decode()

    book = load_workbook(io.BytesIO(released.file("results.xlsx").content))  # type: ignore[union-attr]
    sheet = book["Heat map"]
    header = [c.value for c in sheet[1]]
    assert header[-1] == "Leadership's agreed view (not a survey figure)"
    values = {r[1][:2]: r[-1] for r in sheet.iter_rows(min_row=2, values_only=True) if r[1]}
    assert values["2A"] == "Red" and values["6B"] == "Not agreed"

    summary = released.file("summary.csv").content.decode()  # type: ignore[union-attr]
    assert next(csv.reader(io.StringIO(summary)))[-1] == "suppressed"
    assert "agreed" not in summary.lower()
    assert you_said.refusal(session, cycle) is None  # now it may be sent
