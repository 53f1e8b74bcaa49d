"""The figures: pandas counts and statistics per element and column, with the suppression
rules applied, and movement since the previous cycle.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

import framework as fw
from survey.models import ALL_SHOWN_LABEL
from survey.reports.means import format_mean
from survey.reports.model import (
    ALL,
    OTHER,
    Cell,
    Column,
    CycleInputs,
    ElementReport,
    GroupInfo,
    Movement,
)
from survey.templating import counted


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
class Figures:
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


def compute_figures(inputs: CycleInputs, elements: Sequence[fw.Element]) -> Figures:
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
            ALL_SHOWN_LABEL,
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
    return Figures(columns, cells, shown, hidden)


# A group's size "changed markedly" when one cycle had at least this many times the other's.
MARKED_SIZE_RATIO = 1.5
# Below this many responses a group's mean moves a long way with one person's answer.
SMALL_GROUP = 5


def size_note(before: int, now: int) -> str:
    """A caveat for one movement: the group's size changed markedly, or it is small."""
    if min(before, now) and max(before, now) >= MARKED_SIZE_RATIO * min(before, now):
        return f"responses {before} then {now}"
    if min(before, now) < SMALL_GROUP:
        return f"small group ({before} then {counted(now, 'response')})"
    return ""


def scope_notes(inputs: CycleInputs, elements: Sequence[ElementReport]) -> list[str]:
    """Caveats when the two cycles asked different questions of the elements compared."""
    previous = inputs.previous
    if previous is None:
        return []
    prev_framework = previous.info.framework
    prev_codes = {e.code: e for e in prev_framework.elements_in_scope(previous.info.scope)}
    changed = []
    for report in elements:
        before = prev_codes.get(report.element.code)
        if before is None:
            continue
        if len(before.questions_for(previous.info.scope)) != len(report.questions):
            changed.append(report.element.code)
    if not changed:
        return []
    now_q = sum(len(r.questions) for r in elements)
    before_q = sum(len(e.questions_for(previous.info.scope)) for e in prev_codes.values())
    return [
        f"The scope changed: {previous.info.title} asked {before_q} questions, this cycle "
        f"{now_q}. Elements {', '.join(changed)} were rated on a different set of questions, "
        "so part of their movement may come from the questions rather than the practice."
    ]


def attach_movements(
    inputs: CycleInputs,
    current: Figures,
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
    prev = compute_figures(previous, prev_elements)
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
                    Movement(
                        column,
                        prev_cell.mean,
                        cell.mean,
                        prev_cell.level,
                        cell.level,
                        previous_text=prev_cell.mean_text,
                        text=cell.mean_text,
                        note=size_note(prev_responses.get(column.key, 0), column.responses),
                    )
                )
