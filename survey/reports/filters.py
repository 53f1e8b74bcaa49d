"""The report templates' filters, registered on the app's one Jinja environment by
`survey.reports.init_app(app)`. Light on purpose: no pandas, no heavy libraries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from survey.reports import palette
from survey.reports.files import neutralise

if TYPE_CHECKING:
    import framework as fw
    from survey.reports.compile import Cell, CycleReport


def pct(value: float | None) -> str:
    return "\N{EN DASH}" if value is None else f"{value:.0%}"


def cell_swatch(cell: Cell, report: CycleReport) -> palette.Swatch:
    if cell.is_hidden:
        return palette.HIDDEN
    if cell.level is None:
        return palette.NO_RATINGS
    return palette.swatch_for(cell.level.score, len(report.scale.levels))


def cell_style(cell: Cell, report: CycleReport) -> str:
    return palette.css(cell_swatch(cell, report))


def level_style(level: fw.ScaleLevel, report: CycleReport) -> str:
    return palette.css(palette.swatch_for(level.score, len(report.scale.levels)), text=False)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        pct=pct, cell_style=cell_style, level_style=level_style, neutralise=neutralise
    )
