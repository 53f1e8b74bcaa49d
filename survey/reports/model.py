"""The report's data: what the compile step reads (`CycleInputs`) and what it makes
(`CycleReport`), as plain dataclasses; no queries, no pandas maths, no prose beyond a cell's
own words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import framework as fw
from survey.models import ALL_SHOWN, comment_threshold
from survey.queries import GroupCounts
from survey.reports.means import format_mean
from survey.services.plans import PastPriority

if TYPE_CHECKING:
    import pandas as pd

OTHER = "_other"  # not a possible group key (keys start with a letter or digit)
ALL = ALL_SHOWN  # reserved: no group may use it
# A perception gap worth a discussion: at least half a band between two groups' means.
DISAGREEMENT_GAP = 0.5
# A strength needs more than this share of the rated answers in the upper half of the scale.
AGREEMENT_SHARE = 0.5

ColumnKind = Literal["group", "other", "all"]


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupInfo:
    id: int
    key: str
    label: str
    is_open: bool


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

    @property
    def comment_threshold(self) -> int:
        return comment_threshold(self.min_group_size, self.min_comment_group_size)


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
    rates: list[GroupCounts] = field(default_factory=list)
    previous: CycleInputs | None = None
    previous_note: str = ""
    # Comments the CEO hid while reviewing a held report (already left out of `comments`).
    hidden_comment_count: int = 0
    # The cycle's comment_review_version when these inputs were read (see jobs/tasks.py).
    comment_review_version: int = 0
    # The cycle's names and schools were purged before this compile, so its comments could not
    # be checked for them: they are withheld (the report says why).
    comments_purged: bool = False
    # The previous cycle's priorities with their actions (survey/services/plans.py), shown in
    # this report beside each element's movement.
    previous_plan: list[PastPriority] = field(default_factory=list)
    # Element code -> the rating leadership agreed after reading the report (a scale key): its
    # own heat map column, never part of the survey's figures.
    agreed_keys: dict[str, str] = field(default_factory=dict)


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
    previous_text: str = ""  # the two means as printed (rounded half up to 2 decimals)
    text: str = ""
    note: str = ""  # a caveat: the group's size or the element's questions changed markedly

    @property
    def change(self) -> float | None:
        """The difference of the two printed figures, so the page adds up."""
        if not self.previous_text or not self.text:
            return None
        return float(Decimal(self.text) - Decimal(self.previous_text))

    @property
    def change_text(self) -> str:
        if not self.previous_text or not self.text:
            return ""
        change = Decimal(self.text) - Decimal(self.previous_text)
        if not change:
            return "no change"
        return f"{'up' if change > 0 else 'down'} {abs(change)}"


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
    # Filled by the rankings: shown groups on the smaller side of the midpoint, and the
    # trust-wide rated answers, those in the upper half and those in the lower half.
    split: int = 0
    rated: int = 0
    upper: int = 0
    lower: int = 0
    # The unweighted mean of the shown groups' means (as printed), beside the trust-wide
    # column's mean of all answers.
    group_means_text: str = ""

    @property
    def overall(self) -> Cell:
        return self.cells[ALL]

    @property
    def label(self) -> str:
        return f"{self.element.code} {self.element.title}"


@dataclass
class RankGroup:
    """Elements in one place of a ranking: one, or several listed together as a tie."""

    elements: list[ElementReport]

    @property
    def is_tie(self) -> bool:
        return len(self.elements) > 1


@dataclass(frozen=True)
class HeadingBlock:
    heading: fw.Heading
    elements: list[ElementReport]


@dataclass(frozen=True)
class LastYearPriority:
    """An element that was a priority in the previous cycle: what was done about it (the
    plan's actions and their status), beside this cycle's movement for it (`element` is None
    when this cycle did not rate it)."""

    code: str
    title: str
    priority: PastPriority
    element: ElementReport | None

    @property
    def movements(self) -> list[Movement]:
        return self.element.movements if self.element is not None else []


@dataclass(frozen=True)
class Finding:
    """One finding on the summary page: a heading ("Strongest") and plain sentences."""

    title: str
    sentences: list[str]


@dataclass
class CycleReport:
    info: CycleInfo
    rates: list[GroupCounts]
    columns: list[Column]
    elements: list[ElementReport]
    headings: list[HeadingBlock]
    gaps: list[ElementReport]  # elements with a gap, largest first
    strength_groups: list[RankGroup]
    priority_groups: list[RankGroup]
    disagreement_groups: list[RankGroup]
    previous_title: str | None
    previous_note: str
    rules: list[str]
    ranking_rules: list[str]
    compiled_at: datetime
    # Comments the CEO hid while reviewing a held report: the report says how many, never which.
    hidden_comment_count: int = 0
    # Why some groups' comments are not shown (how many groups and why, never which).
    comment_notes: list[str] = field(default_factory=list)
    # Caveats on movement: a changed scope, a group whose size changed markedly.
    movement_notes: list[str] = field(default_factory=list)
    # How the trust-wide column is weighted (which group gave how many of its answers).
    weighting_note: str = ""
    findings: list[Finding] = field(default_factory=list)
    # Last year's priorities and their actions, beside this year's movement (issue 18).
    last_year: list[LastYearPriority] = field(default_factory=list)
    # Leadership's agreed view per element code (only where agreed), shown in a column of its own.
    agreed: dict[str, fw.ScaleLevel] = field(default_factory=dict)

    @property
    def strengths(self) -> list[ElementReport]:
        return [r for g in self.strength_groups for r in g.elements]

    @property
    def priorities(self) -> list[ElementReport]:
        return [r for g in self.priority_groups for r in g.elements]

    @property
    def disagreements(self) -> list[ElementReport]:
        return [r for g in self.disagreement_groups for r in g.elements]

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
    def comment_count(self) -> int:
        return sum(len(e.comments) for e in self.elements)

    @property
    def movement_columns(self) -> list[Column]:
        """The columns with at least one element compared with the previous cycle."""
        compared = {m.column.key for e in self.elements for m in e.movements if m.reason is None}
        return [c for c in self.columns if c.key in compared]

    @property
    def movement_skipped(self) -> list[tuple[Column, str]]:
        """The other columns, each with why nothing in it is compared (its first reason)."""
        shown = {c.key for c in self.movement_columns}
        reasons: dict[str, str] = {}
        for element in self.elements:
            for move in element.movements:
                if move.column.key not in shown and move.reason:
                    reasons.setdefault(move.column.key, move.reason)
        return [(self.column(key), reason) for key, reason in reasons.items()]

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)
