"""SPEC section 5's suppression rules, on the pure compile step (no database needed):
hidden groups, the trust-wide column over shown groups, hidden groups combined, open groups,
comments by the comment threshold. The property test proves that no published figure lets
anyone derive a hidden group's counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment

import framework as fw
from survey.reports.compile import (
    ALL,
    OTHER,
    CycleInfo,
    CycleInputs,
    CycleReport,
    GroupInfo,
    build_report,
    format_mean,
)
from survey.reports.outputs import render_report_html, render_summary_csv

FRAMEWORK = fw.load_builtin("mat-assurance")
SCOPE = fw.parse_scope("1A,2A,3A")
CODES = ["1A", "2A", "3A"]
KEYS = list(FRAMEWORK.scale.answer_keys)


def make_inputs(
    groups: Sequence[tuple[str, bool, dict[str, list[str]]]],
    *,
    min_group_size: int = 3,
    min_comment_group_size: int = 5,
) -> CycleInputs:
    """groups: (key, is_open, {element code: one answer per response}); every response gets a
    comment naming its group, so a test can see whose comments were shown."""
    infos, responses, ratings, comments = [], {}, [], []
    for i, (key, is_open, answers) in enumerate(groups, start=1):
        infos.append(GroupInfo(i, key, key.title(), is_open))
        sizes = {len(a) for a in answers.values()} or {0}
        responses[i] = sizes.pop()
        for code, keys in answers.items():
            for j, answer in enumerate(keys):
                ratings.append((i, code, answer))
                comments.append((i, code, f"comment from {key} #{j}"))
    info = CycleInfo(
        id=1,
        title="Test cycle",
        trust_name="Trust",
        timezone="Europe/London",
        state="closed",
        opens_at=datetime(2026, 1, 5, tzinfo=UTC),
        closes_at=datetime(2026, 1, 26, tzinfo=UTC),
        closed_at=datetime(2026, 1, 26, tzinfo=UTC),
        framework=FRAMEWORK,
        scope=SCOPE,
        min_group_size=min_group_size,
        min_comment_group_size=min_comment_group_size,
    )
    return CycleInputs(
        info=info,
        groups=infos,
        responses=responses,
        ratings=pd.DataFrame(ratings, columns=["group_id", "element_code", "scale_key"]),
        comments=pd.DataFrame(comments, columns=["group_id", "element_code", "rationale"]),
    )


def same(answer: str, n: int) -> dict[str, list[str]]:
    return {code: [answer] * n for code in CODES}


def mixed(n: int) -> dict[str, list[str]]:
    return {code: [KEYS[j % len(KEYS)] for j in range(n)] for code in CODES}


def csv_rows(report: CycleReport) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render_summary_csv(report).decode())))


def test_small_group_is_hidden_and_trust_wide_covers_shown_groups_only() -> None:
    report = build_report(make_inputs([("exec", False, same("green", 2)), ("head", False,
                                                                          mixed(6))]))  # fmt: skip
    rows = {(r["element"], r["group"]): r for r in csv_rows(report)}
    assert rows[("1A", "exec")] == {
        "element": "1A", "heading": "1", "group": "exec", "responses": "2", "red": "",
        "amber_red": "", "amber_green": "", "green": "", "dont_know": "", "mean": "",
        "suppressed": "true",
    }  # fmt: skip
    head, everyone = rows[("1A", "head")], rows[("1A", "all")]
    assert {k: v for k, v in everyone.items() if k != "group"} == {
        k: v for k, v in head.items() if k != "group"
    }
    assert [c.key for c in report.columns] == ["exec", "head", ALL]  # 2 < 3: nothing combined


def test_open_group_is_shown_even_when_small() -> None:
    report = build_report(make_inputs([("exec", True, same("green", 2)), ("head", False,
                                                                         mixed(4))]))  # fmt: skip
    rows = {(r["element"], r["group"]): r for r in csv_rows(report)}
    assert rows[("1A", "exec")]["green"] == "2" and rows[("1A", "exec")]["suppressed"] == "false"
    assert rows[("1A", "all")]["responses"] == "6"
    assert "open group" in report.column("exec").note


def test_hidden_groups_of_two_or_more_are_combined_when_together_they_reach_the_threshold(
    jinja_env: Environment,
) -> None:
    inputs = make_inputs(
        [
            ("trustee", False, {"1A": ["red", "green"], "2A": ["green"] * 2, "3A": ["red"] * 2}),
            ("head", False, mixed(5)),
            ("governor", False, {"1A": ["green", "amber-green"], "2A": ["green"] * 2,
                                 "3A": ["red", "green"]}),
            ("solo", False, {"1A": ["red"], "2A": ["red"], "3A": ["red"]}),
        ]
    )  # fmt: skip
    report = build_report(inputs)
    assert [c.key for c in report.columns] == ["trustee", "head", "governor", "solo", OTHER, ALL]
    other_column = report.column(OTHER)
    # The group of one is left out: its member would learn the others' ratings.
    assert other_column.members == ("trustee", "governor") and other_column.responses == 4
    assert other_column.note.startswith("Trustee, Governor together")
    other = {e.element.code: e.cells[OTHER] for e in report.elements}
    assert other["1A"].counts == {"red": 1, "amber-red": 0, "amber-green": 1, "green": 2,
                                  "dont-know": 0}  # fmt: skip
    # Every answer the same: each small group's ratings would follow, so the cell is withheld;
    # all but one the same: the one who answered differently would know everyone else's.
    assert other["2A"].is_hidden and other["3A"].is_hidden
    # The combined column stays out of the trust-wide column and out of summary.csv.
    assert report.elements[0].cells[ALL].counts == report.elements[0].cells["head"].counts
    assert {r["group"] for r in csv_rows(report)} == {"trustee", "head", "governor", "solo", "all"}
    html = str(render_report_html(report, env=jinja_env))
    assert "Other groups combined" in html and "not part of the trust-wide column" in html
    assert "Hidden: withheld: too few different answers to keep the small groups apart" in html


def test_a_hidden_group_of_one_is_never_combined() -> None:
    # 1 + 2 reach the threshold of 3, but the one person would learn the pair's ratings by
    # taking their own away: no combined column at all.
    one_and_two = make_inputs([("trustee", False, mixed(1)), ("head", False, mixed(5)),
                               ("governor", False, mixed(2))])  # fmt: skip
    assert OTHER not in [c.key for c in build_report(one_and_two).columns]
    ones = make_inputs([("a", False, mixed(1)), ("b", False, mixed(1)), ("c", False, mixed(1))])
    assert OTHER not in [c.key for c in build_report(ones).columns]


def test_comments_come_only_from_shown_groups_over_the_comment_threshold() -> None:
    inputs = make_inputs(
        [
            ("exec", True, mixed(2)),  # open: ratings shown, but too few for comments
            ("board", True, mixed(5)),  # open and over the comment threshold
            ("head", False, mixed(4)),  # shown (>= 3) but below the comment threshold of 5
            ("middle", False, mixed(5)),
            ("trustee", False, mixed(2)),  # hidden
        ]
    )
    report = build_report(inputs)
    assert report.column("exec").is_shown
    authors = {c.split(" #")[0] for e in report.elements for c in e.comments}
    assert authors == {"comment from board", "comment from middle"}
    assert sorted(report.elements[0].comments) == sorted(
        [f"comment from board #{j}" for j in range(5)]
        + [f"comment from middle #{j}" for j in range(5)]
    )


def test_no_shown_group_leaves_the_trust_wide_row_empty() -> None:
    report = build_report(make_inputs([("exec", False, mixed(2)), ("head", False, mixed(0))]))
    rows = [r for r in csv_rows(report) if r["group"] == "all"]
    assert all(r["suppressed"] == "true" and r["red"] == "" and r["responses"] == "0" for r in rows)
    assert report.strengths == report.priorities == report.gaps == []


def test_means_round_half_up_from_the_exact_fraction() -> None:
    assert format_mean(17, 8) == "2.13"  # 2.125
    assert format_mean(43, 16) == "2.69"  # 2.6875
    assert format_mean(10, 3) == "3.33"
    assert format_mean(0, 0) == ""


# -- the property: nothing published derives a hidden group -------------------------------------


@st.composite
def cycles(draw: st.DrawFn) -> CycleInputs:
    threshold = draw(st.integers(3, 6))
    comment_threshold = draw(st.integers(3, 8))
    count = draw(st.integers(1, 5))
    groups = []
    # Small groups and few distinct answers are where leaks hide, so both are drawn often.
    choices = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=len(KEYS), unique=True))
    for i in range(count):
        size = draw(st.one_of(st.integers(0, 4), st.integers(0, 9)))
        is_open = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else False
        answers = {
            code: draw(st.lists(st.sampled_from(choices), min_size=size, max_size=size))
            for code in CODES
        }
        groups.append((f"g{i}", is_open, answers))
    return make_inputs(groups, min_group_size=threshold, min_comment_group_size=comment_threshold)


def _in_span(vectors: list[list[int]], target: list[int]) -> bool:
    if not vectors:
        return False
    matrix = np.array(vectors, dtype=float)
    return bool(np.linalg.matrix_rank(np.vstack([matrix, target])) == np.linalg.matrix_rank(matrix))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=cycles())
def test_no_published_figure_derives_a_hidden_group(inputs: CycleInputs) -> None:
    report = build_report(inputs)
    info = inputs.info
    n = inputs.responses
    ids = {g.key: g.id for g in inputs.groups}
    is_hidden = {g.id: not g.is_open and n[g.id] < info.min_group_size for g in inputs.groups}
    hidden = [g for g, h in is_hidden.items() if h and n[g] > 0]
    shown = [g for g, h in is_hidden.items() if not h]
    truth = inputs.ratings.groupby(["element_code", "group_id", "scale_key"]).size().to_dict()

    def true_counts(code: str, group_ids: Sequence[int]) -> dict[str, int]:
        return {k: sum(truth.get((code, g, k), 0) for g in group_ids) for k in KEYS}

    # summary.csv: hidden rows empty, shown rows and the all row exactly true.
    for row in csv_rows(report):
        code, group = row["element"], row["group"]
        covered = shown if group == "all" else [ids[group]]
        published = [row[k.replace("-", "_")] for k in KEYS]
        if group != "all" and is_hidden[ids[group]]:
            assert published == [""] * len(KEYS) and row["mean"] == ""
            assert row["suppressed"] == "true"
            assert row["responses"] == str(n[ids[group]])  # public in the summary anyway
        elif group == "all" and not shown:
            assert row["suppressed"] == "true" and published == [""] * len(KEYS)
        else:
            expected = true_counts(code, covered)
            assert published == [str(expected[k]) for k in KEYS]
            assert row["suppressed"] == "false"
            scores = [FRAMEWORK.scale.score(k) or 0 for k in FRAMEWORK.scale.keys]
            rated = sum(expected[k] for k in FRAMEWORK.scale.keys)
            total = sum(expected[k] * s for k, s in zip(FRAMEWORK.scale.keys, scores, strict=True))
            if rated:
                assert abs(Fraction(row["mean"]) - Fraction(total, rated)) <= Fraction(1, 200)

    # Every figure any output publishes (the HTML, xlsx and PNG all show these cells), as the
    # set of groups it adds up. No hidden group is ever published alone, and no combination
    # of published figures (differences of any pairs or subsets) isolates one: its indicator
    # vector is outside the span of the published ones.
    group_index = {g.id: i for i, g in enumerate(inputs.groups)}
    for element in report.elements:
        coverages: list[list[int]] = []
        for column in report.columns:
            cell = element.cells[column.key]
            if cell.counts is None:
                continue
            covered = [ids[key] for key in column.members]
            if column.kind == "group":
                assert covered == [ids[column.key]]
            elif column.kind == "all":
                assert covered == shown
            else:
                assert covered == [g for g in hidden if n[g] >= 2]
            assert dict(cell.counts) == true_counts(element.element.code, covered)
            assert not (len(covered) == 1 and is_hidden[covered[0]])
            vector = [0] * len(inputs.groups)
            for g in covered:
                # A group with no responses adds nothing to a figure.
                vector[group_index[g]] = 1 if n[g] else 0
            coverages.append(vector)
            if column.kind == "other":
                # Combined only when together they reach the threshold, which takes at least
                # two hidden groups of at least 2; and at least two answers differ from the
                # most common one, so each group's share could be split another way, even
                # by one of their members taking their own answer away.
                assert sum(n[g] for g in covered) >= info.min_group_size
                assert len(covered) >= 2 and all(n[g] >= 2 for g in covered)
                assert sum(cell.counts.values()) - max(cell.counts.values()) >= 2
        for g in hidden:
            target = [0] * len(inputs.groups)
            target[group_index[g]] = 1
            assert not _in_span(coverages, target), f"group {g} is derivable"

    # Comments only from groups over both thresholds, open groups included.
    allowed = {
        g.key
        for g in inputs.groups
        if n[g.id] >= max(info.min_group_size, info.min_comment_group_size)
    }
    for element in report.elements:
        for comment in element.comments:
            assert comment.split(" ")[2] in allowed


def test_band_follows_the_mean_as_printed() -> None:
    answers = ["amber-red"] * 101 + ["amber-green"] * 99  # 499 / 200 = 2.495
    report = build_report(make_inputs([("head", False, dict.fromkeys(CODES, answers))]))
    cell = report.elements[0].cells["head"]
    assert cell.mean_text == "2.50"
    assert cell.level is not None and cell.level.key == "amber-green"


def test_movement_only_where_the_group_meets_the_threshold_in_both_cycles() -> None:
    before = make_inputs(
        [("exec", True, same("red", 2)), ("head", False, same("red", 3)),
         ("middle", False, same("red", 2)), ("trustee", False, same("red", 4))]
    )  # fmt: skip
    now = make_inputs(
        [("exec", True, same("green", 2)), ("head", False, same("green", 4)),
         ("middle", False, same("green", 5)), ("trustee", False, same("green", 2))]
    )  # fmt: skip
    now.previous = before
    report = build_report(now)
    moves = {m.column.key: m for m in report.elements[0].movements}
    assert moves["head"].change_text == "up 3.00"
    # The open group is shown in both cycles, but as a small group: no movement.
    assert moves["exec"].change is None
    assert moves["exec"].reason == "fewer than 3 responses in this cycle"
    assert moves["middle"].change is None and moves["middle"].reason == "hidden in Test cycle"
    assert moves["trustee"].change is None and moves["trustee"].reason == "hidden in this cycle"
    assert moves[ALL].reason == "the shown groups differ between the cycles"

    # An open group that met the threshold this year but not last year: no movement either.
    before.groups[0] = GroupInfo(1, "exec", "Exec", True)
    before.responses[1] = 2
    now.responses[1] = 3
    now.ratings = pd.concat(
        [now.ratings, pd.DataFrame([(1, c, "green") for c in CODES], columns=now.ratings.columns)]
    )
    moves = {m.column.key: m for m in build_report(now).elements[0].movements}
    assert moves["exec"].reason == "fewer than 3 responses in Test cycle"
