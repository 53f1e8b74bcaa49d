"""The report's data: what the compile step reads (`CycleInputs`) and what it makes
(`CycleReport`), as plain dataclasses; no queries, no pandas maths, no prose beyond a cell's
own words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Literal

import framework as fw
from survey.queries import GroupCounts

if TYPE_CHECKING:
    import pandas as pd

OTHER = "_other"  # not a possible group key (keys start with a letter or digit)
ALL = "all"  # reserved: no group may use it
TOP_N = 3
# A perception gap worth a discussion: at least half a band between two groups' means.
DISAGREEMENT_GAP = 0.5
# "High agreement" for a strength: at least half of the rated answers at the most common rating.
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
    rates: list[GroupCounts]
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
    # Comments the CEO hid while reviewing a held report: the report says how many, never which.
    hidden_comment_count: int = 0

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
