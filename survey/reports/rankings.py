"""Rankings over the compiled elements: each element's perception gap, and the report's
strengths, priorities and disagreements (the rules are written out in `wording.ranking_rules`).

Every ranking compares figures as printed (rounded to 2 decimals), so two elements that read
the same on the page are the same for the ranking. Elements still equal on every criterion at
the cut-off are all listed, together, as a tie: nothing is broken silently by framework order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import framework as fw
from survey.reports.means import TOP_N
from survey.reports.model import (
    AGREEMENT_SHARE,
    DISAGREEMENT_GAP,
    Column,
    ElementReport,
    Gap,
    RankGroup,
)

Key = tuple[Decimal, ...]


def perception_gap(report: ElementReport, columns: Sequence[Column]) -> Gap | None:
    """The largest difference between two shown groups' means (None with fewer than two).

    Means are the printed (rounded) figures, so the gap is their difference on the page; the
    groups on each side of the scale's midpoint are counted for the tie-break."""
    rated: list[tuple[Column, Decimal]] = []
    for column in columns:
        cell = report.cells[column.key]
        if column.kind == "group" and column.is_shown and cell.mean_text:
            rated.append((column, Decimal(cell.mean_text)))
    if len(rated) < 2:
        return None
    # max/min keep the first on a tie: the sentence names one group; the size is the same.
    high = max(rated, key=lambda item: item[1])
    low = min(rated, key=lambda item: item[1])
    return Gap(float(high[1] - low[1]), high[0], low[0], float(high[1]), float(low[1]))


def split_groups(report: ElementReport, columns: Sequence[Column], levels: int) -> int:
    """How many shown groups sit on the smaller side of the scale's midpoint (0 when every
    group's mean is on the same side): 2 against 1 counts 1, 2 against 2 counts 2."""
    midpoint = Decimal(1 + levels) / 2
    upper = lower = 0
    for column in columns:
        cell = report.cells[column.key]
        if column.kind == "group" and column.is_shown and cell.mean_text:
            mean = Decimal(cell.mean_text)
            upper += mean > midpoint
            lower += mean < midpoint
    return min(upper, lower)


def half_counts(report: ElementReport, scale: fw.Scale) -> tuple[int, int, int]:
    """(rated answers, in the upper half, in the lower half) trust-wide."""
    cell = report.overall
    if cell.counts is None:
        return 0, 0, 0
    midpoint = (1 + len(scale.levels)) / 2
    upper = sum(cell.counts.get(lv.key, 0) for lv in scale.levels if lv.score > midpoint)
    lower = sum(cell.counts.get(lv.key, 0) for lv in scale.levels if lv.score < midpoint)
    return cell.rated, upper, lower


def _share(part: int, whole: int) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else Decimal(0)


def _two(value: float | None) -> Decimal:
    return Decimal(f"{value or 0.0:.2f}")


def top_groups(
    candidates: Sequence[ElementReport], key: Callable[[ElementReport], Key], n: int = TOP_N
) -> list[RankGroup]:
    """The first `n` candidates by `key` (smallest first), in groups of equal keys; a group
    that straddles the cut-off is kept whole, so a tie is listed together, never cut."""
    ordered = sorted(candidates, key=lambda r: (key(r), r.index))
    groups: list[RankGroup] = []
    taken = 0
    for report in ordered:
        if groups and key(groups[-1].elements[0]) == key(report):
            groups[-1].elements.append(report)
            taken += 1
            continue
        if taken >= n:
            break
        groups.append(RankGroup([report]))
        taken += 1
    return groups


@dataclass(frozen=True)
class Rankings:
    gaps: list[ElementReport]  # elements with a gap, largest first (ties as ranked below)
    strengths: list[RankGroup]
    priorities: list[RankGroup]
    disagreements: list[RankGroup]


def rank(
    reports: Sequence[ElementReport], framework: fw.Framework, columns: Sequence[Column]
) -> Rankings:
    """Strengths, priorities and disagreements by the rules in `wording.ranking_rules`."""
    scale = framework.scale
    levels = len(scale.levels)
    midpoint = Decimal(1 + levels) / 2
    for report in reports:
        report.split = split_groups(report, columns, levels)
        report.rated, report.upper, report.lower = half_counts(report, scale)

    def gap_key(r: ElementReport) -> Key:
        size = _two(r.gap.size if r.gap else 0.0)
        return (-size, Decimal(-r.split), -_two(r.overall.sd))

    gaps = sorted((r for r in reports if r.gap is not None), key=lambda r: (gap_key(r), r.index))
    rated = [r for r in reports if r.overall.mean_text]

    # A strength: most rated answers in the upper half AND a mean in the upper half.
    strong = [
        r
        for r in rated
        if Decimal(r.overall.mean_text) >= midpoint
        and _share(r.upper, r.rated) > Decimal(str(AGREEMENT_SHARE))
    ]
    strengths = top_groups(
        strong,
        lambda r: (-Decimal(r.overall.mean_text), -_share(r.upper, r.rated)),
    )
    chosen = {r.element.code for g in strengths for r in g.elements}
    # A priority: lowest mean first, then the larger share rated in the lower half.
    priorities = top_groups(
        [r for r in rated if r.element.code not in chosen],
        lambda r: (Decimal(r.overall.mean_text), -_share(r.lower, r.rated)),
    )
    wide = [r for r in gaps if r.gap and _two(r.gap.size) >= Decimal(str(DISAGREEMENT_GAP))]
    disagreements = top_groups(wide, gap_key)
    return Rankings(gaps, strengths, priorities, disagreements)
