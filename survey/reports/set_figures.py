"""A learning set's report, a peer review and the deployment benchmark, computed from the
stored figures of each trust's own report (`report_figures`: exactly what its summary.csv
publishes for its shown groups and for 'all', the shown groups together), never from answers.

Less one thing (`shareable`): an open group below the cycle's min_group_size, shown in its own
trust's report, is not shown to other trusts, nor counted in the trust-wide figure they see.

So every figure here is a function of figures the trust itself already published: a hidden
group has no stored figure and cannot appear, or be derived, here (tests/sets/test_property.py
changes hidden groups' answers at will and finds every figure unchanged). Plain Python, no
pandas: the web pages compute these in the request.

Letters: a trust that shares as a letter appears as "Trust X", its letter drawn at random when
it was invited (survey.services.sets), so neither its name nor when it joined shows; its
cycle's title and its custom groups' names are not shown either.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

import framework as fw
from survey.models import (
    ALL_SHOWN,
    ALL_SHOWN_LABEL,
    DEFAULT_GROUPS,
    BenchmarkOptIn,
    Cycle,
    CycleState,
    LearningSet,
    Report,
    ReportFigure,
    SetShare,
)
from survey.reports.means import TOP_N, average, format_mean, round_mean
from survey.services.frameworks import get_framework
from survey.services.sets import MIN_BENCHMARK_TRUSTS, MIN_SHARERS, shares_of

# A group kind is compared across the set only where at least this many trusts show it.
MIN_TRUSTS_PER_GROUP_KIND = 3
DEFAULT_LABELS = dict(DEFAULT_GROUPS)


# -- the stored figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One published figure: an element in a shown group (or 'all')."""

    element: str
    group: str
    label: str
    responses: int
    rated: int
    score_total: int
    dont_know: int
    mean: str  # as printed; '' when nothing was rated

    @property
    def value(self) -> Decimal | None:
        return Decimal(self.mean) if self.mean else None


def figure_of(row: ReportFigure) -> Figure:
    return Figure(
        element=row.element_code,
        group=row.group_key,
        label=row.group_label,
        responses=row.responses,
        rated=row.rated,
        score_total=row.score_total,
        dont_know=row.dont_know,
        mean=row.mean,
    )


def load_figures(session: Session, report_ids: Sequence[int]) -> dict[int, list[Figure]]:
    """Every stored figure of these reports, in one query."""
    found: dict[int, list[Figure]] = {rid: [] for rid in report_ids}
    if not report_ids:
        return found
    rows = session.scalars(select(ReportFigure).where(ReportFigure.report_id.in_(report_ids)))
    for row in rows:
        found[row.report_id].append(figure_of(row))
    return found


def shareable(figures: Iterable[Figure], min_group_size: int) -> list[Figure]:
    """The figures another trust may see: a report's own figures less any group below the
    cycle's `min_group_size` (an open group, shown small in its own trust's report because its
    members were told the trust's leaders might work out their ratings, not other trusts'),
    and then the 'all' figure recomputed over the groups that remain, so that it holds no
    answer of that group either."""
    figures = list(figures)
    small = {f.group for f in figures if f.group != ALL_SHOWN and f.responses < min_group_size}
    if not small:
        return figures
    kept = [f for f in figures if f.group != ALL_SHOWN and f.group not in small]
    out = list(kept)
    by_element: dict[str, list[Figure]] = defaultdict(list)
    for f in kept:
        by_element[f.element].append(f)
    for code, groups in by_element.items():
        rated = sum(f.rated for f in groups)
        total = sum(f.score_total for f in groups)
        out.append(
            Figure(
                element=code,
                group=ALL_SHOWN,
                label=ALL_SHOWN_LABEL,
                responses=sum(f.responses for f in groups),
                rated=rated,
                score_total=total,
                dont_know=sum(f.dont_know for f in groups),
                mean=format_mean(total, rated),
            )
        )
    return out


@dataclass(frozen=True)
class TrustFigures:
    """One cycle's published figures: (element, group) -> figure."""

    figures: dict[tuple[str, str], Figure]

    @classmethod
    def of(cls, figures: Iterable[Figure]) -> TrustFigures:
        return cls({(f.element, f.group): f for f in figures})

    def overall(self, code: str) -> Decimal | None:
        figure = self.figures.get((code, ALL_SHOWN))
        return figure.value if figure is not None else None

    def groups(self, code: str) -> list[Figure]:
        return [
            f
            for (c, g), f in self.figures.items()
            if c == code and g != ALL_SHOWN and f.value is not None
        ]


@dataclass(frozen=True)
class SharedTrust:
    """A trust in a set's report: its name or letter, its latest shared cycle's figures and,
    where it shared two cycles, the one before."""

    letter: str
    as_name: bool
    name: str  # the trust's name; shown only when as_name
    cycle_title: str
    current: TrustFigures
    previous: TrustFigures | None = None

    @property
    def display(self) -> str:
        return self.name if self.as_name else f"Trust {self.letter}"

    @property
    def shown_cycle(self) -> str:
        """A letter trust's cycle title could name it: it is not shown."""
        return self.cycle_title if self.as_name else ""

    def group_label(self, figure: Figure) -> str:
        """A default group's usual name; a letter trust's own group names are not shown."""
        if figure.group in DEFAULT_LABELS:
            return DEFAULT_LABELS[figure.group]
        return figure.label if self.as_name else "one of its own groups"


def load_shared_trusts(session: Session, lset: LearningSet) -> list[SharedTrust]:
    """The trusts that share with the set (accepted members only), each with its latest shared
    cycle and the one before, from the stored figures."""
    by_trust: dict[int, list[SetShare]] = defaultdict(list)
    for share in shares_of(session, lset):  # oldest cycle first
        by_trust[share.trust_id].append(share)
    reports = dict(
        session.execute(
            select(Report.cycle_id, Report.id).where(
                Report.cycle_id.in_([s.cycle_id for v in by_trust.values() for s in v])
            )
        ).all()
    )
    figures = load_figures(session, list(reports.values()))
    letters = {m.trust_id: m.letter for m in lset.memberships}
    trusts = []
    for trust_id, shares in by_trust.items():
        latest = shares[-1]
        before = shares[-2] if len(shares) > 1 else None
        trusts.append(
            SharedTrust(
                letter=letters[trust_id],
                as_name=latest.as_name,
                name=latest.trust.name,
                cycle_title=latest.cycle.title,
                current=TrustFigures.of(
                    shareable(
                        figures.get(reports.get(latest.cycle_id, -1), []),
                        latest.cycle.min_group_size,
                    )
                ),
                previous=TrustFigures.of(
                    shareable(
                        figures.get(reports.get(before.cycle_id, -1), []),
                        before.cycle.min_group_size,
                    )
                )
                if before is not None
                else None,
            )
        )
    return sorted(trusts, key=lambda t: t.display.lower())


def set_framework(session: Session, lset: LearningSet) -> fw.Framework:
    """The framework version of the latest cycle shared with the set (else the newest
    built-in)."""
    shares = shares_of(session, lset)
    if shares:
        cycle = shares[-1].cycle
        return get_framework(session, cycle.framework_key, cycle.framework_version)
    return fw.load_builtin(lset.framework_key)


# -- the set's report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    mean: str  # '' when the trust has no figure for the element
    level: fw.ScaleLevel | None

    @property
    def score(self) -> int | None:
        return self.level.score if self.level else None


def _cell(scale: fw.Scale, value: Decimal | None) -> Cell:
    if value is None:
        return Cell("", None)
    text = round_mean(value)
    return Cell(text, scale.level_for_mean(float(text)))


@dataclass
class ElementRow:
    element: fw.Element
    heading: fw.Heading
    cells: list[Cell]  # one per trust, in the report's trust order
    set_cell: Cell  # the trusts' means averaged, each trust counted once
    in_upper_half: int  # trusts whose mean is in the upper half of the scale
    in_lower_half: int
    leaders: list[str] = field(default_factory=list)  # who to learn from
    leader_mean: str = ""

    @property
    def label(self) -> str:
        return f"{self.element.code} {self.element.title}"

    @property
    def rated_by(self) -> int:
        return sum(1 for c in self.cells if c.mean)


@dataclass
class GroupKind:
    """One group kind (its key) compared across the trusts that show it."""

    key: str
    label: str
    trust_count: int
    cells: dict[str, Cell]  # element code -> the trusts' group means averaged


@dataclass(frozen=True)
class MovementRow:
    trust: str
    element: fw.Element
    previous: str
    current: str

    @property
    def change(self) -> str:
        change = Decimal(self.current) - Decimal(self.previous)
        if not change:
            return "no change"
        return f"{'up' if change > 0 else 'down'} {abs(change)}"


@dataclass(frozen=True)
class Disagreement:
    trust: str
    element: fw.Element
    gap: str
    high: str
    high_mean: str
    low: str
    low_mean: str
    set_gap: str  # the element's gap averaged over the set's trusts with two shown groups


@dataclass
class SetReport:
    name: str
    framework: fw.Framework
    trusts: list[SharedTrust]
    is_shown: bool
    reason: str = ""
    elements: list[ElementRow] = field(default_factory=list)
    group_kinds: list[GroupKind] = field(default_factory=list)
    strengths: list[ElementRow] = field(default_factory=list)
    priorities: list[ElementRow] = field(default_factory=list)
    movement: list[MovementRow] = field(default_factory=list)
    moved_trusts: list[str] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def scale(self) -> fw.Scale:
        return self.framework.scale

    @property
    def headings(self) -> list[tuple[fw.Heading, list[ElementRow]]]:
        blocks: list[tuple[fw.Heading, list[ElementRow]]] = []
        for row in self.elements:
            if not blocks or blocks[-1][0].number != row.heading.number:
                blocks.append((row.heading, []))
            blocks[-1][1].append(row)
        return blocks

    def figures(self) -> list[str]:
        """Every figure the report prints, in order (what the property test compares)."""
        out = [c.mean for r in self.elements for c in [*r.cells, r.set_cell]]
        out += [r.leader_mean for r in self.elements]
        out += [c.mean for g in self.group_kinds for c in g.cells.values()]
        out += [f"{m.previous}>{m.current}" for m in self.movement]
        out += [f"{d.gap}/{d.high_mean}/{d.low_mean}/{d.set_gap}" for d in self.disagreements]
        return out


def _ranked(
    rows: list[ElementRow], *, highest: bool, leave_out: Sequence[ElementRow] = ()
) -> list[ElementRow]:
    """The top (or bottom) elements by the set's mean, with ties at the boundary kept: TOP_N,
    or fewer when the set rated few elements, so strengths and priorities never coincide."""
    rated = [r for r in rows if r.set_cell.mean and r not in leave_out]
    rated.sort(key=lambda r: Decimal(r.set_cell.mean), reverse=highest)
    count = min(TOP_N, max(1, len([r for r in rows if r.set_cell.mean]) // 2))
    if len(rated) <= count:
        return rated
    boundary = rated[count - 1].set_cell.mean
    chosen = [r for i, r in enumerate(rated) if i < count or r.set_cell.mean == boundary]
    # Every element tied: none stands out.
    return [] if len(chosen) == len(rated) and not leave_out else chosen


def _largest_gap(trust: SharedTrust, code: str) -> tuple[Decimal, Figure, Figure] | None:
    groups = trust.current.groups(code)
    if len(groups) < 2:
        return None
    ordered = sorted(groups, key=lambda f: Decimal(f.mean))  # stable: two different groups
    low, high = ordered[0], ordered[-1]
    return Decimal(high.mean) - Decimal(low.mean), high, low


def compute_set_report(name: str, framework: fw.Framework, trusts: list[SharedTrust]) -> SetReport:
    """The set's report from its sharing trusts' published figures (pure)."""
    if len(trusts) < MIN_SHARERS:
        return SetReport(
            name=name,
            framework=framework,
            trusts=trusts,
            is_shown=False,
            reason=(
                f"A set's report is shown once at least {MIN_SHARERS} trusts have shared a "
                f"cycle with it; {len(trusts)} "
                f"{'has' if len(trusts) == 1 else 'have'} so far. With fewer, each trust would "
                "see the others' figures exactly: two trusts who want that can run a peer "
                "review instead."
            ),
        )
    scale = framework.scale
    midpoint = Decimal(len(scale.levels) + 1) / 2
    report = SetReport(name=name, framework=framework, trusts=trusts, is_shown=True)
    for heading in framework.headings:
        for element in heading.elements:
            values = [t.current.overall(element.code) for t in trusts]
            if all(v is None for v in values):
                continue
            cells = [_cell(scale, v) for v in values]
            rated = [Decimal(c.mean) for c in cells if c.mean]
            row = ElementRow(
                element=element,
                heading=heading,
                cells=cells,
                set_cell=_cell(scale, average(rated)),
                in_upper_half=sum(1 for v in rated if v > midpoint),
                in_lower_half=sum(1 for v in rated if v < midpoint),
            )
            best = max(rated)
            row.leaders = [
                t.display
                for t, c in zip(trusts, cells, strict=True)
                if c.mean and Decimal(c.mean) == best
            ]
            row.leader_mean = round_mean(best)
            report.elements.append(row)
    report.strengths = _ranked(report.elements, highest=True)
    report.priorities = _ranked(report.elements, highest=False, leave_out=report.strengths)
    report.group_kinds = _group_kinds(framework, trusts, [r.element for r in report.elements])
    for trust in trusts:
        if trust.previous is None:
            continue
        moved = False
        for row in report.elements:
            code = row.element.code
            before, now = trust.previous.overall(code), trust.current.overall(code)
            if before is not None and now is not None:
                report.movement.append(
                    MovementRow(trust.display, row.element, round_mean(before), round_mean(now))
                )
                moved = True
        if moved:
            report.moved_trusts.append(trust.display)
    report.disagreements = _disagreements(trusts, [r.element for r in report.elements])
    return report


def _group_kinds(
    framework: fw.Framework, trusts: list[SharedTrust], elements: list[fw.Element]
) -> list[GroupKind]:
    keys: dict[str, set[int]] = defaultdict(set)
    labels: dict[str, str] = {}
    for index, trust in enumerate(trusts):
        for (_, group), figure in trust.current.figures.items():
            if group != ALL_SHOWN and figure.value is not None:
                keys[group].add(index)
                if trust.as_name:
                    labels.setdefault(group, figure.label)
    kinds = []
    for key, members in keys.items():
        if len(members) < MIN_TRUSTS_PER_GROUP_KIND:
            continue
        cells = {}
        for element in elements:
            values = [
                trusts[i].current.figures[(element.code, key)].value
                for i in sorted(members)
                if (element.code, key) in trusts[i].current.figures
            ]
            present = [v for v in values if v is not None]
            if len(present) >= MIN_TRUSTS_PER_GROUP_KIND:
                cells[element.code] = _cell(framework.scale, average(present))
            else:
                cells[element.code] = Cell("", None)
        label = DEFAULT_LABELS.get(key) or labels.get(key) or key
        kinds.append(GroupKind(key, label, len(members), cells))
    order = list(DEFAULT_LABELS)
    kinds.sort(key=lambda k: (order.index(k.key) if k.key in order else len(order), k.label))
    return kinds


def _disagreements(trusts: list[SharedTrust], elements: list[fw.Element]) -> list[Disagreement]:
    gaps: dict[str, list[Decimal]] = defaultdict(list)
    for trust in trusts:
        for element in elements:
            found = _largest_gap(trust, element.code)
            if found is not None:
                gaps[element.code].append(found[0])
    result = []
    for trust in trusts:
        best: tuple[Decimal, fw.Element, Figure, Figure] | None = None
        for element in elements:
            found = _largest_gap(trust, element.code)
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], element, found[1], found[2])
        if best is None:
            continue
        size, element, high, low = best
        set_gap = average(gaps[element.code])
        result.append(
            Disagreement(
                trust=trust.display,
                element=element,
                gap=round_mean(size),
                high=trust.group_label(high),
                high_mean=high.mean,
                low=trust.group_label(low),
                low_mean=low.mean,
                set_gap=round_mean(set_gap) if set_gap is not None else "",
            )
        )
    return result


def build_set_report(session: Session, lset: LearningSet) -> SetReport:
    return compute_set_report(
        lset.name, set_framework(session, lset), load_shared_trusts(session, lset)
    )


# -- peer review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerCell:
    label: str
    cell: Cell


@dataclass
class PeerElement:
    element: fw.Element
    heading: fw.Heading
    columns: list[list[PeerCell]]  # per trust: 'all' first, then its shown groups


@dataclass(frozen=True)
class Challenge:
    element: fw.Element
    reason: str
    questions: tuple[fw.Question, ...]


@dataclass
class PeerReview:
    name: str
    framework: fw.Framework
    trusts: list[SharedTrust]
    is_shown: bool
    reason: str = ""
    elements: list[PeerElement] = field(default_factory=list)
    challenges: list[Challenge] = field(default_factory=list)

    @property
    def scale(self) -> fw.Scale:
        return self.framework.scale

    def figures(self) -> list[str]:
        return [c.cell.mean for e in self.elements for col in e.columns for c in col]


def compute_peer_review(
    name: str,
    framework: fw.Framework,
    trusts: list[SharedTrust],
    codes: Sequence[str] = (),
) -> PeerReview:
    """Two or three trusts side by side for the chosen elements (all by default), with
    challenge questions where their ratings differ most or one trust's groups disagree most."""
    if not 2 <= len(trusts) <= 3:
        return PeerReview(
            name,
            framework,
            trusts,
            False,
            "A peer review is shown once two or three trusts have shared a cycle with it "
            f"({len(trusts)} {'has' if len(trusts) == 1 else 'have'}).",
        )
    scale = framework.scale
    review = PeerReview(name, framework, trusts, True)
    chosen = set(codes)
    spreads: list[tuple[Decimal, fw.Element]] = []
    for heading in framework.headings:
        for element in heading.elements:
            if chosen and element.code not in chosen:
                continue
            overall = [t.current.overall(element.code) for t in trusts]
            if all(v is None for v in overall):
                continue
            columns = []
            for trust, value in zip(trusts, overall, strict=True):
                column = [PeerCell(ALL_SHOWN_LABEL, _cell(scale, value))]
                column += [
                    PeerCell(trust.group_label(f), _cell(scale, f.value))
                    for f in trust.current.groups(element.code)
                ]
                columns.append(column)
            review.elements.append(PeerElement(element, heading, columns))
            present = [v for v in overall if v is not None]
            if len(present) >= 2:
                spreads.append((max(present) - min(present), element))
    spreads.sort(key=lambda s: s[0], reverse=True)
    picked: dict[str, Challenge] = {}
    for spread, element in spreads[:TOP_N]:
        if spread > 0:
            picked[element.code] = Challenge(
                element,
                f"The trusts' ratings differ most here ({round_mean(spread)} between the "
                "highest and lowest trust-wide means).",
                element.questions,
            )
    considered = [e.element for e in review.elements]
    for trust in trusts:
        best: tuple[Decimal, fw.Element] | None = None
        for element in considered:
            found = _largest_gap(trust, element.code)
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], element)
        if best is not None and best[0] > 0 and best[1].code not in picked:
            picked[best[1].code] = Challenge(
                best[1],
                f"{trust.display}'s groups disagree most here (a gap of {round_mean(best[0])}).",
                best[1].questions,
            )
    order = {e.element.code: i for i, e in enumerate(review.elements)}
    review.challenges = sorted(picked.values(), key=lambda c: order[c.element.code])
    return review


def build_peer_review(session: Session, lset: LearningSet, codes: Sequence[str] = ()) -> PeerReview:
    if not lset.is_peer_review:
        # A learning set's figures are its report's, from 3 sharers: side by side, two sharers
        # would see each other's figures exactly, and each letter trust's groups would show.
        return PeerReview(
            lset.name,
            set_framework(session, lset),
            [],
            False,
            "A learning set has no peer review pack: its figures are in the set's report.",
        )
    return compute_peer_review(
        lset.name, set_framework(session, lset), load_shared_trusts(session, lset), codes
    )


# -- the deployment benchmark -------------------------------------------------------------------


@dataclass(frozen=True)
class Quartiles:
    trusts: int
    lower: Decimal
    median: Decimal
    upper: Decimal


@dataclass(frozen=True)
class BenchmarkTable:
    """Per element, the quartiles of the opted-in trusts' trust-wide means."""

    framework_key: str
    trust_count: int
    means: dict[int, dict[str, Decimal]]  # trust id -> element -> its trust-wide mean
    quartiles: dict[str, Quartiles]

    @property
    def is_shown(self) -> bool:
        return self.trust_count >= MIN_BENCHMARK_TRUSTS


QUARTER_WORDS = {
    4: "top quarter",
    3: "upper middle quarter",
    2: "lower middle quarter",
    1: "bottom quarter",
}


@dataclass(frozen=True)
class BenchmarkPosition:
    element: fw.Element
    mean: str
    quartiles: Quartiles | None
    quarter: int | None  # 4 top ... 1 bottom

    @property
    def quarter_words(self) -> str:
        return QUARTER_WORDS[self.quarter] if self.quarter else "not compared"


def benchmark_rows(session: Session, framework_key: str) -> list[tuple[int, str, str]]:
    """(trust id, element, mean) of the 'all' figures of each opted-in trust's latest reported
    cycle of the framework: the benchmark's only input."""
    latest = (
        select(
            Cycle.trust_id,
            Report.id.label("report_id"),
            Cycle.closes_at,
            Cycle.id,
            Cycle.min_group_size,
        )
        .join(Report, Report.cycle_id == Cycle.id)
        .join(
            BenchmarkOptIn,
            (BenchmarkOptIn.trust_id == Cycle.trust_id)
            & (BenchmarkOptIn.framework_key == framework_key),
        )
        .where(Cycle.framework_key == framework_key, Cycle.state == CycleState.REPORTED)
    )
    chosen: dict[int, tuple[object, int, int, int]] = {}
    for trust_id, report_id, closes_at, cycle_id, min_group in session.execute(latest):
        key = (closes_at, cycle_id)
        if trust_id not in chosen or key > chosen[trust_id][0]:  # type: ignore[operator]
            chosen[trust_id] = (key, report_id, trust_id, min_group)
    report_trust = {report_id: trust_id for _, report_id, trust_id, _ in chosen.values()}
    minimum = {report_id: min_group for _, report_id, _, min_group in chosen.values()}
    if not report_trust:
        return []
    figures = load_figures(session, list(report_trust))
    return [
        (report_trust[rid], f.element, f.mean)
        for rid, found in figures.items()
        for f in shareable(found, minimum[rid])
        if f.group == ALL_SHOWN and f.mean
    ]


def compute_benchmark(framework_key: str, rows: Iterable[tuple[int, str, str]]) -> BenchmarkTable:
    means: dict[int, dict[str, Decimal]] = defaultdict(dict)
    by_element: dict[str, list[Decimal]] = defaultdict(list)
    for trust_id, code, mean in rows:
        value = Decimal(mean)
        means[trust_id][code] = value
        by_element[code].append(value)
    quartiles = {}
    for code, values in by_element.items():
        if len(values) < MIN_BENCHMARK_TRUSTS:
            continue
        lower, median, upper = statistics.quantiles(values, n=4, method="inclusive")
        quartiles[code] = Quartiles(len(values), lower, median, upper)
    return BenchmarkTable(framework_key, len(means), dict(means), quartiles)


def build_benchmark(session: Session, framework_key: str) -> BenchmarkTable:
    return compute_benchmark(framework_key, benchmark_rows(session, framework_key))


def quarter_of(value: Decimal, q: Quartiles) -> int:
    if value >= q.upper:
        return 4
    if value >= q.median:
        return 3
    if value >= q.lower:
        return 2
    return 1


def positions(
    table: BenchmarkTable, framework: fw.Framework, trust_id: int
) -> list[BenchmarkPosition]:
    """Where this trust's trust-wide figure for each element sits (the trust must be in it)."""
    own = table.means.get(trust_id, {})
    result = []
    for element in framework.elements:
        value = own.get(element.code)
        if value is None:
            continue
        q = table.quartiles.get(element.code) if table.is_shown else None
        result.append(
            BenchmarkPosition(element, round_mean(value), q, quarter_of(value, q) if q else None)
        )
    return result


def all_positions(table: BenchmarkTable) -> dict[int, dict[str, int]]:
    """Every opted-in trust's quarter per element (the whole deployment at once)."""
    return {
        trust_id: {
            code: quarter_of(value, table.quartiles[code])
            for code, value in own.items()
            if code in table.quartiles
        }
        for trust_id, own in table.means.items()
    }
