"""The report files, all from one compiled `CycleReport`.

- report.html: self-contained (inline CSS, no external URLs), autoescaped;
- report.pdf: the same HTML through WeasyPrint (A4, page numbers from @page counters);
- results.xlsx: heat map sheet with fills and frozen headers, a sheet per shown column, comments;
- summary.csv: the SPEC section 8 contract;
- heatmap.png: matplotlib (Agg), hatched per band so it reads in greyscale;
- gaps.png: the group means side by side per element (survey.reports.charts), for slides.

Templates (top-level templates/report/) are rendered with the app's one Jinja environment, whose
report filters `survey.reports.init_app` registers: requests, jobs and commands all run in an app
context. Heavy libraries (WeasyPrint, matplotlib, openpyxl) are imported only when their file is
made.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app
from jinja2 import Environment
from markupsafe import Markup

import framework as fw
from survey.models import Report
from survey.reports import charts, palette
from survey.reports.compile import (
    ALL,
    DISAGREEMENT_GAP,
    Cell,
    Column,
    CycleReport,
)
from survey.reports.files import neutralise, paint, render_pdf, workbook_bytes
from survey.reports.filters import cell_swatch
from survey.reports.stored import stored_report_html, write_files
from survey.templating import counted
from survey.timeutil import format_local

CONTENT_TYPES = {
    "report.html": "text/html; charset=utf-8",
    "report.pdf": "application/pdf",
    "results.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "summary.csv": "text/csv; charset=utf-8",
    "heatmap.png": "image/png",
    "gaps.png": "image/png",
}


# -- shared helpers -----------------------------------------------------------------------------


def scope_text(scope: fw.Scope) -> str:
    if scope.kind == "start":
        return "the questions to start with, every element"
    if scope.kind == "all":
        return "all questions, every element"
    return "elements " + ", ".join(scope.codes)


def band_range(level: fw.ScaleLevel, levels: int) -> str:
    """The means that fall in a band (level_for_mean rounds half up)."""
    low = 1.0 if level.score == 1 else level.score - 0.5
    high = float(levels) if level.score == levels else level.score + 0.49
    return f"{low:.2f} to {high:.2f}"


def cell_words(cell: Cell) -> str:
    """A cell in words, for the spreadsheet and the PNG."""
    if cell.is_hidden:
        return f"Hidden: {cell.hidden_reason}"
    if cell.level is None:
        return "No ratings"
    return f"{cell.level.label} ({cell.mean_text})"


def get_template_env() -> Environment:
    """The app's Jinja environment: the one that renders pages, emails and reports."""
    return current_app.jinja_env


def report_context(report: CycleReport) -> dict[str, Any]:
    invited = sum(r.invited for r in report.rates)
    completed = sum(r.completed for r in report.rates)
    with_gap = list(report.gaps)
    without_gap = [r for r in report.elements if r.gap is None]
    return {
        "report": report,
        "info": report.info,
        "framework": report.framework,
        "scope_text": scope_text(report.info.scope),
        "total_rate": completed / invited if invited else None,
        "comparison_order": with_gap + without_gap,
        "band_range": lambda level: band_range(level, len(report.scale.levels)),
        "disagreement_gap": DISAGREEMENT_GAP,
        "short_label": lambda key: "Don't know" if key == fw.DONT_KNOW else report.scale.label(key),
    }


# -- HTML and PDF -------------------------------------------------------------------------------


def render_report_html(
    report: CycleReport | Report, *, standalone: bool = True, env: Environment | None = None
) -> Markup:
    """The report as HTML: a whole self-contained page, or (standalone=False) the fragment the
    admin page embeds (scoped styles and the report's <article>). `env` is the app's Jinja
    environment (by default the current app's).

    Given a stored `Report` row, its stored report.html is used, so the page shows exactly the
    board paper that was emailed (same comment order). Returned as Markup: the report's own
    templates have escaped everything a person typed (no `|safe` on user text anywhere).
    """
    if isinstance(report, Report):
        return stored_report_html(report, env or get_template_env(), standalone=standalone)
    template = (env or get_template_env()).get_template("report/report.html")
    html = template.render(
        standalone=standalone, charts=report_charts(report), **report_context(report)
    )
    return Markup(html)  # noqa: S704 -- autoescaped template output


def report_charts(report: CycleReport) -> dict[str, str]:
    """The report's charts as PNG data URIs (none when there are no trust-wide figures)."""
    if not any(r.overall.mean_text for r in report.elements):
        return {}
    return {
        "gaps": charts.png_data_uri(charts.gaps_figure(report)),
        "distribution": charts.png_data_uri(charts.distribution_figure(report)),
    }


# -- CSV ----------------------------------------------------------------------------------------


def csv_header(report: CycleReport) -> list[str]:
    keys = [key.replace("-", "_") for key in report.scale.keys]
    return ["element", "heading", "group", "responses", *keys, "dont_know", "mean", "suppressed"]


def summary_rows(report: CycleReport) -> list[list[str]]:
    """summary.csv rows: (element, group) in framework order, groups in cycle order, then all.
    A hidden group keeps its number of responses (public in the summary); its counts and mean
    are empty. The combined 'other groups' column is not a group and has no rows here."""
    columns: list[Column] = [c for c in report.columns if c.kind == "group"]
    columns.append(report.column(ALL))
    rows: list[list[str]] = []
    for element in report.elements:
        for column in columns:
            cell = element.cells[column.key]
            row = [element.element.code, str(element.heading.number), column.key]
            row.append(str(cell.responses))
            if cell.counts is None:
                row.extend([""] * (len(report.scale.keys) + 2))
                row.append("true")
            else:
                row.extend(str(cell.counts[key]) for key in report.scale.keys)
                row.append(str(cell.dont_know))
                row.append(cell.mean_text)
                row.append("false")
            rows.append(row)
    return rows


def render_summary_csv(report: CycleReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_header(report))
    for row in summary_rows(report):
        writer.writerow([neutralise(value) for value in row])
    return out.getvalue().encode("utf-8")


# -- spreadsheet --------------------------------------------------------------------------------


def _sheet_title(label: str, used: set[str]) -> str:
    cleaned = "".join(ch for ch in label if ch not in "[]:*?/\\").strip("' ") or "Sheet"
    title, n = cleaned[:31], 1
    while title.lower() in used:
        n += 1
        suffix = f" ({n})"
        title = cleaned[: 31 - len(suffix)] + suffix
    used.add(title.lower())
    return title


def render_xlsx(report: CycleReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    centre = Alignment(wrap_text=True, horizontal="center", vertical="center")
    header_fill = PatternFill(fill_type="solid", start_color="FFF0F0F0", end_color="FFF0F0F0")

    def text(value: str) -> str:
        return neutralise(value)

    book = Workbook()
    used: set[str] = set()

    summary = book.active
    assert summary is not None
    summary.title = _sheet_title("Summary", used)
    info = report.info
    facts = [
        ("Cycle", info.title),
        ("Trust", info.trust_name),
        ("Opened", format_local(info.opens_at, info.timezone)),
        ("Closed", format_local(info.closed_at or info.closes_at, info.timezone)),
        ("Framework", f"{report.framework.title} (version {report.framework.version[:12]})"),
        ("Scope", scope_text(info.scope)),
        ("Ratings shown for groups of at least", str(info.min_group_size)),
        (
            "Comments shown for groups of at least",
            str(info.comment_threshold),
        ),
        ("Previous cycle", report.previous_title or "none"),
    ]
    for label, value in facts:
        summary.append([label, text(value)])
        summary.cell(summary.max_row, 1).font = bold
    summary.append([])
    summary.append(["Group", "Invited", "Completed", "Declined", "Failed", "In this report"])
    for cell in summary[summary.max_row]:
        cell.font = bold
    for rate in report.rates:
        column = report.column(rate.key)
        shown = "shown" if column.is_shown else column.note
        summary.append(
            [text(rate.label), rate.invited, rate.completed, rate.declined, rate.failed, shown]
        )
    summary.append([])
    for rule in [*report.rules, *report.ranking_rules]:
        summary.append([text(rule)])
    summary.column_dimensions["A"].width = 38
    summary.column_dimensions["B"].width = 60

    # The heat map: a number (the mean) in each coloured cell, its band word beside it.
    heat = book.create_sheet(_sheet_title("Heat map", used))
    header: list[str] = ["Heading", "Element"]
    for c in report.columns:
        header += [f"{c.label} ({counted(c.responses, 'response')}): mean", f"{c.label}: band"]
    header.append("All shown groups: mean of group means")
    if report.agreed:
        header.append("Leadership's agreed view (not a survey figure)")
    heat.append(header)
    for cell in heat[1]:
        cell.font, cell.alignment, cell.fill = bold, centre, header_fill
    heat.row_dimensions[1].height = 48
    for row in report.elements:
        cells: list[Any] = [
            text(f"{row.heading.number}. {row.heading.title}"),
            text(f"{row.element.code} {row.element.title}"),
        ]
        for c in report.columns:
            figure = row.cells[c.key]
            if figure.is_hidden:
                cells += [None, f"Hidden: {figure.hidden_reason}"]
            elif figure.level is None:
                cells += [None, "No ratings"]
            else:
                cells += [float(figure.mean_text), figure.level.label]
        cells.append(float(row.group_means_text) if row.group_means_text else None)
        agreed = report.agreed.get(row.element.code)
        if report.agreed:
            cells.append(agreed.label if agreed else "Not agreed")
        heat.append(cells)
        if agreed is not None:
            swatch = palette.swatch_for(agreed.score, len(report.scale.levels))
            paint(heat.cell(heat.max_row, heat.max_column), swatch)
        for offset, column in enumerate(report.columns):
            swatch = cell_swatch(row.cells[column.key], report)
            for target in (
                heat.cell(heat.max_row, 3 + 2 * offset),
                heat.cell(heat.max_row, 4 + 2 * offset),
            ):
                paint(target, swatch)
                target.alignment = centre
            heat.cell(heat.max_row, 3 + 2 * offset).number_format = "0.00"
    heat.cell(heat.max_row, 3 + 2 * len(report.columns)).number_format = "0.00"
    heat.freeze_panes = "C2"
    heat.column_dimensions["A"].width = 30
    heat.column_dimensions["B"].width = 40
    for offset in range(2 * len(report.columns) + 1 + bool(report.agreed)):
        heat.column_dimensions[get_column_letter(3 + offset)].width = 14
    heat.append([])
    if report.weighting_note:
        heat.append([text(report.weighting_note)])

    # Movement: the two means as printed and their difference, per element and column.
    moves = book.create_sheet(_sheet_title("Movement", used))
    moves.append(["Element", "Column", "Previous mean", "Mean", "Change", "Note"])
    for cell in moves[1]:
        cell.font, cell.fill = bold, header_fill
    for row in report.elements:
        for move in row.movements:
            label = text(f"{row.element.code} {row.element.title}")
            if move.reason:
                moves.append([label, text(move.column.label), None, None, None,
                              text(f"Not compared: {move.reason}")])  # fmt: skip
                continue
            change = Decimal(move.text) - Decimal(move.previous_text)
            moves.append([label, text(move.column.label), float(move.previous_text),
                          float(move.text), float(change), text(move.note)])  # fmt: skip
            for col in (3, 4, 5):
                moves.cell(moves.max_row, col).number_format = "0.00"
            moves.cell(moves.max_row, 5).number_format = "+0.00;-0.00;0.00"
    if not report.previous_title:
        moves.append([text(report.previous_note)])
    for note in report.movement_notes:
        moves.append([text(note)])
    moves.freeze_panes = "A2"
    moves.column_dimensions["A"].width = 40
    moves.column_dimensions["B"].width = 28
    moves.column_dimensions["F"].width = 60

    keys = list(report.answer_keys)
    for column in report.columns:
        if not column.is_shown:
            continue
        sheet = book.create_sheet(_sheet_title(column.label, used))
        sheet.append(
            [
                "Element",
                "Responses",
                *(report.scale.label(k) for k in keys),
                "Mean",
                "Band",
                "Standard deviation",
                "Share at most common rating",
            ]
        )
        for cell in sheet[1]:
            cell.font, cell.fill = bold, header_fill
        for row in report.elements:
            figure = row.cells[column.key]
            values: list[Any] = [text(f"{row.element.code} {row.element.title}"), figure.responses]
            if figure.counts is None:
                values.append(f"Hidden: {figure.hidden_reason}")
            else:
                values.extend(figure.counts[k] for k in keys)
                values.append(float(figure.mean_text) if figure.mean_text else None)
                values.append(figure.level.label if figure.level else "No ratings")
                values.append(round(figure.sd, 2) if figure.sd is not None else None)
                values.append(
                    round(figure.modal_share, 2) if figure.modal_share is not None else None
                )
            sheet.append(values)
        sheet.freeze_panes = "B2"
        sheet.column_dimensions["A"].width = 40

    if report.last_year:
        # Last year's priorities: the actions and their status, beside the trust-wide movement.
        past = book.create_sheet(_sheet_title("Last year's actions", used))
        past.append(["Element", "Movement (all shown groups)", "Action", "Owner", "Status",
                     "Success measure", "Latest progress note"])  # fmt: skip
        for cell in past[1]:
            cell.font, cell.fill = bold, header_fill
        for item in report.last_year:
            overall = next((m for m in item.movements if m.column.key == ALL), None)
            moved = ""
            if overall is not None and overall.change_text:
                moved = f"{overall.previous_text} to {overall.text}: {overall.change_text}"
            elif overall is not None:
                moved = f"not compared: {overall.reason}"
            for action in item.priority.actions or ():
                past.append([text(f"{item.code} {item.title}"), text(moved), text(action.what),
                             text(action.owner), action.status, text(action.success_measure),
                             text(action.last_note)])  # fmt: skip
            if not item.priority.actions:
                past.append([text(f"{item.code} {item.title}"), text(moved), "No actions"])
        past.freeze_panes = "A2"
        for letter, width in zip("ABCDEFG", (36, 24, 50, 22, 12, 40, 50), strict=True):
            past.column_dimensions[letter].width = width

    comments = book.create_sheet(_sheet_title("Comments", used))
    comments.append(["Element", "Comment (random order)"])
    for cell in comments[1]:
        cell.font, cell.fill = bold, header_fill
    for note in report.comment_notes:
        comments.append(["", text(note)])
    for row in report.elements:
        for comment in row.comments:
            comments.append([text(f"{row.element.code} {row.element.title}"), text(comment)])
            comments.cell(comments.max_row, 2).alignment = wrap
    comments.freeze_panes = "A2"
    comments.column_dimensions["A"].width = 36
    comments.column_dimensions["B"].width = 100

    return workbook_bytes(book)


# -- PNG ----------------------------------------------------------------------------------------


def render_heatmap_png(report: CycleReport) -> bytes:
    """The heat map as an image: band words in every cell, and a hatching pattern per band so
    the bands stay apart when printed in greyscale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    columns = report.columns
    rows = report.elements
    label_width, cell_width, cell_height, margin = 4.0, 1.6, 0.42, 0.15
    levels = report.scale.levels
    width = label_width + cell_width * len(columns) + margin
    height = cell_height * (len(rows) + 4.6)
    figure = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.axis("off")
    axes.text(
        margin,
        cell_height * 0.6,
        f"{report.info.title}: heat map (mean score by group)",
        fontsize=10,
        fontweight="bold",
        va="center",
    )

    def box(x: float, y: float, w: float, swatch: palette.Swatch, words: str) -> None:
        axes.add_patch(
            Rectangle(
                (x, y),
                w,
                cell_height,
                facecolor=swatch.fill,
                edgecolor="#555555",
                hatch=swatch.hatch or None,
                linewidth=0.6,
            )
        )
        # A solid label background keeps the words legible over the hatching.
        axes.text(
            x + w / 2,
            y + cell_height / 2,
            words,
            fontsize=6.5,
            ha="center",
            va="center",
            color=swatch.text,
            bbox={"facecolor": swatch.fill, "edgecolor": "none", "pad": 1.0},
        )

    top = cell_height * 1.3
    for i, column in enumerate(columns):
        note = "shown groups only" if column.kind == "all" else f"{column.responses} responses"
        axes.text(
            label_width + i * cell_width + cell_width / 2,
            top + cell_height / 2,
            f"{column.label}\n{note}",
            fontsize=6.5,
            ha="center",
            va="center",
        )
    for j, row in enumerate(rows):
        y = top + cell_height * (j + 1)
        title = f"{row.element.code} {row.element.title}"
        if len(title) > 54:
            title = title[:53] + "\N{HORIZONTAL ELLIPSIS}"
        axes.text(margin, y + cell_height / 2, title, fontsize=7, va="center")
        for i, column in enumerate(columns):
            cell = row.cells[column.key]
            if cell.is_hidden:
                words = "Hidden"
            elif cell.level is None:
                words = "No ratings"
            else:
                words = f"{cell.level.label} {cell.mean_text}"
            box(label_width + i * cell_width, y, cell_width, cell_swatch(cell, report), words)

    legend_y = top + cell_height * (len(rows) + 1.5)
    legend_width = (width - 2 * margin) / (len(levels) + 1)
    for i, level in enumerate(levels):
        swatch = palette.swatch_for(level.score, len(levels))
        box(margin + i * legend_width, legend_y, legend_width * 0.95, swatch, level.label)
    box(
        margin + len(levels) * legend_width,
        legend_y,
        legend_width * 0.95,
        palette.HIDDEN,
        f"Hidden: < {report.info.min_group_size} responses",
    )
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def render_gaps_png(report: CycleReport) -> bytes:
    """The group means side by side per element, 16:9 for a slide."""
    return charts.png_bytes(charts.gaps_figure(report, width=13.33, slide=True), dpi=150)


# -- all the files ------------------------------------------------------------------------------


def render_report_files(report: CycleReport) -> dict[str, bytes]:
    """Every report file as bytes, keyed by file name (report.html first)."""
    html = str(render_report_html(report, standalone=True))
    makers: dict[str, Callable[[], bytes]] = {
        "report.html": lambda: html.encode("utf-8"),
        "report.pdf": lambda: render_pdf(html),
        "results.xlsx": lambda: render_xlsx(report),
        "summary.csv": lambda: render_summary_csv(report),
        "heatmap.png": lambda: render_heatmap_png(report),
        "gaps.png": lambda: render_gaps_png(report),
    }
    return {name: make() for name, make in makers.items()}


def write_report_files(report: CycleReport, out_dir: str | Path) -> dict[str, Path]:
    """Write the report files into `out_dir` (created if needed); returns name -> path."""
    return write_files(out_dir, render_report_files(report))
