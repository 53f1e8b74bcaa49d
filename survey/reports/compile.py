"""The compile step: a closed cycle's sealed responses -> figures -> a `CycleReport`.

Two halves, so the rules can be tested without a database:
- `load_inputs(session, cycle)` runs the queries and returns plain data (ratings as a DataFrame);
- `build_report(inputs)` is pure: pandas groupby over the ratings, then the suppression rules of
  SPEC section 5, perception gaps, strengths and priorities, movement and comments.
No `request`, `g` or `current_app` anywhere here: the scheduler job, the CLI and the web page all
call `compile_cycle(session, cycle)`.

The step is split by job: `inputs` (the queries), `figures` (pandas counts and the suppression
rules, written out in its docstring), `rankings` (gaps, strengths, priorities), `wording` (the
report's prose) and `model` (the dataclasses). This module puts them together; the names below
stay importable from here.
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from survey.models import Cycle
from survey.reports import wording
from survey.reports.figures import (
    attach_movements,
    combined_cell_is_withheld,
    compute_figures,
    scope_notes,
)
from survey.reports.inputs import load_inputs
from survey.reports.means import TOP_N, average, format_mean, round_mean
from survey.reports.model import (
    AGREEMENT_SHARE,
    ALL,
    DISAGREEMENT_GAP,
    OTHER,
    Cell,
    Column,
    ColumnKind,
    CycleInfo,
    CycleInputs,
    CycleReport,
    ElementReport,
    Gap,
    GroupInfo,
    HeadingBlock,
    LastYearPriority,
    Movement,
    RankGroup,
)
from survey.reports.rankings import perception_gap, rank
from survey.timeutil import utcnow

__all__ = [
    "AGREEMENT_SHARE",
    "ALL",
    "DISAGREEMENT_GAP",
    "OTHER",
    "TOP_N",
    "Cell",
    "Column",
    "ColumnKind",
    "CycleInfo",
    "CycleInputs",
    "CycleReport",
    "ElementReport",
    "Gap",
    "GroupInfo",
    "HeadingBlock",
    "Movement",
    "RankGroup",
    "build_report",
    "combined_cell_is_withheld",
    "compile_cycle",
    "format_mean",
    "load_inputs",
]

_shuffle = random.SystemRandom().shuffle


def build_report(inputs: CycleInputs, *, compiled_at: datetime | None = None) -> CycleReport:
    """The figures for one cycle, from its inputs alone (pure apart from the comment shuffle)."""
    info = inputs.info
    framework = info.framework
    elements = framework.elements_in_scope(info.scope)
    figures = compute_figures(inputs, elements)
    headings = {h.number: h for h in framework.headings}

    # Rule 4: an open group's comments follow the comment threshold like any other group's.
    comment_threshold = info.comment_threshold
    eligible = {g.id for g in figures.shown if inputs.responses.get(g.id, 0) >= comment_threshold}
    comments: dict[str, list[str]] = {e.code: [] for e in elements}
    comment_notes = wording.withheld_comment_notes(
        [inputs.responses.get(g.id, 0) for g in inputs.groups if g.id not in eligible],
        comment_threshold,
    )
    if inputs.comments_purged:
        # The names and schools to check the comments against are gone: print none.
        eligible = set()
        comment_notes = [wording.COMMENTS_PURGED]
    frame = inputs.comments
    if len(frame):
        frame = frame[frame["group_id"].isin(eligible) & frame["element_code"].isin(comments)]
        for code, rationale in zip(frame["element_code"], frame["rationale"], strict=True):
            if isinstance(rationale, str) and rationale.strip():
                comments[str(code)].append(rationale.strip())
    for texts in comments.values():
        _shuffle(texts)  # never in storage or group order (SPEC section 5)

    reports = [
        ElementReport(
            element=e,
            heading=headings[e.heading],
            index=i,
            cells=figures.cells[e.code],
            questions=e.questions_for(info.scope),
            comments=comments[e.code],
        )
        for i, e in enumerate(elements)
    ]
    for report in reports:
        report.gap = perception_gap(report, figures.columns)
        report.group_means_text = mean_of_group_means(report, figures.columns)
    attach_movements(inputs, figures, reports)

    ranked = rank(reports, framework, figures.columns)

    blocks: list[HeadingBlock] = []
    for report in reports:
        if not blocks or blocks[-1].heading.number != report.heading.number:
            blocks.append(HeadingBlock(report.heading, []))
        blocks[-1].elements.append(report)

    previous_note = inputs.previous_note
    if inputs.previous is None and not previous_note:
        previous_note = wording.NO_PREVIOUS_CYCLE
    movement_notes = scope_notes(inputs, reports)
    sized = {m.column.label: m.note for r in reports for m in r.movements if m.note}
    if sized:
        movement_notes.append(wording.size_caveat(sized))
    compiled = CycleReport(
        info=info,
        rates=list(inputs.rates),
        columns=figures.columns,
        elements=reports,
        headings=blocks,
        gaps=ranked.gaps,
        strength_groups=ranked.strengths,
        priority_groups=ranked.priorities,
        disagreement_groups=ranked.disagreements,
        previous_title=inputs.previous.info.title if inputs.previous else None,
        previous_note=previous_note,
        rules=wording.rules(info),
        ranking_rules=wording.ranking_rules(framework.scale),
        compiled_at=compiled_at or utcnow(),
        hidden_comment_count=inputs.hidden_comment_count,
        comment_notes=comment_notes,
        movement_notes=movement_notes,
        weighting_note=wording.weighting_note(figures.columns),
    )
    compiled.findings = wording.findings(compiled)
    compiled.last_year = last_year_priorities(inputs, reports)
    levels = {level.key: level for level in framework.scale.levels}
    compiled.agreed = {
        code: levels[key] for code, key in inputs.agreed_keys.items() if key in levels
    }
    return compiled


def last_year_priorities(
    inputs: CycleInputs, reports: list[ElementReport]
) -> list[LastYearPriority]:
    """The previous cycle's priorities, each with this cycle's report of that element."""
    by_code = {r.element.code: r for r in reports}
    titles = {e.code: e.title for e in inputs.info.framework.elements}
    if inputs.previous is not None:
        titles = {e.code: e.title for e in inputs.previous.info.framework.elements} | titles
    return [
        LastYearPriority(p.code, titles.get(p.code, ""), p, by_code.get(p.code))
        for p in inputs.previous_plan
    ]


def mean_of_group_means(report: ElementReport, columns: list[Column]) -> str:
    """The shown groups' means (as printed) averaged with equal weight, rounded half up."""
    equal = average(
        Decimal(report.cells[c.key].mean_text)
        for c in columns
        if c.kind == "group" and c.is_shown and report.cells[c.key].mean_text
    )
    return round_mean(equal) if equal is not None else ""


def compile_cycle(session: Session, cycle: Cycle) -> CycleReport:
    """Compile a cycle's figures (reads only; the caller decides what to store)."""
    return build_report(load_inputs(session, cycle))
