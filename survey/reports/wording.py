"""The report's prose: the rules it states and the notes about the previous cycle."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from survey.reports.means import TOP_N
from survey.reports.model import (
    AGREEMENT_SHARE,
    ALL,
    DISAGREEMENT_GAP,
    Finding,
    Movement,
    RankGroup,
)

if TYPE_CHECKING:
    import framework as fw
    from survey.reports.model import Column, CycleInfo, CycleReport, ElementReport

NO_PREVIOUS_CYCLE = "This cycle names no previous cycle, so there is no movement to show."


def previous_not_closed(title: str) -> str:
    return f"The previous cycle ({title}) has not closed yet, so nothing moved."


def rules(info: CycleInfo) -> list[str]:
    m = info.min_group_size
    return [
        f"Results are shown only for groups with at least {m} responses. A smaller group's "
        "cells are hidden and say so, unless it is an open group, whose members were told "
        "before answering that its ratings would be shown.",
        "The trust-wide column (All shown groups) is computed over the shown groups only, so "
        "no subtraction of published figures can reveal a hidden group. It is the mean of all "
        "their answers, so a larger group weighs more.",
        "Hidden groups with at least 2 responses each are combined into 'Other groups "
        f"combined' only when together they have at least {m} responses; a hidden group with "
        "a single response is never included. That column is kept out of the trust-wide "
        "column, and an element's combined cell is withheld when all its answers, or all but "
        "one, are the same (a small group's ratings, or everyone else's to the one who "
        "answered differently, would then be known).",
        f"Comments are shown only from shown groups with at least {info.comment_threshold} "
        "responses, open groups included; they are in random order, listed by element, "
        "never by group, school or person.",
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
    upper = ", ".join(lv.label for lv in scale.levels if lv.score > midpoint)
    lower = ", ".join(lv.label for lv in scale.levels if lv.score < midpoint)
    return [
        f"Strengths: elements where more than {AGREEMENT_SHARE:.0%} of the rated answers are in "
        f"the upper half of the scale ({upper}) and the trust-wide mean is at least "
        f"{midpoint:.2f}; highest mean first, then the larger share in the upper half; at most "
        f"{TOP_N} places.",
        "Priorities: the other elements, lowest trust-wide mean first, then the larger share "
        f"rated in the lower half ({lower}); at most {TOP_N} places.",
        "Where groups disagree most: the elements whose perception gap (the largest difference "
        f"between two shown groups' means) is at least {DISAGREEMENT_GAP:.2f}; largest gap "
        "first, then more groups on opposite sides of the middle of the scale, then the wider "
        f"spread of all answers (standard deviation); at most {TOP_N} places. The framework's "
        "questions for each are given as prompts for the discussion.",
        "Figures are compared as printed, to 2 decimals. Elements equal on every criterion "
        "share a place and are listed together as a tie, however many there are; nothing is "
        "decided by the order of the framework.",
        "Movement is the difference of the two means as printed, so the figures add up on the "
        "page.",
    ]


COMMENTS_PURGED = (
    "No comments are shown: this report was compiled after the cycle's names and schools were "
    "removed, so its comments could not be checked for them and are withheld."
)


def size_caveat(notes: dict[str, str]) -> str:
    """One caveat for the groups whose size changed markedly or is small (label -> note)."""
    parts = "; ".join(f"{label}: {note}" for label, note in notes.items())
    return (
        f"Read movement with care where a group's size changed markedly or is small ({parts}): "
        "one person's answer then moves a mean a long way."
    )


def withheld_comment_notes(sizes: list[int], threshold: int) -> list[str]:
    """How many groups' comments are withheld and why (never which groups)."""
    withheld = [n for n in sizes if n > 0]
    if not withheld:
        return []
    count = len(withheld)
    groups = "1 group is" if count == 1 else f"{count} groups are"
    return [
        f"Comments from {groups} not shown: each has fewer than {threshold} responses, too few "
        "for a comment not to point to its author."
    ]


def weighting_note(columns: list[Column]) -> str:
    """The trust-wide column is the mean of all answers, so larger groups weigh more."""
    shown = [c for c in columns if c.kind == "group" and c.is_shown]
    total = sum(c.responses for c in shown)
    if len(shown) < 2 or not total:
        return ""
    largest = max(shown, key=lambda c: c.responses)
    return (
        "The trust-wide column (All shown groups) is the mean of all answers from the shown "
        f"groups, so each group weighs by its number of responses: {largest.label} gave "
        f"{largest.responses} of the {total}. The mean of the group means, each group weighing "
        "the same, is given beside it in the group comparison and the tables; the heat map "
        "uses the mean of all answers."
    )


def _names(group: RankGroup) -> str:
    labels = [r.label for r in group.elements]
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} rated answers"


def _by_half(group: RankGroup, half: str) -> str:
    """A strength ("upper") or a priority ("lower") in a sentence, a tie named as one."""
    first = group.elements[0]
    count = first.upper if half == "upper" else first.lower
    figures = f"mean {first.overall.mean_text}, {_share(count, first.rated)} in the {half} half"
    if group.is_tie:
        return f"{len(group.elements)} elements tie ({figures} each): {_names(group)}."
    return f"{first.label}: {figures}."


def _strength(group: RankGroup) -> str:
    return _by_half(group, "upper")


def _priority(group: RankGroup) -> str:
    return _by_half(group, "lower")


def _disagreement(group: RankGroup) -> str:
    first = group.elements[0]
    assert first.gap is not None
    if group.is_tie:
        return (
            f"{len(group.elements)} elements tie with a gap of {first.gap.size:.2f} "
            f"(and the same split and spread): {_names(group)}."
        )
    return f"{first.label}: {first.gap.sentence}"


def _movement_finding(report: CycleReport) -> list[str]:
    if not report.previous_title:
        return [report.previous_note] if report.previous_note else []
    trust_wide: list[tuple[Decimal, ElementReport, Movement]] = []
    for row in report.elements:
        for move in row.movements:
            if move.column.key == ALL and move.reason is None and move.text:
                trust_wide.append((Decimal(move.text) - Decimal(move.previous_text), row, move))
    if not trust_wide:
        any_group = any(m.reason is None for r in report.elements for m in r.movements)
        if any_group:
            return [
                f"Trust-wide figures cannot be compared with {report.previous_title} (the shown "
                "groups differ); group by group movement is in the appendix."
            ]
        return [
            f"Nothing can be compared with {report.previous_title}: no group is shown with "
            "enough responses in both cycles."
        ]
    sentences = []
    rises = sorted((t for t in trust_wide if t[0] > 0), key=lambda t: (-t[0], t[1].index))
    falls = sorted((t for t in trust_wide if t[0] < 0), key=lambda t: (t[0], t[1].index))
    for kind, items in (("rise", rises), ("fall", falls)):
        if not items:
            continue
        best = [t for t in items if t[0] == items[0][0]]
        parts = [
            f"{row.label} ({move.previous_text} → {move.text}, {move.change_text})"
            for _, row, move in best
        ]
        lead = (
            f"Largest {kind} trust-wide"
            if len(best) == 1
            else f"Largest {kind} trust-wide, a tie of {len(best)}"
        )
        sentences.append(f"{lead}: {'; '.join(parts)}.")
    steady = len(trust_wide) - len(rises) - len(falls)
    sentences.append(
        f"Of {len(trust_wide)} elements compared trust-wide, {len(rises)} rose, {len(falls)} "
        f"fell and {steady} did not change."
    )
    return sentences


def findings(report: CycleReport) -> list[Finding]:
    """The summary page's findings, as plain sentences with their figures."""
    out: list[Finding] = []
    out.append(
        Finding(
            "Strongest",
            [_strength(g) for g in report.strength_groups]
            or ["No element has most answers in the upper half with a high mean."],
        )
    )
    out.append(
        Finding(
            "Priorities",
            [_priority(g) for g in report.priority_groups]
            or [
                "Every rated element meets the rule for a strength: none is left to rank."
                if report.strength_groups
                else "There are no trust-wide figures to rank."
            ],
        )
    )
    out.append(
        Finding(
            "Where groups disagree most",
            [_disagreement(g) for g in report.disagreement_groups]
            or [f"No two shown groups differ by {DISAGREEMENT_GAP:.2f} or more on any element."],
        )
    )
    moved = _movement_finding(report)
    if report.movement_notes:
        moved.append(report.movement_notes[0])
    if moved:
        out.append(Finding("What moved", moved))
    return out
