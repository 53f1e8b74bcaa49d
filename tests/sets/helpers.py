"""Reported cycles with chosen answers, for the set tests: responses inserted directly, the
report compiled and stored through the scheduler's own `save_report` (which stores its published
figures). Set reports and the benchmark read only those figures, so the stored report keeps just
summary.csv (what the figures must match) instead of rendering the PDF and charts each time:
that rendering is tested by the report tests, and took most of each set test's setup."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy.orm import Session, object_session

from survey.models import Cycle, CycleState, Trust
from survey.reports.compile import build_report
from survey.reports.inputs import load_inputs
from survey.reports.outputs import render_summary_csv
from survey.reports.store import RenderedReport, save_report
from survey.reports.stored import get_report
from tests.reports.factories import expand, insert_responses, set_state

GROUPS = [
    "executive:Executive leaders and chair",
    "headteacher:Headteachers",
    "middle-leader:Middle leaders",
]
CODES = ("1A", "2A", "3A")


def reported_cycle(
    session: Session,
    make_cycle: Callable[..., Cycle],
    trust: Trust,
    title: str,
    answers: dict[str, dict[str, dict[str, int]]],
    *,
    year: int = 2026,
) -> Cycle:
    """answers[group][code] = {"green": 2, ...}: one response per answer, same count per code."""
    opens = datetime(year, 3, 2, 9, tzinfo=UTC)
    cycle = make_cycle(
        trust,
        title=title,
        opens_at=opens,
        closes_at=opens + timedelta(days=21),
        scope=",".join(CODES),
        groups=GROUPS,
        min_group_size=3,
    )
    for group, by_code in answers.items():
        insert_responses(session, cycle, group, {c: expand(n) for c, n in by_code.items()})
    set_state(cycle, CycleState.CLOSED)
    compiled = build_report(load_inputs(session, cycle))
    save_report(
        session, cycle, RenderedReport(compiled, {"summary.csv": render_summary_csv(compiled)})
    )
    cycle.mark_reported()
    session.commit()
    return cycle


def same(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    return {code: counts for code in CODES}


def summary_all_means(cycle: Cycle) -> dict[str, str]:
    """The cycle's published 'all' mean per element, from its stored summary.csv."""
    session = object_session(cycle)
    assert session is not None
    report = get_report(session, cycle)
    assert report is not None
    summary = report.file("summary.csv")
    assert summary is not None
    rows = csv.DictReader(io.StringIO(summary.content.decode()))
    return {r["element"]: r["mean"] for r in rows if r["group"] == "all"}


def xlsx_text(content: bytes) -> str:
    book = load_workbook(io.BytesIO(content))
    values: list[Any] = []
    for sheet in book.worksheets:
        values.append(sheet.title)
        for row in sheet.iter_rows(values_only=True):
            values.extend(v for v in row if v is not None)
    return "\n".join(str(v) for v in values)
