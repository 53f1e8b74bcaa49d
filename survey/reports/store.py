"""Storing a cycle's compiled report in the database, once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.models import Cycle, CycleState, Report, ReportFile
from survey.reports.compile import compile_cycle
from survey.reports.outputs import CONTENT_TYPES, render_report_files, write_files

REPORTABLE_STATES = (CycleState.CLOSED, CycleState.REPORTED)


def ensure_reportable(cycle: Cycle) -> None:
    """Only a closed (sealed) cycle is reported on: an open one is still taking answers."""
    if cycle.state not in REPORTABLE_STATES:
        raise UserError(
            f"cannot report on cycle {cycle.id}: it is {cycle.state.value} "
            "(a report is compiled once the cycle has closed)"
        )


def get_report(session: Session, cycle: Cycle) -> Report | None:
    return session.scalar(select(Report).where(Report.cycle_id == cycle.id))


def write_stored_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write a stored report's files, byte for byte as leadership received them (all or none,
    as `write_files`)."""
    return write_files(out_dir, {item.name: item.content for item in report.files})


def store_report(session: Session, cycle: Cycle) -> Report:
    """Compile the cycle, render the five files and keep them as a Report with ReportFile rows.

    Idempotent: a cycle that already has a report gets that report back unchanged (it is
    compiled once per cycle, so everyone reads the same board paper). Flushes, never commits.
    """
    existing = get_report(session, cycle)
    if existing is not None:
        return existing
    ensure_reportable(cycle)
    compiled = compile_cycle(session, cycle)
    files = render_report_files(compiled)
    row = Report(
        cycle_id=cycle.id,
        compiled_at=compiled.compiled_at,
        files=[
            ReportFile(name=name, content_type=CONTENT_TYPES[name], content=content)
            for name, content in files.items()
        ],
    )
    session.add(row)
    session.flush()
    return row
