"""The report's charts, with matplotlib (Agg, no display): made to read in greyscale and for
colour-blind readers (Okabe-Ito colours, a marker shape per group, a hatching per answer).

- `gaps_figure`: each element's shown groups' means side by side on the 1..N scale, a line
  from the lowest to the highest, so a perception gap is visible as a distance;
- `distribution_figure`: each element's answers per shown column as 100% stacked bars;
- `png_data_uri` / `png_bytes`: the figure for the HTML/PDF, or for slides.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import framework as fw
from survey.reports.model import ALL, Column, CycleReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe-Ito, distinct for the common colour-vision deficiencies; shapes tell groups apart in
# greyscale as well.
GROUP_STYLES: tuple[tuple[str, str], ...] = (
    ("#0072B2", "o"),
    ("#E69F00", "s"),
    ("#009E73", "^"),
    ("#CC79A7", "D"),
    ("#56B4E9", "v"),
    ("#D55E00", "P"),
    ("#000000", "X"),
    ("#F0E442", "*"),
)
# Answers weak to strong, then don't know: colour-blind safe and hatched apart in greyscale.
ANSWER_STYLES: tuple[tuple[str, str], ...] = (
    ("#D55E00", "xxx"),
    ("#E69F00", "///"),
    ("#9AD0C2", "..."),
    ("#009E73", ""),
)
DONT_KNOW_STYLE = ("#FFFFFF", "")
FONT = "DejaVu Sans"


def _new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def answer_style(key: str, scale: fw.Scale) -> tuple[str, str]:
    if key == fw.DONT_KNOW:
        return DONT_KNOW_STYLE
    levels = len(scale.levels)
    score = scale.score(key) or 1
    step = round((score - 1) * (len(ANSWER_STYLES) - 1) / max(levels - 1, 1))
    return ANSWER_STYLES[min(max(step, 0), len(ANSWER_STYLES) - 1)]


def shown_groups(report: CycleReport) -> list[Column]:
    return [c for c in report.columns if c.kind == "group" and c.is_shown]


def gaps_figure(report: CycleReport, *, width: float = 7.0, slide: bool = False) -> Figure:
    """Dot plot: one row per element, a marker per shown group at its mean, joined from the
    lowest to the highest, and the trust-wide mean as an upright bar."""
    from matplotlib.lines import Line2D

    rows = report.elements
    groups = shown_groups(report)
    levels = report.scale.levels
    label_size = 9.0 if slide else 7.5
    height = width * 9 / 16 if slide else 0.85 + 0.235 * len(rows)
    figure = _new_figure(width, height)
    figure.set_layout_engine("constrained")
    axes = figure.add_subplot()
    count = len(rows)
    top = len(levels) + 0.55
    axes.barh(range(0, count, 2), top, left=0, height=1.0, color="#f2f2f2", zorder=0, linewidth=0)
    spans: list[tuple[int, float, float]] = []
    for y, row in enumerate(rows):
        means = [float(row.cells[c.key].mean_text) for c in groups if row.cells[c.key].mean_text]
        if len(means) >= 2:
            spans.append((y, min(means), max(means)))
        if row.gap is not None and row.gap.size >= 0.005:
            axes.text(len(levels) + 0.08, y, f"gap {row.gap.size:.2f}", va="center",
                      fontsize=label_size - 0.5, family=FONT)  # fmt: skip
    if spans:
        axes.hlines(
            [y for y, _, _ in spans],
            [lo for _, lo, _ in spans],
            [hi for _, _, hi in spans],
            color="#555555",
            linewidth=2.2,
            zorder=1,
        )
    handles = []
    for i, column in enumerate(groups):
        colour, marker = GROUP_STYLES[i % len(GROUP_STYLES)]
        points = [
            (float(r.cells[column.key].mean_text), y)
            for y, r in enumerate(rows)
            if r.cells[column.key].mean_text
        ]
        if points:
            axes.scatter(
                [x for x, _ in points],
                [y for _, y in points],
                s=46 if slide else 34,
                marker=marker,
                facecolor=colour,
                edgecolor="#000000",
                linewidths=0.6,
                zorder=3,
            )
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                ls="",
                markerfacecolor=colour,
                markeredgecolor="#000000",
                markersize=7,
                label=f"{column.label} ({column.responses})",
            )
        )
    overall = [(float(r.overall.mean_text), y) for y, r in enumerate(rows) if r.overall.mean_text]
    if overall:
        axes.scatter([x for x, _ in overall], [y for _, y in overall], marker="|", s=160,
                     color="#000000", zorder=2)  # fmt: skip
    handles.append(Line2D([], [], marker="|", ls="", color="#000000", markersize=11,
                          label="All shown groups (mean of all answers)"))  # fmt: skip
    axes.set_ylim(count - 0.5, -0.5)
    axes.set_xlim(0.9, top)
    axes.set_yticks(range(count))
    axes.set_yticklabels(
        [_short(r.label, 48 if slide else 40) for r in rows], fontsize=label_size, family=FONT
    )
    axes.set_xticks([lv.score for lv in levels])
    axes.set_xticklabels(
        [f"{lv.score}\n{lv.label}" for lv in levels], fontsize=label_size, family=FONT
    )
    axes.tick_params(axis="y", length=0)
    axes.vlines(range(1, len(levels) + 1), -0.5, count - 0.5, color="#bbbbbb", lw=0.6, zorder=0)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2 if not slide else min(len(handles), 3),
        frameon=False,
        prop={"family": FONT, "size": label_size},
    )
    if slide:
        figure.suptitle(
            f"{report.info.title}: where the groups' mean scores differ",
            fontsize=12,
            family=FONT,
            fontweight="bold",
        )
    return figure


def distribution_figure(report: CycleReport, *, width: float = 7.0) -> Figure:
    """Each element's answers as 100% stacked bars, one bar per shown group and one for the
    shown groups together, in two columns of elements on one set of axes (quick to draw)."""
    from matplotlib.patches import Patch

    rows = report.elements
    columns = [c for c in report.columns if c.kind == "group" and c.is_shown]
    columns.append(report.column(ALL))
    keys = list(report.answer_keys)
    per_column = (len(rows) + 1) // 2
    block = len(columns) + 1.6  # bars, then room for the element's title
    height = 0.6 + 0.19 * per_column * block
    figure = _new_figure(width, height)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0 - 0.32 / height))
    axes.axis("off")
    bar_labels = [_short(c.label if c.kind == "group" else "All shown", 28) for c in columns]
    label_w, bar_w, gutter = 1.55, 1.75, 0.15  # in "panel" units; two panels side by side
    panel_w = label_w + bar_w + gutter
    bars: dict[str, tuple[list[float], list[float], list[float]]] = {k: ([], [], []) for k in keys}
    for index, row in enumerate(rows):
        x0 = (index // per_column) * (panel_w + 0.25)
        y0 = (index % per_column) * block
        axes.text(x0, y0 + 0.55, _short(row.label, 50), fontsize=7.2, family=FONT,
                  fontweight="bold", va="center")  # fmt: skip
        for j, column in enumerate(columns):
            y = y0 + 1.6 + j
            axes.text(x0 + label_w - 0.05, y, bar_labels[j], fontsize=6.5, family=FONT,
                      ha="right", va="center")  # fmt: skip
            cell = row.cells[column.key]
            if cell.counts is None:
                axes.text(x0 + label_w + 0.05, y, "hidden", fontsize=6.5, family=FONT,
                          va="center", style="italic")  # fmt: skip
                continue
            total = sum(cell.counts.values()) or 1
            left = 0.0
            for key in keys:
                share = cell.counts.get(key, 0) / total
                if share:
                    bars[key][0].append(y)
                    bars[key][1].append(x0 + label_w + left * bar_w)
                    bars[key][2].append(share * bar_w)
                left += share
    for key in keys:
        ys, lefts, widths = bars[key]
        if ys:
            colour, hatch = answer_style(key, report.scale)
            axes.barh(ys, widths, left=lefts, height=0.8, color=colour, hatch=hatch or None,
                      edgecolor="#333333", linewidth=0.4)  # fmt: skip
    axes.set_xlim(-0.05, 2 * panel_w + 0.25)
    axes.set_ylim(per_column * block + 0.2, 0)
    legend = [
        Patch(
            facecolor=answer_style(k, report.scale)[0],
            hatch=answer_style(k, report.scale)[1] or None,
            edgecolor="#333333",
            label="Don't know" if k == fw.DONT_KNOW else report.scale.label(k),
        )
        for k in keys
    ]
    figure.legend(handles=legend, loc="upper center", ncol=len(legend), frameon=False,
                  prop={"family": FONT, "size": 7.5})  # fmt: skip
    return figure


def png_data_uri(figure: Figure, dpi: int = 160) -> str:
    """The figure as a PNG data URI for the HTML and the PDF (quick for WeasyPrint to lay out,
    unlike an SVG of thousands of paths)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(figure, dpi)).decode("ascii")


def png_bytes(figure: Figure, dpi: int | None = None) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi or "figure")
    return out.getvalue()
