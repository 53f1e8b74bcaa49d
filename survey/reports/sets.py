"""A set's report and a peer review pack as files: the web page (HTML, the house style of the
trust report), the PDF (WeasyPrint) and the spreadsheet (openpyxl), rendered from
`survey.reports.set_figures` (stored figures only). No pandas, no matplotlib: the set's pages
render these in the request. Heavy libraries are imported only when their file is made."""

from __future__ import annotations

from typing import Any

from flask import current_app
from markupsafe import Markup

import framework as fw
from survey.reports import palette
from survey.reports.files import neutralise, paint, render_pdf, workbook_bytes
from survey.reports.set_figures import Cell, PeerReview, SetReport
from survey.timeutil import utcnow

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _swatch(c: Cell, scale: fw.Scale) -> palette.Swatch:
    if not c.mean or c.level is None:
        return palette.HIDDEN
    return palette.swatch_for(c.level.score, len(scale.levels))


def _context(scale: fw.Scale) -> dict[str, Any]:
    def cell_style(c: Cell) -> str:
        return palette.css(_swatch(c, scale))

    def level_style(level: fw.ScaleLevel) -> str:
        return palette.css(palette.swatch_for(level.score, len(scale.levels)), text=False)

    return {
        "cell_style": cell_style,
        "level_style": level_style,
        "compiled_at": utcnow().strftime("%d %B %Y"),
    }


def render_set_html(report: SetReport, *, standalone: bool = True) -> Markup:
    template = current_app.jinja_env.get_template("report/set.html")
    html = template.render(report=report, standalone=standalone, **_context(report.scale))
    return Markup(html)  # noqa: S704 -- autoescaped template output


def render_peer_review_html(review: PeerReview, *, standalone: bool = True) -> Markup:
    template = current_app.jinja_env.get_template("report/peer_review.html")
    html = template.render(review=review, standalone=standalone, **_context(review.scale))
    return Markup(html)  # noqa: S704 -- autoescaped template output


def set_report_pdf(report: SetReport) -> bytes:
    return render_pdf(str(render_set_html(report)))


def peer_review_pdf(review: PeerReview) -> bytes:
    return render_pdf(str(render_peer_review_html(review)))


def set_report_xlsx(report: SetReport) -> bytes:
    """A heat map sheet (numbers in coloured cells), the set's groups, who to learn from,
    movement and disagreement: the same figures as the page, nothing more."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Heat map"
    bold = Font(bold=True)
    if not report.is_shown:
        sheet.append([neutralise(report.name)])
        sheet.append([report.reason])
        return workbook_bytes(book)
    sheet.append(["Element", *[neutralise(t.display) for t in report.trusts], "Set"])
    for cell in sheet[1]:
        cell.font = bold
    for row in report.elements:
        values: list[Any] = [neutralise(row.label)]
        values += [float(c.mean) if c.mean else "Not shared" for c in [*row.cells, row.set_cell]]
        sheet.append(values)
        for column, c in enumerate([*row.cells, row.set_cell], start=2):
            paint(sheet.cell(row=sheet.max_row, column=column), _swatch(c, report.scale))
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 48
    groups = book.create_sheet("By group")
    heads = [neutralise(f"{k.label} ({k.trust_count} trusts)") for k in report.group_kinds]
    groups.append(["Element", *heads])
    for row in report.elements:
        groups.append(
            [
                neutralise(row.label),
                *[
                    float(k.cells[row.element.code].mean) if k.cells[row.element.code].mean else ""
                    for k in report.group_kinds
                ],
            ]
        )
    learn = book.create_sheet("Who to learn from")
    learn.append(["Element", "Rates itself strongest", "Its mean", "Set mean"])
    for row in report.elements:
        learn.append(
            [
                neutralise(row.label),
                neutralise(", ".join(row.leaders)),
                float(row.leader_mean),
                float(row.set_cell.mean),
            ]
        )
    moves = book.create_sheet("Movement")
    moves.append(["Trust", "Element", "Before", "Now", "Change"])
    for move in report.movement:
        moves.append(
            [
                neutralise(move.trust),
                f"{move.element.code} {move.element.title}",
                float(move.previous),
                float(move.current),
                move.change,
            ]
        )
    gaps = book.create_sheet("Disagreement")
    gaps.append(["Trust", "Element", "Higher group", "Mean", "Lower group", "Mean", "Gap", "Set"])
    for d in report.disagreements:
        gaps.append(
            [
                neutralise(d.trust),
                f"{d.element.code} {d.element.title}",
                neutralise(d.high),
                float(d.high_mean),
                neutralise(d.low),
                float(d.low_mean),
                float(d.gap),
                float(d.set_gap) if d.set_gap else "",
            ]
        )
    for extra in (groups, learn, moves, gaps):
        for cell in extra[1]:
            cell.font = bold
        extra.column_dimensions["A"].width = 30
    return workbook_bytes(book)
