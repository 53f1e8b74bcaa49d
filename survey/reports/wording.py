"""The report's prose: the rules it states and the notes about the previous cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

from survey.reports.model import AGREEMENT_SHARE, DISAGREEMENT_GAP, TOP_N

if TYPE_CHECKING:
    import framework as fw
    from survey.reports.model import CycleInfo

NO_PREVIOUS_CYCLE = "This cycle names no previous cycle, so there is no movement to show."


def previous_not_closed(title: str) -> str:
    return f"The previous cycle ({title}) has not closed yet, so nothing moved."


def rules(info: CycleInfo) -> list[str]:
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


def ranking_rules(scale: fw.Scale) -> list[str]:
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
