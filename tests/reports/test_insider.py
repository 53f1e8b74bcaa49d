"""An insider against the published figures (SPEC section 5), on the pure compile step.

The insider is a respondent who knows their own answers, or a CEO who answers for some of the
invited addresses in any group. What "pin" means here:

- The figures are computed from each group's answers with no trace of who gave which, so the
  people in one group are interchangeable to every figure. For one element, the insider's
  uncertainty about a group is therefore the *multiset* of ratings given by the members they do
  not know. A **world** is one choice of those multisets, for every group; it is **consistent**
  when compiling it publishes exactly the same report as the truth (every cell, column, note,
  gap, strength, priority, movement and comment).
- The insider **pins** someone in group g when every consistent world gives g's unknown members
  the same single rating; they **derive** g when every consistent world gives g's unknown
  members the same multiset.

What remains, by design, and respondents are told: a shown group's cell *is* its distribution.
Taking their own answers away, an insider learns the multiset of everyone else's answers in that
group, and so pins them exactly when all the others gave the same rating: what a unanimous group
shows to everybody. (Asking for more, that nobody be pinned unless the whole group is unanimous,
would mean withholding every cell where all but one answer agree, which for a group of three is
the common two-against-one split: most small-group cells would go. And a CEO who answers "don't
know" for two addresses defeats that too.) So the property proved is:

1. A respondent derives no group but a shown one: nothing about any hidden group's members, nor
   about the other members of their own hidden group, beyond its size.
2. A CEO pins a member of a group only when the group is shown and every member the CEO does not
   control gave the same rating, or the group is in "Other groups combined" and every member of
   all the combined groups whom the CEO does not control gave the same rating (the combined
   column then acts as one shown group). A CEO derives a hidden group's multiset only in that
   case, or by controlling every other member of the combined groups.

Each "cannot" is proved by a witness: a consistent world, found by the search below, that
changes what the insider would need to know; that world is compiled by the real `build_report`
and must publish the very same report. So a figure the search does not model (movement, gaps,
rankings, notes) cannot hide a leak: it would make the witness publish something different.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import framework as fw
from survey.reports.compile import (
    CycleInfo,
    CycleInputs,
    CycleReport,
    GroupInfo,
    build_report,
    combined_cell_is_withheld,
)

FRAMEWORK = fw.load_builtin("mat-assurance")
CODES = ("1A", "2A")
SCOPE = fw.parse_scope(",".join(CODES))
KEYS = tuple(FRAMEWORK.scale.answer_keys)  # the four ratings and don't-know

Vector = tuple[int, ...]  # a multiset of answers: a count per key, in KEYS order


def vector(answers: Sequence[str] | Mapping[str, int]) -> Vector:
    counts = Counter(answers) if not isinstance(answers, Mapping) else answers
    return tuple(int(counts.get(k, 0)) for k in KEYS)


def add(*vectors: Vector) -> Vector:
    return tuple(sum(parts) for parts in zip(*vectors, strict=True))


def sub(a: Vector, b: Vector) -> Vector:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def size(v: Vector) -> int:
    return sum(v)


def is_homogeneous(v: Vector) -> bool:
    return sum(1 for x in v if x) <= 1


def answers_of(v: Vector) -> list[str]:
    return [k for k, n in zip(KEYS, v, strict=True) for _ in range(n)]


@cache
def multisets(total: int) -> tuple[Vector, ...]:
    """Every multiset of `total` answers."""
    out = []
    for cut in itertools.combinations(range(total + len(KEYS) - 1), len(KEYS) - 1):
        bounds = (-1, *cut, total + len(KEYS) - 1)
        out.append(tuple(bounds[i + 1] - bounds[i] - 1 for i in range(len(KEYS))))
    return tuple(out)


ZERO: Vector = (0,) * len(KEYS)


# -- a cycle as plain data --------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    key: str
    is_open: bool
    answers: Mapping[str, tuple[str, ...]]  # element code -> one answer per response

    @property
    def size(self) -> int:
        return len(next(iter(self.answers.values())))


@dataclass(frozen=True)
class Cycle:
    threshold: int
    comment_threshold: int
    groups: tuple[Group, ...]
    previous: Cycle | None = None


def to_inputs(cycle: Cycle, title: str = "This year") -> CycleInputs:
    infos, responses, ratings, comments = [], {}, [], []
    for i, group in enumerate(cycle.groups, start=1):
        infos.append(GroupInfo(i, group.key, group.key.title(), group.is_open))
        responses[i] = group.size
        for code, answers in group.answers.items():
            for j, answer in enumerate(answers):
                ratings.append((i, code, answer))
                comments.append((i, code, f"comment {j} from {group.key}"))
    when = datetime(2026, 1, 26, tzinfo=UTC)
    info = CycleInfo(
        id=1 if cycle.previous is None else 2,
        title=title,
        trust_name="Trust",
        timezone="Europe/London",
        state="closed",
        opens_at=when,
        closes_at=when,
        closed_at=when,
        framework=FRAMEWORK,
        scope=SCOPE,
        min_group_size=cycle.threshold,
        min_comment_group_size=cycle.comment_threshold,
    )
    return CycleInputs(
        info=info,
        groups=infos,
        responses=responses,
        ratings=pd.DataFrame(ratings, columns=["group_id", "element_code", "scale_key"]),
        comments=pd.DataFrame(comments, columns=["group_id", "element_code", "rationale"]),
        previous=to_inputs(cycle.previous, "Last year") if cycle.previous else None,
    )


def published(report: CycleReport) -> object:
    """Everything the report publishes, as a comparable value (comments as a sorted list,
    since they are shuffled; the framework's own text by its codes)."""

    def norm(value: object) -> object:
        if isinstance(value, fw.Element):
            return value.code
        if isinstance(value, fw.Heading):
            return value.number
        if isinstance(value, fw.ScaleLevel):
            return value.key
        if isinstance(value, fw.Framework | fw.Scope | fw.Question):
            return None  # the same in every world
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return tuple(
                (f.name, norm(getattr(value, f.name)))
                for f in dataclasses.fields(value)
                if f.name != "compiled_at"
            )
        if isinstance(value, Mapping):
            return tuple((str(k), norm(v)) for k, v in value.items())
        if isinstance(value, list | tuple):
            items = [norm(v) for v in value]
            return (
                tuple(sorted(items, key=repr))
                if all(isinstance(v, str) for v in value)
                else tuple(items)
            )
        return value

    return norm(report)


def with_answers(cycle: Cycle, code: str, world: Mapping[str, Vector]) -> Cycle:
    """The cycle with element `code`'s answers replaced, group by group, by `world`."""
    groups = []
    for group in cycle.groups:
        if group.key in world:
            answers = dict(group.answers)
            answers[code] = tuple(answers_of(world[group.key]))
            group = dataclasses.replace(group, answers=answers)
        groups.append(group)
    return dataclasses.replace(cycle, groups=tuple(groups))


# -- what the insider can work out --------------------------------------------------------------

WITHHELD = None


@dataclass
class Block:
    """A figure that adds up several groups the insider cannot pin down one by one."""

    members: tuple[str, ...]
    total: Vector | None  # the published counts, or WITHHELD


@dataclass
class Knowledge:
    """One insider's view of one element: what they know and what the report constrains."""

    truth: Mapping[str, Vector]  # every group's answers
    known: Mapping[str, Vector]  # the answers the insider knows, per group
    blocks: list[Block]
    fixed: dict[str, Vector] = field(default_factory=dict)  # unknown answers pinned by a cell
    block_of: dict[str, Block] = field(default_factory=dict)

    def unknown(self, key: str) -> Vector:
        return sub(self.truth[key], self.known[key])


def constraints(report: CycleReport, code: str) -> list[Block]:
    """Every published cell of element `code` as (the groups it adds up, its counts); a
    withheld combined cell as (its groups, WITHHELD). A hidden group's own cell publishes only
    its number of responses, which every world shares."""
    element = next(e for e in report.elements if e.element.code == code)
    blocks = []
    for column in report.columns:
        cell = element.cells[column.key]
        if not column.members:
            assert cell.counts is None or column.kind == "all"
            continue
        if cell.counts is not None:
            blocks.append(Block(column.members, vector(cell.counts)))
        else:
            assert column.kind == "other", f"{column.key} is hidden but names its groups"
            blocks.append(Block(column.members, WITHHELD))
    return blocks


def solve(
    truth: Mapping[str, Vector], known: Mapping[str, Vector], blocks: list[Block]
) -> Knowledge:
    """Pin down every group that a published cell covers on its own (after taking away the
    insider's answers and the groups already pinned down); what is left must be disjoint
    blocks, or a difference of figures could single a group out."""
    k = Knowledge(truth, known, blocks)
    for block in blocks:
        if block.total is not WITHHELD:
            assert block.total == add(*(truth[m] for m in block.members)), "a cell is not true"
    changed = True
    while changed:
        changed = False
        for block in blocks:
            if block.total is WITHHELD:
                continue
            free = [m for m in block.members if m not in k.fixed and size(k.unknown(m))]
            if len(free) == 1:
                rest = add(ZERO, *(known[m] for m in block.members))
                rest = add(rest, *(k.fixed[m] for m in block.members if m in k.fixed))
                k.fixed[free[0]] = sub(block.total, rest)
                changed = True
    for block in blocks:
        free = [m for m in block.members if m not in k.fixed and size(k.unknown(m))]
        if len(free) < 2 and block.total is not WITHHELD:
            continue
        for m in free:
            assert m not in k.block_of, f"two figures overlap on {m}: a difference attack"
            k.block_of[m] = block
    return k


def block_base(k: Knowledge, block: Block, free: Sequence[str]) -> Vector:
    """The part of a block's total that the insider knows."""
    base = add(ZERO, *(k.known[m] for m in block.members))
    return add(base, *(k.fixed.get(m, ZERO) for m in block.members if m not in free))


def split(rest: Vector, sizes: Sequence[int]) -> Iterator[Vector]:
    """Some way of sharing `rest` out in parts of the given sizes."""
    pool = answers_of(rest)
    for n in sizes:
        yield vector(pool[:n])
        pool = pool[n:]


def alternative(k: Knowledge, g: str) -> dict[str, Vector] | None:
    """A consistent world (the unknown answers of the groups it changes) in which g's unknown
    members' answers differ from the truth, or None when there is none: g is derived."""
    unknown = k.unknown(g)
    if not size(unknown) or g in k.fixed:
        return None
    block = k.block_of.get(g)
    if block is None:
        # No figure covers g: move one of its answers to any other key.
        i = next(i for i, n in enumerate(unknown) if n)
        moved = list(unknown)
        moved[i] -= 1
        moved[(i + 1) % len(KEYS)] += 1
        return {g: tuple(moved)}
    free = [m for m in block.members if m not in k.fixed and size(k.unknown(m))]
    others = [m for m in free if m != g]
    sizes = [size(k.unknown(m)) for m in others]
    base = block_base(k, block, free)
    if block.total is not WITHHELD:
        pool = sub(block.total, base)
        outside = sub(pool, unknown)
        for i, j in itertools.product(range(len(KEYS)), repeat=2):
            if i != j and unknown[i] and outside[j]:
                swapped = list(unknown)
                swapped[i] -= 1
                swapped[j] += 1
                world = {g: tuple(swapped)}
                world.update(zip(others, split(sub(pool, tuple(swapped)), sizes), strict=True))
                return world
        return None
    for candidate in multisets(size(unknown)):
        if candidate == unknown:
            continue
        for rest in multisets(sum(sizes)):
            if combined_cell_is_withheld(dict(zip(KEYS, add(base, candidate, rest), strict=True))):
                world = {g: candidate}
                world.update(zip(others, split(rest, sizes), strict=True))
                return world
    return None


# -- the property -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Insider:
    name: str
    known: Mapping[str, tuple[str, ...]]  # group key -> the answers they know, for one element
    is_respondent: bool


def insiders(cycle: Cycle, code: str, controlled: Mapping[str, int]) -> Iterator[Insider]:
    """Every kind of respondent (a member of each group giving each answer given there), and
    the CEO who answered for the first `controlled[g]` addresses of each group."""
    for group in cycle.groups:
        for answer in sorted(set(group.answers[code])):
            name = f"a respondent in {group.key} who answered {answer}"
            yield Insider(name, {group.key: (answer,)}, True)
    yield Insider(
        f"a CEO answering for {dict(controlled)} addresses",
        {g.key: g.answers[code][: controlled.get(g.key, 0)] for g in cycle.groups},
        False,
    )


def check_insiders(cycle: Cycle, controlled: Mapping[str, int]) -> int:
    """Assert the property of the module docstring for every insider of `cycle`; returns the
    number of witness worlds compiled."""
    report = build_report(to_inputs(cycle))
    expected = published(report)
    shown = {c.key for c in report.columns if c.kind == "group" and c.is_shown}
    verified: dict[object, bool] = {}

    def publishes_the_same(code: str, world: Mapping[str, Vector], k: Knowledge) -> bool:
        answers = {g: add(k.known[g], world[g]) for g in world}
        key = (code, tuple(sorted(answers.items())))
        if key not in verified:
            other = build_report(to_inputs(with_answers(cycle, code, answers)))
            verified[key] = published(other) == expected
        return verified[key]

    for code in CODES:
        truth = {g.key: vector(g.answers[code]) for g in cycle.groups}
        blocks = constraints(report, code)
        for insider in insiders(cycle, code, controlled):
            known = {g: vector(insider.known.get(g, ())) for g in truth}
            k = solve(truth, known, blocks)
            for g, total in truth.items():
                unknown = k.unknown(g)
                if not size(unknown):
                    continue
                world = alternative(k, g)
                where = f"{insider.name}, element {code}, group {g} {answers_of(total)}"
                if world is None:
                    # Derived: allowed for a shown group, whose cell is its distribution.
                    if g in shown:
                        continue
                    assert not insider.is_respondent, f"{where}: a hidden group is derived"
                    block = k.block_of.get(g) or next(
                        (b for b in blocks if g in b.members and b.total is not WITHHELD), None
                    )
                    assert block is not None, f"{where}: derived from no figure at all"
                    unknown_in_block = add(ZERO, *(k.unknown(m) for m in block.members))
                    sole = all(not size(k.unknown(m)) for m in block.members if m != g)
                    assert sole or is_homogeneous(unknown_in_block), (
                        f"{where}: derived, though the combined groups' other answers differ"
                    )
                elif is_homogeneous(unknown) or g not in shown:
                    # Not pinned (or not derived): proved by the real compile step.
                    assert publishes_the_same(code, world, k), (
                        f"{where}: the world {world} should publish the same report"
                    )
    return len(verified)


def answers(style: str, n: int, palette: Sequence[str], draw: st.DrawFn) -> tuple[str, ...]:
    if style == "same":
        return (draw(st.sampled_from(palette)),) * n
    if style == "all but one" and n:
        most, other = draw(st.lists(st.sampled_from(KEYS), min_size=2, max_size=2, unique=True))
        return (other,) + (most,) * (n - 1)
    return tuple(draw(st.lists(st.sampled_from(palette), min_size=n, max_size=n)))


@st.composite
def cycles(draw: st.DrawFn, keys: Sequence[str] | None = None, *, previous: bool = True) -> Cycle:
    threshold = draw(st.integers(3, 5))
    comment_threshold = draw(st.integers(3, 6))
    if keys is None:
        keys = [f"g{i}" for i in range(draw(st.integers(2, 4)))]
    # Where leaks hide: groups of one and two, sizes around the threshold, answers that are all
    # the same or all but one the same, and few distinct answers.
    palettes = {
        code: draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
        for code in CODES
    }
    groups = []
    for key in keys:
        n = draw(st.sampled_from([0, 1, 1, 2, 2, 3, threshold - 1, threshold, threshold + 1, 6]))
        is_open = draw(st.integers(0, 4)) == 0
        styles = {
            c: draw(st.sampled_from(["same", "all but one", "mixed", "mixed"])) for c in CODES
        }
        groups.append(
            Group(key, is_open, {c: answers(styles[c], n, palettes[c], draw) for c in CODES})
        )
    before = None
    if previous and draw(st.booleans()):
        before = draw(cycles(keys, previous=False))
    return Cycle(threshold, comment_threshold, tuple(groups), before)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Cycle, dict[str, int]]:
    cycle = draw(cycles())
    return cycle, {g.key: draw(st.integers(0, g.size)) for g in cycle.groups}


def group(key: str, *answers: str, is_open: bool = False) -> Group:
    """A group giving the same answers to every element."""
    return Group(key, is_open, dict.fromkeys(CODES, answers))


# The attacks that the rules before this test let through, kept as fixed examples.
ATTACKS = {
    # A hidden group of one was combined with a group of two: its member, taking their own
    # answer away, read the pair's ratings off "Other groups combined".
    "one plus two": (
        Cycle(
            3,
            5,
            (
                group("head", *["green"] * 5),
                group("chair", "red"),
                group("trustee", "amber-red", "green"),
            ),
        ),
        {},
    ),
    # All but one combined answer the same: the one who differed learned everyone else's.
    "all but one": (
        Cycle(
            3,
            5,
            (
                group("head", *["green"] * 5),
                group("trustee", "red", "green"),
                group("governor", "green", "green"),
            ),
        ),
        {},
    ),
    # Withheld because every answer was the same: each member learned the others' rating.
    "all the same": (
        Cycle(3, 5, (group("trustee", "green", "green"), group("governor", "green", "green"))),
        {},
    ),
    # What remains for a CEO: two addresses answering "don't know" learn that the other
    # members of the combined groups all agreed, as in a shown group.
    "a CEO with two addresses": (
        Cycle(
            4,
            5,
            (
                group("trustee", "dont-know", "green", "green"),
                group("governor", "dont-know", "green", "green"),
            ),
        ),
        {"trustee": 1, "governor": 1},
    ),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_no_insider_pins_another_persons_rating_beyond_what_a_unanimous_group_shows(
    scenario: tuple[Cycle, dict[str, int]],
) -> None:
    check_insiders(*scenario)


def test_the_attacks_that_worked_before_now_learn_nothing() -> None:
    for name, (cycle, controlled) in ATTACKS.items():
        assert check_insiders(cycle, controlled) > 0, name
