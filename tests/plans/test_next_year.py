"""Issue 18: the next cycle's report shows, for each element that was a priority last year, the
actions of last year's plan with their status beside that element's movement (HTML, PDF and the
spreadsheet), on both databases."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from survey.models import Trust
from survey.reports.stored import get_report
from survey.services import plans
from tests.reports.factories import section, table_rows

from .conftest import CODES, Reported

ACTOR = "ceo@oak.example"


def test_next_years_report_shows_last_years_actions_beside_movement(
    session: Session,
    make_trust: Callable[..., Trust],
    reported: Callable[..., Reported],
) -> None:
    trust = make_trust()
    last = reported(
        trust, title="Spring 2025 review", shift=1, opens_at=datetime(2025, 3, 3, 9, tzinfo=UTC)
    ).cycle
    weak = ("2A", "5A")
    agreed = {
        code: plans.AgreedEntry("amber-red" if code in weak else "amber-green", "", code in weak)
        for code in CODES
    }
    plans.save_worksheet(session, last, agreed, ACTOR)
    moderation = plans.add_action(
        session,
        last,
        "2A",
        plans.ActionFields(
            "Agree one moderation calendar",
            "Director of Education",
            "2025-12-19",
            "Every school moderates on the same dates",
        ),
        ACTOR,
    )
    plans.update_action(
        session,
        last,
        moderation.id,
        plans.ActionFields(
            moderation.what, moderation.owner, "2025-12-19", moderation.success_measure, "done"
        ),
        ACTOR,
    )
    plans.add_note(session, last, moderation.id, "All twelve schools moderated in March", ACTOR)
    plans.add_action(
        session,
        last,
        "5A",
        plans.ActionFields("Monthly budget forecasts to heads", "CFO", "", "", "dropped"),
        ACTOR,
    )
    session.commit()

    this = reported(trust, title="Spring 2026 review", previous=last).cycle
    stored = get_report(session, this)
    assert stored is not None
    html_file = stored.file("report.html")
    assert html_file is not None
    html = html_file.content.decode("utf-8")
    part = section(html, "last-year")
    assert "Last year" in part
    # 2A: its movement (the groups rated it one band lower last year) beside its action.
    two_a = part[part.index("2A ") : part.index("5A ")]
    rows = table_rows(two_a)
    moved = next(r for r in rows if r[0] == "All shown groups")
    assert moved[3].startswith("up ")
    done = "Agree one moderation calendar Success measure: Every school moderates on the same dates"
    note = "All twelve schools moderated in March"
    assert [done, "Director of Education", "Done due 19 December 2025", note] in rows
    assert "Last year leadership agreed: <strong>Amber red</strong>" in two_a
    five_a = part[part.index("5A ") :]
    dropped = ["Monthly budget forecasts to heads", "CFO", "Dropped", "\N{EN DASH}"]
    assert dropped in table_rows(five_a)
    assert "1A " not in part  # not a priority last year

    pdf_file = stored.file("report.pdf")
    assert pdf_file is not None
    text = " ".join(
        subprocess.run(["pdftotext", "-", "-"], input=pdf_file.content, capture_output=True,
                       check=True).stdout.decode().split()
    )  # fmt: skip
    assert "Last year's priorities: what was done, and what moved" in text
    assert "Agree one moderation calendar" in text and "Done" in text
    assert "Monthly budget forecasts to heads" in text and "Dropped" in text
    assert moved[3] in text  # the movement, e.g. "up 0.91", printed beside the actions

    xlsx = stored.file("results.xlsx")
    assert xlsx is not None
    sheet = load_workbook(io.BytesIO(xlsx.content))["Last year's actions"]
    values: list[Any] = list(sheet.iter_rows(min_row=2, values_only=True))
    assert values[0][2] == "Agree one moderation calendar" and values[0][4] == "Done"
    assert values[0][1] == f"{moved[1]} to {moved[2]}: {moved[3].split(' (')[0]}"

    # A cycle whose previous one had no plan shows no such section.
    first_html = get_report(session, last).file("report.html").content.decode()  # type: ignore[union-attr]
    assert 'id="last-year"' not in first_html
