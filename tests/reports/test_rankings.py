"""The rules a board can trust (issue 15), on hand-made cycles through the pure compile step:
a strength needs most answers in the upper half as well as a high mean (the 6B case); ties are
listed together, never broken by framework order (the 12-way gap tie, the 11-way priority tie);
movement is the difference of the two printed figures; the trust-wide column says how it is
weighted; withheld comments are counted, never named."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
from jinja2 import Environment

import framework as fw
from survey.reports.compile import CycleInfo, CycleInputs, GroupInfo, build_report
from survey.reports.outputs import render_report_html

from .factories import expand, section, table_rows

FRAMEWORK = fw.load_builtin("mat-assurance")
ALL_CODES = [e.code for e in FRAMEWORK.elements]

Answers = dict[str, list[str]]


def make_inputs(
    groups: Sequence[tuple[str, bool, Answers]],
    scope: str = "all",
    *,
    previous: CycleInputs | None = None,
    title: str = "Autumn review 2026",
    comments: Sequence[tuple[str, str, str]] = (),
) -> CycleInputs:
    """groups: (key, is_open, {element code: one answer per response}); comments: (group key,
    element code, text)."""
    infos, responses, ratings = [], {}, []
    ids = {}
    for i, (key, is_open, answers) in enumerate(groups, start=1):
        infos.append(GroupInfo(i, key, key.replace("-", " ").capitalize(), is_open))
        ids[key] = i
        responses[i] = {len(a) for a in answers.values()}.pop()
        for code, keys in answers.items():
            ratings.extend((i, code, answer) for answer in keys)
    info = CycleInfo(
        id=1,
        title=title,
        trust_name="Oak Learning Trust",
        timezone="Europe/London",
        state="closed",
        opens_at=datetime(2026, 1, 5, tzinfo=UTC),
        closes_at=datetime(2026, 1, 26, tzinfo=UTC),
        closed_at=datetime(2026, 1, 26, tzinfo=UTC),
        framework=FRAMEWORK,
        scope=fw.parse_scope(scope),
        min_group_size=3,
        min_comment_group_size=5,
    )
    return CycleInputs(
        info=info,
        groups=infos,
        responses=responses,
        ratings=pd.DataFrame(ratings, columns=["group_id", "element_code", "scale_key"]),
        comments=pd.DataFrame(
            [(ids[g], code, text) for g, code, text in comments],
            columns=["group_id", "element_code", "rationale"],
        ),
        previous=previous,
    )


def codes_of(groups: Sequence[object]) -> list[list[str]]:
    return [[r.element.code for r in g.elements] for g in groups]  # type: ignore[attr-defined]


def test_the_6b_case_is_not_a_strength_but_a_disagreement(jinja_env: Environment) -> None:
    # 6B: mean 2.70 with 5 of 10 at Amber red and a gap of 2.00 between the groups. 1A: a
    # modest element that everyone puts in the upper half.
    inputs = make_inputs(
        [
            ("executive", True, {"1A": ["amber-green"] * 2, "6B": ["green", "green"]}),
            ("headteacher", False, {"1A": ["amber-green"] * 5, "6B": ["amber-red"] * 5}),
            (
                "middle-leader",
                False,
                {"1A": expand({"amber-green": 2, "green": 1}), "6B": ["amber-green"] * 3},
            ),
        ],
        "1A,6B",
    )
    report = build_report(inputs)
    six_b = next(r for r in report.elements if r.element.code == "6B")
    assert six_b.overall.mean_text == "2.70"
    assert (six_b.rated, six_b.upper, six_b.lower) == (10, 5, 5)
    assert "6B" not in [r.element.code for r in report.strengths]
    assert codes_of(report.strength_groups) == [["1A"]]
    assert codes_of(report.disagreement_groups) == [["6B"]]
    assert six_b.gap is not None and f"{six_b.gap.size:.2f}" == "2.00"
    html = str(render_report_html(report, env=jinja_env))
    summary = section(html, "summary")
    assert "1A Clarity of purpose: mean 3.10, 10 of 10 rated answers in the upper half." in summary
    assert (
        "6B Capability to refresh and renew the MAT: Executive rate this 2.00 higher than "
        "Headteacher" in (" ".join(summary.split()))
    )
    rules = section(html, "strengths")
    assert "more than 50% of the rated answers are in the upper half" in rules


def test_a_12_way_tie_on_the_gap_is_broken_by_the_split_and_spread_then_listed_together(
    jinja_env: Environment,
) -> None:
    codes = ALL_CODES[:12]
    assert "2A" in codes
    executive = {c: ["green", "green"] for c in codes}
    heads = {c: ["amber-red"] * 3 for c in codes}
    # Everywhere but 2A the middle leaders sit at Amber green; at 2A they side with the heads.
    middles = {c: (["amber-red"] * 3 if c == "2A" else ["amber-green"] * 3) for c in codes}
    inputs = make_inputs(
        [
            ("executive", True, executive),
            ("headteacher", False, heads),
            ("middle-leader", False, middles),
        ],
        ",".join(codes),
    )
    report = build_report(inputs)
    assert all(r.gap is not None and f"{r.gap.size:.2f}" == "2.00" for r in report.elements)
    groups = codes_of(report.disagreement_groups)
    # 2A first: same gap, same split (1 group against 2), the wider spread of answers.
    assert groups[0] == ["2A"]
    # The other eleven are equal on every criterion: one place, all of them, framework order.
    assert groups[1] == [c for c in codes if c != "2A"]
    assert len(groups) == 2
    html = str(render_report_html(report, env=jinja_env))
    summary = " ".join(section(html, "summary").split())
    assert "11 elements tie with a gap of 2.00 (and the same split and spread): 1A" in summary
    prompts = section(html, "strengths")
    assert "Tied: 11 elements share this place" in prompts
    # Every tied element gets its discussion prompts, 2A's included.
    for code in codes:
        assert f"<h4>{code} " in prompts


def test_an_11_way_priority_tie_is_named_as_a_tie(jinja_env: Environment) -> None:
    codes = ALL_CODES
    heads = {c: (["red"] * 4 if c in codes[:11] else ["green"] * 4) for c in codes}
    middles = {c: (["red"] * 3 if c in codes[:11] else ["amber-green"] * 3) for c in codes}
    report = build_report(
        make_inputs([("headteacher", False, heads), ("middle-leader", False, middles)])
    )
    assert codes_of(report.priority_groups) == [codes[:11]]
    assert report.priority_groups[0].is_tie
    html = str(render_report_html(report, env=jinja_env))
    summary = " ".join(section(html, "summary").split())
    assert (
        "11 elements tie (mean 1.00, 7 of 7 rated answers in the lower half each): 1A Clarity"
        in summary
    )
    # The three strengths: all equal too (mean 3.57, 7 of 7 upper): a tie of three.
    assert codes_of(report.strength_groups) == [codes[11:]]


def test_strengths_rank_by_mean_then_share_in_the_upper_half() -> None:
    heads = {
        "1A": expand({"green": 3, "amber-green": 1, "amber-red": 1}),  # 3.40, 4 of 5 upper
        "1B": expand({"green": 2, "amber-green": 3}),  # 3.40, 5 of 5 upper
        "1C": expand({"green": 4, "red": 1}),  # 3.40, 4 of 5 upper: ties with 1A
        "2A": expand({"amber-green": 3, "amber-red": 2}),  # 2.60, 3 of 5 upper
        "2B": expand({"green": 2, "amber-green": 1, "amber-red": 1, "red": 1}),  # 2.80, 3 of 5
    }
    report = build_report(make_inputs([("headteacher", False, heads)], "1A,1B,1C,2A,2B"))
    assert [r.overall.mean_text for r in report.elements] == [
        "3.40", "3.40", "3.40", "2.60", "2.80"]  # fmt: skip
    # 1B first (same mean, larger share upper), then 1A and 1C together; the cut falls after,
    # and 2A and 2B, though they meet the rule, are then the lowest: the priorities.
    assert codes_of(report.strength_groups) == [["1B"], ["1A", "1C"]]
    assert codes_of(report.priority_groups) == [["2A"], ["2B"]]


def test_movement_is_the_difference_of_the_printed_figures(jinja_env: Environment) -> None:
    # Last year 25/11 = 2.2727 (shown 2.27); now 23/9 = 2.5556 (shown 2.56). The exact
    # difference, 0.2828, would print as 0.28 beside "2.27 → 2.56"; the page says 0.29.
    before = make_inputs(
        [("headteacher", False, {"1A": expand({"amber-red": 8, "amber-green": 3})})],
        "start",
        title="Autumn review 2025",
    )
    now = make_inputs(
        [("headteacher", False, {"1A": expand({"amber-red": 4, "amber-green": 5})})],
        "all",
        previous=before,
    )
    report = build_report(now)
    html = str(render_report_html(report, env=jinja_env))
    movement = section(html, "movement")
    rows = {row[0]: row for row in table_rows(movement)}
    assert rows["1A Clarity of purpose"][1].startswith("2.27 → 2.56 up 0.29 ")
    # The trust-wide column too.
    assert rows["1A Clarity of purpose"][2].startswith("2.27 → 2.56 up 0.29 ")
    summary = " ".join(section(html, "summary").split())
    assert "1A Clarity of purpose (2.27 → 2.56, up 0.29)" in summary
    # The scope changed (questions to start with, then all): said beside the movement.
    assert "The scope changed: Autumn review 2025 asked" in movement
    assert "Elements 1A" in movement


def test_a_marked_change_in_a_group_size_is_noted() -> None:
    before = make_inputs(
        [
            ("headteacher", False, {"1A": ["green"] * 4}),
            ("middle-leader", False, {"1A": ["red"] * 12}),
        ],
        "1A",
        title="Last year",
    )
    now = make_inputs(
        [
            ("headteacher", False, {"1A": ["green"] * 8}),
            ("middle-leader", False, {"1A": ["red"] * 12}),
        ],
        "1A",
        previous=before,
    )
    report = build_report(now)
    notes = {m.column.key: m.note for m in report.elements[0].movements}
    assert notes["headteacher"] == "responses 4 then 8"
    assert notes["middle-leader"] == ""
    assert any("Headteacher: responses 4 then 8" in n for n in report.movement_notes)


def test_the_trust_wide_column_states_its_weighting_and_offers_both_means(
    jinja_env: Environment,
) -> None:
    inputs = make_inputs(
        [
            ("headteacher", False, {"1A": ["green"] * 10}),
            ("middle-leader", False, {"1A": ["red"] * 25}),
        ],
        "1A",
    )
    report = build_report(inputs)
    row = report.elements[0]
    assert row.overall.mean_text == "1.86"  # (40 + 25) / 35: weighted by headcount
    assert row.group_means_text == "2.50"  # (4 + 1) / 2: each group the same
    html = str(render_report_html(report, env=jinja_env))
    heat = " ".join(section(html, "heat-map").split())
    assert "Middle leader gave 25 of the 35" in heat
    assert "the heat map uses the mean of all answers" in heat
    gaps = table_rows(section(html, "comparison"))
    assert ["1A Clarity of purpose", "Headteacher 4.00", "Middle leader 1.00", "3.00", "1.86",
            "2.50"] in gaps  # fmt: skip


def test_withheld_comments_are_counted_never_named(jinja_env: Environment) -> None:
    inputs = make_inputs(
        [
            ("executive", True, {"1A": ["green"] * 3}),
            ("trustee", False, {"1A": ["green"] * 2}),
            ("middle-leader", False, {"1A": ["red"] * 6}),
        ],
        "1A",
        comments=[
            ("executive", "1A", "EXEC remark"),
            ("trustee", "1A", "TRUSTEE remark"),
            ("middle-leader", "1A", "A middle leader's remark"),
        ],
    )
    report = build_report(inputs)
    html = str(render_report_html(report, env=jinja_env))
    comments = " ".join(section(html, "comments").split())
    assert "Comments from 2 groups are not shown: each has fewer than 5 responses" in comments
    assert "A middle leader&#39;s remark" in comments
    assert "EXEC" not in comments and "TRUSTEE" not in comments
    note = comments[comments.index("Comments from 2 groups") :][:200]
    assert "Executive" not in note and "Trustee" not in note
