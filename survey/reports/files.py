"""What every report-like document (the board paper, the plan, a set's report and a peer review
pack) does the same way when it becomes a file: spreadsheet text made inert, the PDF rendered A4
and tagged, a workbook saved with its strings as strings.

Light on purpose (WeasyPrint is imported when a PDF is made), so that the web pages that offer
plan and set downloads may import it: it names nothing of the report compiler.
"""

from __future__ import annotations

import io
from typing import Any

from survey.reports.palette import Swatch

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Make a text cell inert in spreadsheets: a leading formula character gets a `'`."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def render_pdf(html: str) -> bytes:
    """A4, tagged for assistive technology (PDF/UA-1), as every document of ours."""
    from weasyprint import HTML

    pdf = HTML(string=html, base_url=None).write_pdf(pdf_variant="pdf/ua-1")
    assert pdf is not None
    return bytes(pdf)


def argb(colour: str) -> str:
    """'#a61b1b' -> 'FFA61B1B' (opaque; openpyxl would otherwise store alpha 00)."""
    return "FF" + colour.lstrip("#").upper()


def paint(cell: Any, swatch: Swatch) -> None:
    """Colour a spreadsheet cell as the heat map colours its band: fill and readable text."""
    from openpyxl.styles import Font, PatternFill

    colour = argb(swatch.fill)
    cell.fill = PatternFill(fill_type="solid", start_color=colour, end_color=colour)
    cell.font = Font(color=argb(swatch.text))


def workbook_bytes(book: Any) -> bytes:
    """An openpyxl workbook as XLSX bytes. openpyxl stores any string that starts with "=" as a
    formula; neutralise() has already prefixed those, and every string cell is pinned to the
    string type to be sure, whatever a trust named its groups or wrote in an action."""
    for sheet in book.worksheets:
        for sheet_row in sheet.iter_rows():
            for cell in sheet_row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
