"""Storing a cycle's compiled report in the database, once.

Compiling has three steps, so that a caller can keep its transactions short: `load_inputs`
(queries only), `render_report` (pure: figures, then the report files; the slow part, PDF and PNG),
and `save_report` (a few inserts). The scheduler's job reads in one short read-only transaction,
renders with no transaction open, then saves (jobs/tasks.py); `store_report` does all three in
the caller's transaction.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.models import Cycle, CycleState, Report, ReportFigure, ReportFile
from survey.reports.compile import ALL, CycleInputs, CycleReport, build_report, load_inputs
from survey.reports.outputs import CONTENT_TYPES, render_report_files
from survey.reports.stored import get_report

REPORTABLE_STATES = (CycleState.CLOSED, CycleState.REPORTED)
# The scheduler renders reports (PDF, PNG: seconds of CPU) at this niceness, so that web
# requests on the same machine (the embedded default runs both) are served first.
RENDER_NICENESS = 10


def ensure_reportable(cycle: Cycle) -> None:
    """Only a closed (sealed) cycle is reported on: an open one is still taking answers."""
    if cycle.state not in REPORTABLE_STATES:
        raise UserError(
            f"cannot report on this cycle yet: it is {cycle.state.value} "
            "(a report is compiled once the cycle has closed)"
        )


@dataclass(frozen=True)
class RenderedReport:
    """A compiled report's figures and files, not yet stored."""

    compiled: CycleReport
    files: dict[str, bytes]


def render_report(inputs: CycleInputs) -> RenderedReport:
    """The figures and the files from what `load_inputs` read (no database needed)."""
    compiled = build_report(inputs)
    return RenderedReport(compiled, render_report_files(compiled))


def render_report_in_background(inputs: CycleInputs) -> RenderedReport:
    """`render_report` in a thread of its own at a lower CPU priority (on Linux, where the
    priority is a thread's own); returns when it is done, or raises what it raised."""
    outcome: list[RenderedReport | BaseException] = []
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # templates render in it

    def work() -> None:
        if sys.platform == "linux":
            # Not allowed (a sandbox): render at the usual priority.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICENESS)
        try:
            with app.app_context():
                outcome.append(render_report(inputs))
        except BaseException as exc:  # handed to the caller's thread below
            outcome.append(exc)

    thread = threading.Thread(target=work, name="render-report")
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def save_report(session: Session, cycle: Cycle, rendered: RenderedReport) -> Report:
    """Keep the rendered files as the cycle's Report, unless it has one already (then that
    one is returned unchanged: everyone reads the same board paper). Flushes, never commits."""
    existing = get_report(session, cycle)
    if existing is not None:
        return existing
    ensure_reportable(cycle)
    row = Report(
        cycle_id=cycle.id,
        compiled_at=rendered.compiled.compiled_at,
        files=[
            ReportFile(name=name, content_type=CONTENT_TYPES[name], content=content)
            for name, content in rendered.files.items()
        ],
    )
    session.add(row)
    session.flush()
    session.add_all(published_figures(row.id, rendered.compiled))
    session.flush()
    return row


def published_figures(report_id: int, compiled: CycleReport) -> list[ReportFigure]:
    """The figures summary.csv publishes, as rows: each shown group's and the 'all' column's
    (the shown groups together) per element. Hidden groups and the combined 'other groups'
    column have none, so nothing that reads these rows (set reports, the benchmark) can show
    them."""
    keys = compiled.scale.keys
    columns = [c for c in compiled.columns if c.kind == "group" or c.key == ALL]
    rows = []
    for element in compiled.elements:
        for column in columns:
            cell = element.cells[column.key]
            if cell.counts is None:
                continue
            rows.append(
                ReportFigure(
                    report_id=report_id,
                    element_code=element.element.code,
                    group_key=column.key,
                    group_label=column.label,
                    responses=cell.responses,
                    rated=cell.rated,
                    score_total=cell.score_total,
                    dont_know=cell.dont_know,
                    counts=",".join(f"{key}={cell.counts.get(key, 0)}" for key in keys),
                    mean=cell.mean_text,
                )
            )
    return rows


def store_report(session: Session, cycle: Cycle, compiled: CycleReport | None = None) -> Report:
    """Compile the cycle (unless `compiled` is given), render the files and keep them as a
    Report with ReportFile rows, all in the caller's transaction.

    Idempotent: a cycle that already has a report gets that report back unchanged (it is
    compiled once per cycle, so everyone reads the same board paper). Flushes, never commits.
    """
    existing = get_report(session, cycle)
    if existing is not None:
        return existing
    ensure_reportable(cycle)
    if compiled is None:
        return save_report(session, cycle, render_report(load_inputs(session, cycle)))
    return save_report(session, cycle, RenderedReport(compiled, render_report_files(compiled)))
