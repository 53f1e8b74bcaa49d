"""The report files: written, opening in their readers, with the heat map's words and colours,
and every comment inert; stored once per cycle; built by `mat-review report build`."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.models import CycleState, Report, ReportFile
from survey.reports.compile import compile_cycle
from survey.reports.email import render_report_email
from survey.reports.outputs import (
    CONTENT_TYPES,
    neutralise,
    render_report_html,
    write_report_files,
)
from survey.reports.palette import BANDS, HIDDEN
from survey.reports.store import store_report

from .conftest import Golden
from .factories import EXEC_SECRET, FORMULA_COMMENT, SCRIPT_COMMENT, set_state

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    return int(info.stdout.split("Pages:")[1].split()[0])


def test_all_files_are_written_and_open(session: Session, golden: Golden, tmp_path: Path) -> None:
    paths = write_report_files(compile_cycle(session, golden.cycle), tmp_path / "out")
    assert list(paths) == list(CONTENT_TYPES)
    assert all(p.parent == tmp_path / "out" and p.stat().st_size > 0 for p in paths.values())

    text = pdf_text(paths["report.pdf"])
    assert paths["report.pdf"].read_bytes().startswith(b"%PDF-")
    assert "Heat map" in text
    assert "Hidden: fewer than 3" in text
    assert "Amber green" in text and "Amber red" in text
    assert "Vision, culture and ethos" in text  # the framework's headings as section headings
    pages = pdf_pages(paths["report.pdf"])
    assert pages >= 2
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "<script>alert('x')</script>" in text  # shown as the words typed, never run
    assert EXEC_SECRET not in text

    book = load_workbook(paths["results.xlsx"])
    assert book.sheetnames == [
        "Summary",
        "Heat map",
        "Movement",
        "Headteachers",
        "Middle leaders",
        "All shown groups",
        "Comments",
    ]
    heat = book["Heat map"]
    assert heat.freeze_panes == "C2"
    assert heat["B2"].value == "1A Clarity of purpose"
    # Numbers in the coloured cells, each band's words in the cell beside it.
    assert heat["C2"].value is None
    assert heat["D2"].value == "Hidden: fewer than 3 responses"
    assert heat["C2"].fill.fgColor.rgb == "FF" + HIDDEN.fill.lstrip("#").upper()
    assert heat["E2"].value == 3.40 and heat["E2"].number_format == "0.00"
    assert heat["F2"].value == "Amber green"
    assert heat["E2"].fill.fgColor.rgb == "FF" + BANDS[2].fill.lstrip("#").upper()
    assert heat["F2"].fill.fgColor.rgb == "FF" + BANDS[2].fill.lstrip("#").upper()
    assert heat["G2"].value == 2.36 and heat["H2"].value == "Amber red"
    assert heat["G2"].fill.fgColor.rgb == "FF" + BANDS[1].fill.lstrip("#").upper()
    assert heat["E3"].value == 2.17 and heat["F3"].value == "Amber red"
    assert heat["K2"].value == 2.88  # the mean of the group means, beside the trust-wide
    movement = {
        (row[0], row[1]): row[2:5]
        for row in book["Movement"].iter_rows(min_row=2, values_only=True)
    }
    assert movement[("1A Clarity of purpose", "Headteachers")] == (2.40, 3.40, 1.00)
    assert movement[("2A Building capacity for improvement", "Headteachers")] == (1.4, 2.17, 0.77)
    comments = [row[1] for row in book["Comments"].iter_rows(min_row=2, values_only=True)]
    assert "'" + FORMULA_COMMENT in comments and SCRIPT_COMMENT in comments
    assert EXEC_SECRET not in comments
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
    middle = book["Middle leaders"]
    assert [c.value for c in middle[2]][:8] == ["1A Clarity of purpose", 12, 2, 4, 4, 1, 1, 2.36]

    png = paths["heatmap.png"].read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert width > 600 and height > 200

    rows = list(csv.reader(io.StringIO(paths["summary.csv"].read_text())))
    assert rows[1] == ["1A", "1", "executive", "2", "", "", "", "", "", "", "true"]
    assert paths["report.html"].read_text().startswith("<!doctype html>")


def test_text_cells_starting_like_a_formula_are_made_inert() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("Fine words") == "Fine words"
    assert neutralise("") == ""


def test_stored_report_is_compiled_once_and_served_as_stored(
    session: Session, golden: Golden
) -> None:
    first = store_report(session, golden.cycle)
    session.commit()
    assert {f.name: f.content_type for f in first.files} == CONTENT_TYPES
    stored_html = first.file("report.html")
    assert stored_html is not None
    again = store_report(session, golden.cycle)
    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(Report)) == 1
    assert session.scalar(select(func.count()).select_from(ReportFile)) == len(CONTENT_TYPES)

    # The admin page embeds the stored report: same words, its own scoped styles, no <html>.
    fragment = str(render_report_html(first, standalone=False))
    assert "<html" not in fragment and "<body" not in fragment
    assert '<article class="mat-report">' in fragment
    assert "@page" not in fragment
    body = stored_html.content.decode()
    article = body[body.index('<article class="mat-report">') : body.index("</article>")]
    assert article in fragment
    assert str(render_report_html(first)) == body


def test_an_open_cycle_is_not_reported(session: Session, golden: Golden) -> None:
    set_state(golden.cycle, CycleState.OPEN)
    with pytest.raises(Exception, match="it is open"):
        store_report(session, golden.cycle)


@pytest.mark.parametrize("state", [CycleState.CLOSED, CycleState.REPORTED])
def test_report_build_writes_the_files_and_prints_the_html_last(
    runner: FlaskCliRunner, session: Session, golden: Golden, tmp_path: Path, state: CycleState
) -> None:
    set_state(golden.cycle, state)
    session.commit()
    out = tmp_path / "report"
    result = runner.invoke(args=["report", "build", str(golden.cycle.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert sorted(Path(line).name for line in lines) == sorted(CONTENT_TYPES)
    assert lines[-1] == str((out / "report.html").resolve())
    assert all(Path(line).is_file() for line in lines)


def test_report_build_writes_the_stored_report_once_it_exists(
    runner: FlaskCliRunner, session: Session, golden: Golden, tmp_path: Path
) -> None:
    stored = store_report(session, golden.cycle)
    session.commit()
    out = tmp_path / "again"
    result = runner.invoke(args=["report", "build", str(golden.cycle.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    # Byte for byte what leadership received (comments are shuffled once, at compilation).
    for item in stored.files:
        assert (out / item.name).read_bytes() == item.content, item.name


def test_report_build_refuses_an_open_cycle_with_one_line(
    runner: FlaskCliRunner, session: Session, golden: Golden, tmp_path: Path
) -> None:
    set_state(golden.cycle, CycleState.OPEN)
    session.commit()
    result = runner.invoke(
        args=["report", "build", str(golden.cycle.id), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: cannot report on this cycle yet: it is open "
        "(a report is compiled once the cycle has closed)"
    ]
    assert not (tmp_path / "r").exists()


def test_report_email_summarises_heat_map_gaps_strengths_priorities(
    session: Session, golden: Golden
) -> None:
    compiled = compile_cycle(session, golden.cycle)
    row = store_report(session, golden.cycle, compiled)
    subject, text, html = render_report_email(
        golden.cycle, compiled, row, report_url="http://survey.test/admin/cycles/1/report"
    )
    assert subject == "Follow-up report: Spring 2026 review (Oak Learning Trust)"
    assert "1A Clarity of purpose" in text
    assert "Headteachers: Amber green (3.40)" in text
    assert "Executive leaders: Hidden: fewer than 3 responses" in text
    assert "gap 1.04" in text and "3A Approach to pedagogy: mean 3.35 (Amber green)" in text
    assert "Attached: report.pdf, results.xlsx" in text
    assert "<style" not in html  # mail clients drop style blocks: styles are inline
    assert f"background:{BANDS[2].fill};" in html
    assert "<strong>Amber green</strong><br>3.40" in html
    assert "gap 1.04" in html and "Strengths" in html and "Priorities" in html
    assert 'href="http://survey.test/admin/cycles/1/report"' in html
    # Figures only: no comments in the email at all.
    assert "Teaching is observed termly" not in text + html
    assert EXEC_SECRET not in text + html
