"""Rankings over the compiled elements: each element's perception gap, and the report's
largest gaps, strengths, priorities and disagreements (the rules are written out in
`wording.ranking_rules`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import framework as fw
from survey.reports.model import (
    AGREEMENT_SHARE,
    DISAGREEMENT_GAP,
    TOP_N,
    Column,
    ElementReport,
    Gap,
)


def perception_gap(report: ElementReport, columns: Sequence[Column]) -> Gap | None:
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


@dataclass(frozen=True)
class Rankings:
    gaps: list[ElementReport]  # elements with a gap, largest first
    strengths: list[ElementReport]
    priorities: list[ElementReport]
    disagreements: list[ElementReport]


def rank(reports: Sequence[ElementReport], framework: fw.Framework) -> Rankings:
    """Gaps, strengths, priorities and disagreements, in framework order on ties."""
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
    return Rankings(gaps, strengths, priorities, disagreements)
