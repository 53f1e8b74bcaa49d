"""The board paper on a real-size cycle (all questions, four groups with one hidden, a previous
cycle on fewer questions, comments naming people and schools), on both databases: the findings
first, the heat map whole on one page, the paper before its appendix in at most 6 pages, a
tagged PDF; comments that identify no one in the HTML, the PDF's text and the spreadsheet, and
none at all when a compile comes after the names were purged."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from survey.models import CycleState
from survey.reports.compile import build_report, compile_cycle
from survey.reports.email import render_report_email
from survey.reports.outputs import render_pdf, render_report_html, write_report_files
from survey.reports.store import store_report
from survey.services.comment_redaction import Redactor
from survey.services.cycles import purge_cycle

from .conftest import IDENTIFIERS, RealSize
from .factories import set_state
from .test_rankings import ALL_CODES, make_inputs

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def pdf_pages_text(path: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return text.split("\f")[:-1]


def xlsx_text(path: Path) -> str:
    book = load_workbook(path)
    return "\n".join(
        str(cell.value)
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    )


def leaks(text: str) -> list[str]:
    return [word for word in IDENTIFIERS if word.lower() in text.lower()]


def test_real_size_board_paper_layout_and_redaction(
    session: Session, real_size: RealSize, tmp_path: Path
) -> None:
    report = compile_cycle(session, real_size.cycle)
    paths = write_report_files(report, tmp_path / "out")
    # Kept for a person to look at (pdftoppm), as the browser tests keep their screenshots.
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("report.pdf", "report.html", "results.xlsx", "gaps.png", "heatmap.png"):
        target = ARTIFACTS / f"board-paper-real-size-{session.bind.dialect.name}-{name}"
        target.write_bytes(paths[name].read_bytes())
    assert set(paths) >= {"gaps.png", "heatmap.png", "report.pdf", "results.xlsx"}

    info = subprocess.run(
        ["pdfinfo", str(paths["report.pdf"])], check=True, capture_output=True, text=True
    ).stdout
    assert re.search(r"Tagged:\s+yes", info)
    assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+", info)  # A4
    pages = pdf_pages_text(paths["report.pdf"])

    # Page 1: the summary: response rates, then the findings in sentences.
    first = pages[0]
    assert "Response rates" in first and "Findings" in first
    for heading in ("Strongest", "Priorities", "Where groups disagree most", "What moved"):
        assert heading in first
    # The heat map, whole, on one page: every element on the page that starts it.
    heat = [i for i, page in enumerate(pages) if "2. Heat map" in page]
    assert len(heat) == 1
    heat_page = pages[heat[0]]
    for element in report.elements:
        assert re.search(rf"\b{element.element.code} ", heat_page), element.element.code
    assert "Appendix" not in heat_page
    # The paper before its appendix fits in 6 pages.
    appendix = next(i for i, page in enumerate(pages) if "Appendix A." in page)
    assert appendix <= 6, f"the appendix starts on page {appendix + 1}"

    # Comments: no name, school, address or phone number in any output.
    html = paths["report.html"].read_text()
    pdf = "\n".join(pages)
    xlsx = xlsx_text(paths["results.xlsx"])
    for output in (html, pdf, xlsx):
        assert leaks(output) == []
        assert "TRUSTEE-ONLY" not in output
    flat_pdf = " ".join(pdf.split())
    for placeholder in ("[a person]", "[a school]", "[an email]", "[a phone number]"):
        assert placeholder in flat_pdf
        assert placeholder in xlsx
    assert "[a person] at [a school] did not share the plan with us." in flat_pdf
    assert "Ask [a person]: [a school] has the best moderation; email [an email]." in xlsx
    assert "Ring me on [a phone number] or [a phone number] and I'll explain." in xlsx
    assert "Moderation is strong in English and maths." in xlsx  # nothing else is touched
    # Where comments are withheld: how many groups and why, never whose.
    assert "Comments from 2 groups are not shown: each has fewer than 5 responses" in flat_pdf

    # Movement: the scope changed (questions to start with, then all).
    assert "The scope changed: Autumn review 2025 asked" in flat_pdf

    # The spreadsheet's heat map holds numbers, with the band word beside each.
    book = load_workbook(paths["results.xlsx"])
    heat_sheet = book["Heat map"]
    assert heat_sheet.freeze_panes == "C2"
    first_row = [c.value for c in heat_sheet[2]]
    assert isinstance(first_row[4], float)  # headteachers' mean for 1A
    assert first_row[5] in {"Red", "Amber red", "Amber green", "Green"}
    assert first_row[8] is None  # trustees: hidden, no number
    assert first_row[9] == "Hidden: fewer than 3 responses"
    moves = book["Movement"]
    assert moves.freeze_panes == "A2"
    compared = [r for r in moves.iter_rows(min_row=2, values_only=True) if r[2] is not None]
    assert compared
    for _, _, before, now, change, _ in compared:
        assert round(now - before, 2) == change


def test_after_a_purge_a_recompile_withholds_every_comment(
    session: Session, real_size: RealSize, tmp_path: Path
) -> None:
    set_state(real_size.cycle, CycleState.REPORTED)
    purge_cycle(session, real_size.cycle, "test")
    session.commit()
    report = compile_cycle(session, real_size.cycle)
    assert report.comment_count == 0
    paths = write_report_files(report, tmp_path / "after")
    text = " ".join("\n".join(pdf_pages_text(paths["report.pdf"])).split())
    assert "compiled after the cycle's names and schools were removed" in text
    assert leaks(text) == []
    assert leaks(xlsx_text(paths["results.xlsx"])) == []


def test_the_redactor_on_every_kind_of_detail() -> None:
    redact = Redactor.from_identifiers(
        ["Siobhan Okafor", "Will Hope", "J"],
        ["Oakfield Primary School", "St Aidan's CE Junior School", ""],
        ["s.okafor@oakfield.example"],
    )
    assert redact("Siobhan Okafor said so") == "[a person] said so"
    assert redact("ask mrs okafor") == "ask mrs okafor"  # a lone part needs its capital
    assert redact("ask Mrs Okafor or Dr. Okafor") == "ask [a person] or [a person]"
    assert redact("SIOBHAN OKAFOR") == "[a person]"  # the whole name in any case
    # Lone parts match only with their capital; a whole name in any case (so a name typed in
    # lower case is caught, at the cost of "we will hope" in the rare case of a Will Hope).
    assert redact("We hope it will work") == "We hope it will work"
    assert redact("siobhan okafor and will hope") == "[a person] and [a person]"
    assert redact("Will said Hope would") == "[a person] said [a person] would"
    assert redact("at oakfield primary school, and Oakfield") == "at [a school], and [a school]"
    assert redact("St Aidan's CE Junior School") == "[a school]"
    assert redact("mail S.Okafor@Oakfield.example now") == "mail [an email] now"
    assert redact("or a.b@c.example.org") == "or [an email]"
    assert redact("call 07700 900123") == "call [a phone number]"
    assert redact("call +44 (0)20 7946 0958.") == "call [a phone number]."
    assert redact("call 0117-496-0123") == "call [a phone number]"
    # Years, dates and figures are not phone numbers.
    kept = "In 2024-2025, 12/03/2026, 45% of 1,200 pupils; plan 3.2.1"
    assert redact(kept) == kept


def test_a_wide_heat_map_gets_a_landscape_page_of_its_own(tmp_path: Path, jinja_env: Any) -> None:
    rng = random.Random(6)
    keys = ["red", "amber-red", "amber-green", "green", "dont-know"]
    sizes = {"executive": 4, "headteacher": 9, "middle-leader": 22, "senior-leader": 12,
             "governor": 2, "trustee": 2}  # fmt: skip
    groups = [
        (key, False, {c: [rng.choice(keys) for _ in range(n)] for c in ALL_CODES})
        for key, n in sizes.items()
    ]
    report = build_report(make_inputs(groups))
    assert len(report.columns) == 8  # six groups, the two small ones combined, trust-wide
    pdf = tmp_path / "wide.pdf"
    pdf.write_bytes(render_pdf(str(render_report_html(report, env=jinja_env))))
    pages = pdf_pages_text(pdf)
    heat = [i for i, page in enumerate(pages) if "2. Heat map" in page]
    assert len(heat) == 1
    for code in ALL_CODES:
        assert re.search(rf"\b{code} ", pages[heat[0]]), code
    assert "Hidden: not enough responses" in pages[heat[0]]  # the legend too
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", str(len(pages)), str(pdf)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sizes_by_page = re.findall(r"Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+)", info)
    landscape = [int(n) - 1 for n, w, h in sizes_by_page if float(w) > float(h)]
    assert landscape == heat


def test_the_report_email_quotes_no_comment(session: Session, real_size: RealSize) -> None:
    """The email summarises figures only: no comment, so nothing in it to redact."""
    compiled = compile_cycle(session, real_size.cycle)
    row = store_report(session, real_size.cycle, compiled)
    subject, text, html = render_report_email(real_size.cycle, compiled, row)
    for part in (subject, text, html):
        assert leaks(part) == []
        assert "[a person]" not in part and "Moderation is strong" not in part
    assert "4B Intentional use of assessment" in text  # the disagreement is named
