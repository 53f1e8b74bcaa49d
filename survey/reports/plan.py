"""The improvement plan as documents (issue 18): plan.pdf (A4, tagged PDF/UA-1, the board
paper's house style) and plan.xlsx, under the framework's six headings.

Made from the plan (`survey.services.plans.load_plan`), whose survey figures are the stored
report's: nothing here compiles or imports the compiler, so the web app can offer the files
(the import contract in pyproject.toml forbids it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app
from markupsafe import Markup

from survey.reports import palette
from survey.reports.files import neutralise, paint, render_pdf, workbook_bytes
from survey.reports.stored import write_files
from survey.services.plans import Figure, Plan, due_text, status_label
from survey.timeutil import format_local, utcnow

PLAN_FILES: dict[str, str] = {
    "plan.pdf": "the improvement plan (PDF, A4)",
    "plan.xlsx": "the improvement plan as a spreadsheet (XLSX)",
}
CONTENT_TYPES = {
    "plan.pdf": "application/pdf",
    "plan.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
AGREED_LABEL = "Leadership's agreed view"


def _swatch(score: int | None, levels: int) -> palette.Swatch:
    return palette.NO_RATINGS if score is None else palette.swatch_for(score, levels)


def figure_style(figure: Figure | None, levels: int) -> str:
    if figure is None or figure.is_hidden:
        swatch = palette.HIDDEN
    else:
        swatch = _swatch(figure.level.score if figure.level else None, levels)
    return palette.css(swatch)


def level_style(score: int | None, levels: int) -> str:
    return palette.css(_swatch(score, levels))


def plan_context(plan: Plan) -> dict[str, Any]:
    cycle = plan.cycle
    levels = len(plan.scale.levels)
    return {
        "plan": plan,
        "cycle": cycle,
        "trust_name": cycle.trust.name,
        "framework": plan.framework,
        "made_at": format_local(utcnow(), cycle.trust.timezone),
        "updated_at": format_local(plan.updated_at, cycle.trust.timezone)
        if plan.updated_at
        else "",
        "agreed_label": AGREED_LABEL,
        "status_label": status_label,
        "due_text": due_text,
        "figure_style": lambda figure: figure_style(figure, levels),
        "level_style": lambda level: level_style(level.score if level else None, levels),
    }


def render_plan_html(plan: Plan) -> str:
    template = current_app.jinja_env.get_template("report/plan.html")
    return template.render(standalone=True, **plan_context(plan))


def render_plan_pdf(plan: Plan) -> bytes:
    return render_pdf(render_plan_html(plan))


def render_plan_xlsx(plan: Plan) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    header_fill = PatternFill(fill_type="solid", start_color="FFF0F0F0", end_color="FFF0F0F0")
    levels = len(plan.scale.levels)

    book = Workbook()
    overview = book.active
    assert overview is not None
    overview.title = "Agreed view"
    cycle = plan.cycle
    overview.append([neutralise(f"Improvement plan: {cycle.title}")])
    overview.cell(1, 1).font = Font(bold=True, size=14)
    overview.append([neutralise(cycle.trust.name)])
    overview.append([])
    overview.append(
        [
            "Heading",
            "Element",
            "Survey: all shown groups (mean)",
            "Survey: band",
            AGREED_LABEL,
            "Priority",
            "Rationale",
        ]
    )
    for cell in overview[overview.max_row]:
        cell.font, cell.fill, cell.alignment = bold, header_fill, wrap
    for block in plan.headings:
        for entry in block.entries:
            overall = entry.overall
            mean: Any = float(overall.mean_text) if overall and overall.mean_text else None
            band = overall.words if overall else "No report figures"
            overview.append(
                [
                    neutralise(f"{block.heading.number}. {block.heading.title}"),
                    neutralise(f"{entry.element.code} {entry.element.title}"),
                    mean,
                    band,
                    entry.agreed.label if entry.agreed else "Not agreed",
                    "Yes" if entry.is_priority else "",
                    neutralise(entry.rationale),
                ]
            )
            row = overview.max_row
            overview.cell(row, 3).number_format = "0.00"
            if overall is not None and overall.level is not None:
                paint(overview.cell(row, 4), palette.swatch_for(overall.level.score, levels))
            if entry.agreed is not None:
                paint(overview.cell(row, 5), palette.swatch_for(entry.agreed.score, levels))
            overview.cell(row, 7).alignment = wrap
    for letter, width in zip("ABCDEFG", (30, 40, 16, 22, 22, 10, 60), strict=True):
        overview.column_dimensions[letter].width = width
    overview.freeze_panes = "C5"

    actions = book.create_sheet("Actions")
    actions.append(
        [
            "Heading",
            "Element",
            "Action",
            "Owner",
            "Due",
            "Success measure",
            "Status",
            "Progress notes",
        ]
    )
    for cell in actions[1]:
        cell.font, cell.fill = bold, header_fill
    tz = cycle.trust.timezone
    for block in plan.headings:
        for entry in block.entries:
            for action in entry.actions:
                notes = "\n".join(
                    f"{format_local(n.written_at, tz)} ({n.author}): {n.text}" for n in action.notes
                )
                actions.append(
                    [
                        neutralise(f"{block.heading.number}. {block.heading.title}"),
                        neutralise(f"{entry.element.code} {entry.element.title}"),
                        neutralise(action.what),
                        neutralise(action.owner),
                        action.due_on,
                        neutralise(action.success_measure),
                        status_label(action.status),
                        neutralise(notes),
                    ]
                )
                row = actions.max_row
                actions.cell(row, 5).number_format = "yyyy-mm-dd"
                for col in (3, 6, 8):
                    actions.cell(row, col).alignment = wrap
    for letter, width in zip("ABCDEFGH", (28, 34, 50, 22, 12, 40, 12, 60), strict=True):
        actions.column_dimensions[letter].width = width
    actions.freeze_panes = "C2"

    return workbook_bytes(book)


def render_plan_file(plan: Plan, name: str) -> bytes:
    if name == "plan.pdf":
        return render_plan_pdf(plan)
    if name == "plan.xlsx":
        return render_plan_xlsx(plan)
    raise KeyError(name)


def write_plan_files(plan: Plan, out_dir: str | Path) -> dict[str, Path]:
    """plan.pdf and plan.xlsx into `out_dir` (created if needed), both or neither."""
    return write_files(out_dir, {name: render_plan_file(plan, name) for name in PLAN_FILES})


def plan_html_fragment(plan: Plan) -> Markup:
    return Markup(render_plan_html(plan))  # noqa: S704 -- autoescaped template output
