"""The property (SPEC section 11): no figure in a set's report, a peer review or the benchmark,
together with a trust's own published report, lets anyone derive a hidden group of that trust.

Shown by what it means: every such figure is a function of the trust's published shown-group
figures only. Trusts are generated with groups of every size (some below the threshold, hidden),
compiled by the real compile step and stored as `published_figures` stores them; then every
hidden group's answers are replaced at will, and every figure of the set's report, the peer
review and the benchmark must come out the same."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey.reports.compile import build_report
from survey.reports.set_figures import (
    SharedTrust,
    TrustFigures,
    compute_benchmark,
    compute_peer_review,
    compute_set_report,
    figure_of,
)
from survey.reports.store import published_figures
from tests.reports.test_suppression import CODES, FRAMEWORK, KEYS, make_inputs

GROUP_KEYS = ["executive", "headteacher", "middle-leader", "trustees"]
MIN_GROUP = 3

answers = st.lists(st.sampled_from(KEYS), min_size=0, max_size=7)


@st.composite
def trust_groups(draw: st.DrawFn) -> list[tuple[str, list[dict[str, list[str]]]]]:
    keys = draw(st.lists(st.sampled_from(GROUP_KEYS), min_size=1, max_size=4, unique=True))
    groups = []
    for key in keys:
        size = draw(st.integers(min_value=1, max_value=6))
        by_code = {
            code: draw(st.lists(st.sampled_from(KEYS), min_size=size, max_size=size))
            for code in CODES
        }
        groups.append((key, [by_code]))
    return groups


def _figures(groups: list[tuple[str, dict[str, list[str]]]]) -> TrustFigures:
    compiled = build_report(make_inputs([(key, False, a) for key, a in groups]))
    return TrustFigures.of(figure_of(row) for row in published_figures(1, compiled))


def _outputs(
    all_groups: list[list[tuple[str, dict[str, list[str]]]]], as_name: list[bool]
) -> tuple[list[str], list[str], dict[str, tuple[Decimal, ...]], dict[int, dict[str, Decimal]]]:
    trusts = [
        SharedTrust(chr(65 + i), named, f"Trust number {i}", "cycle", _figures(groups))
        for i, (groups, named) in enumerate(zip(all_groups, as_name, strict=True))
    ]
    report = compute_set_report("Set", FRAMEWORK, trusts)
    review = compute_peer_review("Pair", FRAMEWORK, trusts[:2])
    rows = [
        (i, code, figure.mean)
        for i, trust in enumerate(trusts)
        for (code, group), figure in trust.current.figures.items()
        if group == "all" and figure.mean
    ]
    table = compute_benchmark("mat-assurance", rows)
    quartiles = {c: (q.lower, q.median, q.upper) for c, q in table.quartiles.items()}
    challenges = [c.element.code + c.reason for c in review.challenges]
    return (
        report.figures() + [d.high + d.low for d in report.disagreements],
        (review.figures() + challenges),
        quartiles,
        table.means,
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(trust_groups(), min_size=10, max_size=11),
    st.lists(st.booleans(), min_size=11, max_size=11),
    st.data(),
)
def test_hidden_groups_change_no_figure_of_a_set_a_peer_review_or_the_benchmark(
    trusts: list[list[tuple[str, list[dict[str, list[str]]]]]],
    as_name: list[bool],
    data: st.DataObject,
) -> None:
    plain = [[(key, boxed[0]) for key, boxed in groups] for groups in trusts]
    before = _outputs(plain, as_name[: len(plain)])
    changed = []
    hidden_seen = False
    for groups in plain:
        new_groups = []
        for key, by_code in groups:
            size = len(by_code[CODES[0]])
            if size < MIN_GROUP:  # hidden: replace its answers with anything
                hidden_seen = True
                by_code = {
                    code: data.draw(st.lists(st.sampled_from(KEYS), min_size=size, max_size=size))
                    for code in CODES
                }
            new_groups.append((key, by_code))
        changed.append(new_groups)
    after = _outputs(changed, as_name[: len(plain)])
    assert after == before
    if hidden_seen:
        # The check is not empty: the report and the benchmark have figures to compare.
        assert before[0] or before[2] is not None


def test_a_hidden_group_that_were_counted_would_change_the_figures() -> None:
    """The property's own check: with the executive group shown (3 people) its answers move
    the set's figures; hidden (2 people) they do not."""
    base = [("headteacher", {c: ["green", "green", "amber-green"] for c in CODES})]

    def outputs(executive: list[str]) -> list[str]:
        groups = [*base, ("executive", {c: executive for c in CODES})]
        return _outputs([groups] * 10, [False] * 10)[0]

    assert outputs(["red", "red"]) == outputs(["green", "green"])
    assert outputs(["red", "red", "red"]) != outputs(["green", "green", "green"])
