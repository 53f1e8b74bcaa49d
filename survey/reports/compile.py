"""The compile step: a closed cycle's sealed responses -> figures -> a `CycleReport`.

Two halves, so the rules can be tested without a database:
- `load_inputs(session, cycle)` runs the queries and returns plain data (ratings as a DataFrame);
- `build_report(inputs)` is pure: pandas groupby over the ratings, then the suppression rules of
  SPEC section 5, perception gaps, strengths and priorities, movement and comments.
No `request`, `g` or `current_app` anywhere here: the scheduler job, the CLI and the web page all
call `compile_cycle(session, cycle)`.

Suppression, the rules every output follows (they are also written into the report). They are
meant to hold against an insider too: someone who knows their own answers, or a CEO who answers
for some of the invited addresses (tests/reports/test_insider.py proves it):
1. A group with fewer submitted responses than `min_group_size` is hidden, unless it is an open
   group (its members were told before answering). Hidden cells carry no counts and no mean.
2. The trust-wide column covers the shown groups only, so subtracting shown groups from it gives
   nothing but other shown groups.
3. Hidden groups are combined into "other groups" only from hidden groups that each have at least
   2 responses, and only when together those reach `min_group_size` (so at least two groups).
   A group of one is never in it: its only member would learn the other groups' ratings by
   taking their own away. The combined column is not part of the trust-wide column, so no
   difference of two published figures isolates a hidden group. An element's combined cell is
   withheld when all its answers, or all but one, are the same: then each small group's
   ratings would follow from its (public) number of responses, or the one who answered
   differently would learn everyone else's by taking their own answer away.
4. Comments come only from shown groups with at least `min_comment_group_size` (and
   `min_group_size`) responses; an open group's comments follow the same rule. They are
   shuffled and listed by element, never by group.
5. Movement is given only where the group is shown and meets `min_group_size` in both cycles.

What remains, and respondents are told: a shown group's figures give its exact distribution,
so when everyone in a group gives an element the same rating, that rating is plain; and someone
who knows their own answer learns the others' ratings exactly when all the others agree.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, cast

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import framework as fw
from survey.models import Cycle, CycleState, Rating, Response
from survey.queries import cycle_status
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.timeutil import utcnow

OTHER = "_other"  # not a possible group key (keys start with a letter or digit)
ALL = "all"  # reserved: no group may use it
TOP_N = 3
# A perception gap worth a discussion: at least half a band between two groups' means.
DISAGREEMENT_GAP = 0.5
# "High agreement" for a strength: at least half of the rated answers at the most common rating.
AGREEMENT_SHARE = 0.5

ColumnKind = Literal["group", "other", "all"]
_shuffle = random.SystemRandom().shuffle


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupInfo:
    id: int
    key: str
    label: str
    is_open: bool


@dataclass(frozen=True)
class GroupRate:
    """Invitation counts for the summary (the CEO sees these on the live page anyway)."""

    key: str
    label: str
    is_open: bool
    invited: int = 0
    completed: int = 0
    declined: int = 0
    failed: int = 0

    @property
    def rate(self) -> float | None:
        return self.completed / self.invited if self.invited else None


@dataclass(frozen=True)
class CycleInfo:
    id: int
    title: str
    trust_name: str
    timezone: str
    state: str
    opens_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    framework: fw.Framework
    scope: fw.Scope
    min_group_size: int
    min_comment_group_size: int


@dataclass
class CycleInputs:
    """Everything the figures are computed from, as plain data.

    `ratings` has columns group_id, element_code, scale_key (one row per rating);
    `comments` has group_id, element_code, rationale (non-empty rationale only);
    `responses` maps group id -> number of submitted responses.
    """

    info: CycleInfo
    groups: list[GroupInfo]  # in cycle order (Group.position)
    responses: dict[int, int]
    ratings: pd.DataFrame
    comments: pd.DataFrame
    rates: list[GroupRate] = field(default_factory=list)
    previous: CycleInputs | None = None
    previous_note: str = ""


def _cycle_info(session: Session, cycle: Cycle) -> CycleInfo:
    return CycleInfo(
        id=cycle.id,
        title=cycle.title,
        trust_name=cycle.trust.name,
        timezone=cycle.trust.timezone,
        state=cycle.state.value,
        opens_at=cycle.opens_at,
        closes_at=cycle.closes_at,
        closed_at=cycle.closed_at,
        framework=get_cycle_framework(session, cycle),
        scope=get_cycle_scope(cycle),
        min_group_size=cycle.min_group_size,
        min_comment_group_size=cycle.min_comment_group_size,
    )


def load_inputs(session: Session, cycle: Cycle, *, with_previous: bool = True) -> CycleInputs:
    """Run the queries for one cycle (and its previous cycle, for movement)."""
    responses = {
        int(group_id): int(n)
        for group_id, n in session.execute(
            select(Response.group_id, func.count())
            .where(Response.cycle_id == cycle.id)
            .group_by(Response.group_id)
        )
    }
    rating_rows = session.execute(
        select(Response.group_id, Rating.element_code, Rating.scale_key)
        .join(Response, Rating.response_id == Response.id)
        .where(Response.cycle_id == cycle.id)
    ).all()
    ratings = pd.DataFrame(rating_rows, columns=["group_id", "element_code", "scale_key"])
    comments = pd.DataFrame(columns=["group_id", "element_code", "rationale"])
    previous: CycleInputs | None = None
    note = ""
    if with_previous:
        comment_rows = session.execute(
            select(Response.group_id, Rating.element_code, Rating.rationale)
            .join(Response, Rating.response_id == Response.id)
            .where(
                Response.cycle_id == cycle.id,
                Rating.rationale.is_not(None),
                Rating.rationale != "",
            )
        ).all()
        comments = pd.DataFrame(comment_rows, columns=["group_id", "element_code", "rationale"])
        prev = cycle.previous_cycle
        if prev is not None:
            if prev.state in (CycleState.CLOSED, CycleState.REPORTED):
                previous = load_inputs(session, prev, with_previous=False)
            else:
                note = f"The previous cycle ({prev.title}) has not closed yet, so nothing moved."
    rates = [
        GroupRate(s.key, s.label, s.is_open, s.invited, s.completed, s.declined, s.failed)
        for s in cycle_status(session, cycle)
    ]
    return CycleInputs(
        info=_cycle_info(session, cycle),
        groups=[GroupInfo(g.id, g.key, g.label, g.is_open) for g in cycle.groups],
        responses=responses,
        ratings=ratings,
        comments=comments,
        rates=rates,
        previous=previous,
        previous_note=note,
    )


# -- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A heat map column: one group, the hidden groups combined, or the shown groups together."""

    key: str  # group key, OTHER or ALL
    label: str
    kind: ColumnKind
    responses: int
    is_shown: bool
    is_open: bool = False
    note: str = ""
    # The keys of the groups whose answers the column adds up (none for a hidden group).
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    """One element in one column. A hidden cell has `counts` None and says why."""

    column: str
    responses: int
    counts: Mapping[str, int] | None  # answer key (scale keys, then dont-know) -> count
    rated: int = 0  # answers with a score (don't-know excluded)
    score_total: int = 0
    sd: float | None = None
    modal_share: float | None = None
    level: fw.ScaleLevel | None = None
    hidden_reason: str | None = None

    @property
    def is_hidden(self) -> bool:
        return self.counts is None

    @property
    def mean(self) -> float | None:
        return self.score_total / self.rated if self.rated else None

    @property
    def mean_text(self) -> str:
        """The mean rounded half up to 2 decimals from the exact fraction ('' if none)."""
        return format_mean(self.score_total, self.rated)

    @property
    def dont_know(self) -> int:
        return self.counts.get(fw.DONT_KNOW, 0) if self.counts is not None else 0


@dataclass(frozen=True)
class Gap:
    """The perception gap: the largest difference between two shown groups' means."""

    size: float
    high: Column
    low: Column
    high_mean: float
    low_mean: float

    @property
    def sentence(self) -> str:
        if self.size < 0.005:
            return "The shown groups rate this element the same on average."
        return (
            f"{self.high.label} rate this {self.size:.2f} higher than {self.low.label} "
            f"({self.high_mean:.2f} against {self.low_mean:.2f})."
        )


@dataclass(frozen=True)
class Movement:
    """One element and group compared with the previous cycle (or why it is not)."""

    column: Column
    previous_mean: float | None = None
    mean: float | None = None
    previous_level: fw.ScaleLevel | None = None
    level: fw.ScaleLevel | None = None
    reason: str | None = None  # why there is no comparison

    @property
    def change(self) -> float | None:
        if self.previous_mean is None or self.mean is None:
            return None
        return self.mean - self.previous_mean

    @property
    def change_text(self) -> str:
        change = self.change
        if change is None:
            return ""
        if abs(change) < 0.005:
            return "no change"
        return f"{'up' if change > 0 else 'down'} {abs(change):.2f}"


@dataclass
class ElementReport:
    element: fw.Element
    heading: fw.Heading
    index: int  # framework order
    cells: dict[str, Cell]  # column key -> cell, in column order
    questions: tuple[fw.Question, ...]
    gap: Gap | None = None
    movements: list[Movement] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def overall(self) -> Cell:
        return self.cells[ALL]


@dataclass(frozen=True)
class HeadingBlock:
    heading: fw.Heading
    elements: list[ElementReport]


@dataclass
class CycleReport:
    info: CycleInfo
    rates: list[GroupRate]
    columns: list[Column]
    elements: list[ElementReport]
    headings: list[HeadingBlock]
    gaps: list[ElementReport]  # elements with a gap, largest first
    strengths: list[ElementReport]
    priorities: list[ElementReport]
    disagreements: list[ElementReport]
    previous_title: str | None
    previous_note: str
    rules: list[str]
    ranking_rules: list[str]
    compiled_at: datetime

    @property
    def framework(self) -> fw.Framework:
        return self.info.framework

    @property
    def scale(self) -> fw.Scale:
        return self.info.framework.scale

    @property
    def answer_keys(self) -> tuple[str, ...]:
        return self.info.framework.scale.answer_keys

    @property
    def has_movement(self) -> bool:
        return any(m.reason is None for e in self.elements for m in e.movements)

    @property
    def comment_count(self) -> int:
        return sum(len(e.comments) for e in self.elements)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


def format_mean(score_total: int, rated: int) -> str:
    if not rated:
        return ""
    exact = Decimal(score_total) / Decimal(rated)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# -- the figures --------------------------------------------------------------------------------


def _count_table(
    inputs: CycleInputs, codes: Sequence[str], answer_keys: Sequence[str]
) -> pd.DataFrame:
    """Counts per (element, group id) x answer key, zeros included, in framework/cycle order."""
    group_ids = [g.id for g in inputs.groups]
    ratings = inputs.ratings
    frame = pd.DataFrame(
        {
            "element_code": pd.Categorical(ratings["element_code"], categories=list(codes)),
            "group_id": pd.Categorical(ratings["group_id"], categories=group_ids),
            "scale_key": pd.Categorical(ratings["scale_key"], categories=list(answer_keys)),
        }
    ).dropna()  # ratings outside the scope, of unknown groups or with unknown keys
    table = (
        frame.groupby(["element_code", "group_id", "scale_key"], observed=False)
        .size()
        .unstack("scale_key")
    )
    full = pd.MultiIndex.from_product([list(codes), group_ids], names=["element_code", "group_id"])
    return table.reindex(index=full, columns=list(answer_keys), fill_value=0).astype("int64")


def _stats(counts: pd.DataFrame, scale: fw.Scale) -> pd.DataFrame:
    """rated, score_total, sd (population) and modal share for each row of a count table."""
    scored = counts[list(scale.keys)].to_numpy(dtype="int64")
    scores = np.array([level.score for level in scale.levels], dtype="int64")
    rated = scored.sum(axis=1)
    total = scored @ scores
    squares = scored @ (scores**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / rated
        variance = np.clip(squares / rated - mean**2, 0.0, None)
        modal = scored.max(axis=1) / rated
    return pd.DataFrame(
        {"rated": rated, "score_total": total, "sd": np.sqrt(variance), "modal_share": modal},
        index=counts.index,
    )


def _cell(
    column: str,
    responses: int,
    counts: pd.Series,
    stats: pd.Series,
    scale: fw.Scale,
) -> Cell:
    rated = int(stats["rated"])
    total = int(stats["score_total"])
    return Cell(
        column=column,
        responses=responses,
        counts={str(k): int(v) for k, v in counts.items()},
        rated=rated,
        score_total=total,
        sd=float(stats["sd"]) if rated else None,
        modal_share=float(stats["modal_share"]) if rated else None,
        # Banded from the mean as printed, so a cell never reads "2.50" in the amber red band.
        level=scale.level_for_mean(float(format_mean(total, rated))) if rated else None,
    )


def _hidden(column: str, responses: int, reason: str) -> Cell:
    return Cell(column=column, responses=responses, counts=None, hidden_reason=reason)


@dataclass
class _Figures:
    columns: list[Column]
    cells: dict[str, dict[str, Cell]]  # element code -> column key -> cell
    shown: list[GroupInfo]
    hidden: list[GroupInfo]


def combined_cell_is_withheld(counts: Mapping[str, int]) -> bool:
    """Rule 3: a combined cell is withheld when all its answers, or all but one, are the same.

    All the same: each small group's ratings would follow from its number of responses. All but
    one: the person who answered differently, taking their own answer away, would be left with
    everyone else's, all the same. With at least two answers away from the most common one,
    what is left after taking away any one answer still differs, so nobody is pinned."""
    values = [int(v) for v in counts.values()]
    return sum(values) - max(values, default=0) <= 1


def _figures(inputs: CycleInputs, elements: Sequence[fw.Element]) -> _Figures:
    """Columns and cells with the suppression rules applied (see the module docstring)."""
    info = inputs.info
    scale = info.framework.scale
    threshold = info.min_group_size
    codes = [e.code for e in elements]
    answer_keys = list(scale.answer_keys)
    table = _count_table(inputs, codes, answer_keys)
    n = {g.id: inputs.responses.get(g.id, 0) for g in inputs.groups}
    shown = [g for g in inputs.groups if g.is_open or n[g.id] >= threshold]
    hidden = [g for g in inputs.groups if g not in shown]
    hidden_reason = f"fewer than {threshold} responses"

    columns: list[Column] = []
    for g in inputs.groups:
        is_shown = g in shown
        note = ""
        if not is_shown:
            note = f"hidden: {hidden_reason}"
        elif g.is_open and n[g.id] < threshold:
            note = "open group: shown although small (its members were told before answering)"
        elif g.is_open:
            note = "open group"
        members = (g.key,) if is_shown else ()
        columns.append(Column(g.key, g.label, "group", n[g.id], is_shown, g.is_open, note, members))

    # Hidden groups combined (rule 3): only those with at least 2 responses, and only when
    # together they reach the threshold, which each alone does not, so there are at least two.
    combined_groups = [g for g in hidden if n[g.id] >= 2]
    combined_total = sum(n[g.id] for g in combined_groups)
    with_other = combined_total >= threshold
    if with_other:
        names = ", ".join(g.label for g in combined_groups)
        columns.append(
            Column(
                OTHER,
                "Other groups combined",
                "other",
                combined_total,
                True,
                note=f"{names} together; not part of the trust-wide column",
                members=tuple(g.key for g in combined_groups),
            )
        )
    shown_total = sum(n[g.id] for g in shown)
    columns.append(
        Column(
            ALL,
            "All shown groups",
            "all",
            shown_total,
            bool(shown),
            note="trust-wide, over the shown groups only"
            if shown
            else "no group has enough responses to be shown",
            members=tuple(g.key for g in shown),
        )
    )

    stats = _stats(table, scale)

    def combined(ids: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        part = table[table.index.get_level_values("group_id").isin(ids)]
        summed = part.groupby(level="element_code", sort=False).sum()
        summed = summed.reindex(index=codes, fill_value=0)
        return summed, _stats(summed, scale)

    other_counts, other_stats = combined([g.id for g in combined_groups])
    all_counts, all_stats = combined([g.id for g in shown])

    def at(frame: pd.DataFrame, key: str | tuple[str, int]) -> pd.Series:
        return cast(pd.Series, frame.loc[key])

    cells: dict[str, dict[str, Cell]] = {}
    for code in codes:
        row: dict[str, Cell] = {}
        for g in inputs.groups:
            if g in shown:
                row[g.key] = _cell(
                    g.key, n[g.id], at(table, (code, g.id)), at(stats, (code, g.id)), scale
                )
            else:
                row[g.key] = _hidden(g.key, n[g.id], hidden_reason)
        if with_other:
            answers = at(other_counts, code)
            if combined_cell_is_withheld({str(k): int(v) for k, v in answers.items()}):
                row[OTHER] = _hidden(
                    OTHER,
                    combined_total,
                    "withheld: too few different answers to keep the small groups apart",
                )
            else:
                row[OTHER] = _cell(OTHER, combined_total, answers, at(other_stats, code), scale)
        if shown:
            row[ALL] = _cell(ALL, shown_total, at(all_counts, code), at(all_stats, code), scale)
        else:
            row[ALL] = _hidden(ALL, 0, "no group has enough responses to be shown")
        cells[code] = row
    return _Figures(columns, cells, shown, hidden)


def _gap(report: ElementReport, columns: Sequence[Column]) -> Gap | None:
    """The largest difference between two shown groups' means (None with fewer than two)."""
    rated: list[tuple[Column, float]] = []
    for column in columns:
        mean = report.cells[column.key].mean
        if column.kind == "group" and column.is_shown and mean is not None:
            rated.append((column, mean))
    if len(rated) < 2:
        return None
    # max/min keep the first on a tie, so ties go to the earlier group in cycle order.
    high = max(rated, key=lambda item: item[1])
    low = min(rated, key=lambda item: item[1])
    return Gap(high[1] - low[1], high[0], low[0], high[1], low[1])


def _movements(
    inputs: CycleInputs,
    current: _Figures,
    elements: Sequence[ElementReport],
) -> None:
    """Attach movement since the previous cycle: only where the group is shown in both and
    meets the threshold in both (an open group shown although small has no movement)."""
    previous = inputs.previous
    if previous is None:
        return
    prev_framework = previous.info.framework
    prev_elements = [
        e
        for e in prev_framework.elements_in_scope(previous.info.scope)
        if e.code in {r.element.code for r in elements}
    ]
    prev = _figures(previous, prev_elements)
    prev_columns = {c.key: c for c in prev.columns if c.kind == "group"}
    prev_responses = {c.key: c.responses for c in prev.columns}
    threshold = inputs.info.min_group_size
    prev_threshold = previous.info.min_group_size
    same_groups = {g.key for g in current.shown} == {g.key for g in prev.shown}
    prev_title = previous.info.title
    for report in elements:
        prev_cells = prev.cells.get(report.element.code)
        for column in current.columns:
            if column.kind == "other":
                continue
            cell = report.cells[column.key]
            reason: str | None = None
            prev_cell: Cell | None = None
            if prev_cells is None:
                reason = f"not rated in {prev_title}"
            elif column.kind == "all" and not same_groups:
                reason = "the shown groups differ between the cycles"
            elif column.kind == "group" and column.key not in prev_columns:
                reason = f"no such group in {prev_title}"
            elif not column.is_shown:
                reason = "hidden in this cycle"
            elif column.responses < threshold:
                reason = f"fewer than {threshold} responses in this cycle"
            else:
                prev_cell = prev_cells.get(column.key)
                if prev_cell is None or prev_cell.is_hidden:
                    reason = f"hidden in {prev_title}"
                elif prev_responses.get(column.key, 0) < prev_threshold:
                    reason = f"fewer than {prev_threshold} responses in {prev_title}"
                elif prev_cell.mean is None or cell.mean is None:
                    reason = "no ratings to compare"
            if reason is not None or prev_cell is None:
                report.movements.append(Movement(column, reason=reason or "not compared"))
            else:
                report.movements.append(
                    Movement(column, prev_cell.mean, cell.mean, prev_cell.level, cell.level)
                )


def _rules(info: CycleInfo) -> list[str]:
    m, mc = info.min_group_size, info.min_comment_group_size
    return [
        f"Results are shown only for groups with at least {m} responses. A smaller group's "
        "cells are hidden and say so, unless it is an open group, whose members were told "
        "before answering that its ratings would be shown.",
        "The trust-wide column (All shown groups) is computed over the shown groups only, so "
        "no subtraction of published figures can reveal a hidden group.",
        "Hidden groups with at least 2 responses each are combined into 'Other groups "
        f"combined' only when together they have at least {m} responses; a hidden group with "
        "a single response is never included. That column is kept out of the trust-wide "
        "column, and an element's combined cell is withheld when all its answers, or all but "
        "one, are the same (a small group's ratings, or everyone else's to the one who "
        "answered differently, would then be known).",
        f"Comments are shown only from shown groups with at least {max(m, mc)} responses, open "
        "groups included; they are in random order, listed by element, never by group, school "
        "or person.",
        "Movement since the previous cycle is shown only where the group is shown with at "
        "least the minimum number of responses in both cycles (and, for the trust-wide "
        "column, where the same groups are shown in both).",
        "Mean scores run from 1 (" + info.framework.scale.levels[0].label + ") to "
        f"{len(info.framework.scale.levels)} ({info.framework.scale.levels[-1].label}); "
        "'don't know' answers count as answered but carry no score. Spread is the standard "
        "deviation of the scores and the share of answers at the most common rating.",
    ]


def _ranking_rules(scale: fw.Scale) -> list[str]:
    midpoint = (1 + len(scale.levels)) / 2
    return [
        f"Strengths: elements whose trust-wide mean is at least {midpoint:.1f} (the upper half "
        f"of the scale) with high agreement (at least {AGREEMENT_SHARE:.0%} of the rated "
        f"answers at the most common rating), highest mean first, then the smaller standard "
        f"deviation, then framework order; at most {TOP_N}.",
        "Priorities: the other elements with the lowest trust-wide mean, lowest first, then the "
        f"smaller standard deviation (more agreement), then framework order; at most {TOP_N}.",
        "Where groups disagree most: the elements with the largest perception gap between two "
        f"shown groups' means, of at least {DISAGREEMENT_GAP:.1f}; at most {TOP_N}. The "
        "framework's questions for each are given as prompts for the discussion.",
    ]


def build_report(inputs: CycleInputs, *, compiled_at: datetime | None = None) -> CycleReport:
    """The figures for one cycle, from its inputs alone (pure apart from the comment shuffle)."""
    info = inputs.info
    framework = info.framework
    elements = framework.elements_in_scope(info.scope)
    figures = _figures(inputs, elements)
    headings = {h.number: h for h in framework.headings}

    # Rule 4: an open group's comments follow the comment threshold like any other group's.
    comment_threshold = max(info.min_group_size, info.min_comment_group_size)
    eligible = {g.id for g in figures.shown if inputs.responses.get(g.id, 0) >= comment_threshold}
    comments: dict[str, list[str]] = {e.code: [] for e in elements}
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
        report.gap = _gap(report, figures.columns)
    _movements(inputs, figures, reports)

    gaps = sorted(
        (r for r in reports if r.gap is not None),
        key=lambda r: (-(r.gap.size if r.gap else 0.0), r.index),
    )
    rated = [r for r in reports if r.overall.mean is not None]
    midpoint = (1 + len(framework.scale.levels)) / 2

    def mean_of(r: ElementReport) -> float:
        return r.overall.mean or 0.0

    def sd_of(r: ElementReport) -> float:
        return r.overall.sd or 0.0

    strengths = sorted(
        (
            r
            for r in rated
            if float(r.overall.mean_text) >= midpoint
            and (r.overall.modal_share or 0.0) >= AGREEMENT_SHARE - 1e-9
        ),
        key=lambda r: (-mean_of(r), sd_of(r), r.index),
    )[:TOP_N]
    priorities = sorted(
        (r for r in rated if r not in strengths), key=lambda r: (mean_of(r), sd_of(r), r.index)
    )[:TOP_N]
    disagreements = [r for r in gaps if r.gap and r.gap.size >= DISAGREEMENT_GAP - 1e-9][:TOP_N]

    blocks: list[HeadingBlock] = []
    for report in reports:
        if not blocks or blocks[-1].heading.number != report.heading.number:
            blocks.append(HeadingBlock(report.heading, []))
        blocks[-1].elements.append(report)

    previous_note = inputs.previous_note
    if inputs.previous is None and not previous_note:
        previous_note = "This cycle names no previous cycle, so there is no movement to show."
    return CycleReport(
        info=info,
        rates=list(inputs.rates),
        columns=figures.columns,
        elements=reports,
        headings=blocks,
        gaps=gaps,
        strengths=strengths,
        priorities=priorities,
        disagreements=disagreements,
        previous_title=inputs.previous.info.title if inputs.previous else None,
        previous_note=previous_note,
        rules=_rules(info),
        ranking_rules=_ranking_rules(framework.scale),
        compiled_at=compiled_at or utcnow(),
    )


def compile_cycle(session: Session, cycle: Cycle) -> CycleReport:
    """Compile a cycle's figures (reads only; the caller decides what to store)."""
    return build_report(load_inputs(session, cycle))
