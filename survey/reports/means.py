"""How every document (the report, the set report, the peer-review pack, the benchmark) counts
and prints a mean: light enough for the web pages, which may not load the compiler or pandas."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

# How many elements a list of strengths or priorities names (more on a tie at its end).
TOP_N = 3


def round_mean(value: Decimal) -> str:
    """A mean as printed: rounded half up to 2 decimals."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_mean(score_total: int, rated: int) -> str:
    """The mean of `rated` ratings scoring `score_total` in all, as printed ('' if none)."""
    return round_mean(Decimal(score_total) / Decimal(rated)) if rated else ""


def average(means: Iterable[Decimal]) -> Decimal | None:
    """Means averaged with equal weight (None when there are none)."""
    values = list(means)
    return sum(values, Decimal(0)) / len(values) if values else None
