"""The in-memory model of a self-review framework.

Everything here is immutable (frozen dataclasses, tuples and :class:`FrozenMap`), so a loaded
framework can be cached, shared between requests and used as a dictionary key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

DONT_KNOW = "dont-know"
DONT_KNOW_LABEL = "Don't know / not enough evidence"

STAGE_START = "start"
STAGE_ADDITIONAL = "additional"
STAGES = (STAGE_START, STAGE_ADDITIONAL)

SCOPE_KINDS = ("start", "all", "codes")

# Element codes: upper-case letters, digits and '-', starting with a letter or digit.
CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9-]*")
# Words that mean a scope kind and so cannot be element codes.
RESERVED_CODES = frozenset({"START", "ALL"})

# The longest framework key, title, element code and scale key a file may use: the database
# columns that store them (a framework version's key and title, a rating's element code and
# scale key) hold no more.
MAX_KEY_LENGTH = 80
MAX_TITLE_LENGTH = 200
MAX_CODE_LENGTH = 16
MAX_SCALE_KEY_LENGTH = 40

# How long answering takes (see :class:`TimeEstimate`): reading one question with its
# descriptors; reading an element's title, focus and own descriptors and choosing its rating;
# writing a rationale of a sentence or two.
SECONDS_PER_QUESTION = 20
SECONDS_PER_ELEMENT = 90
SECONDS_PER_RATIONALE = 120


class FrameworkError(ValueError):
    """A framework file, framework text or scope is not valid.

    ``str(error)`` is one line: ``"<source>:<line>: <key path>: <what is wrong>"``; the line is
    left out when it is not known (``"<source>: <key path>: <what is wrong>"``).
    """

    def __init__(
        self,
        reason: str,
        source: str | None = None,
        line: int | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = _one_line(reason)
        self.source = None if source is None else _one_line(source)
        self.line = line
        self.path = None if path is None else _one_line(path)
        place = ""
        if self.source is not None:
            place = self.source if line is None else f"{self.source}:{line}"
        parts = [p for p in (place, self.path) if p]
        message = ": ".join([*parts, self.reason])
        super().__init__(message)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def show(value: object, limit: int = 60) -> str:
    """A value quoted for an error message, shortened if long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class FrozenMap(Mapping[str, str]):
    """An immutable, hashable, ordered mapping (used for descriptors)."""

    __slots__ = ("_dict", "_items")

    def __init__(self, items: Mapping[str, str] | Any = ()) -> None:
        data = dict(items)
        self._dict: dict[str, str] = data
        self._items: tuple[tuple[str, str], ...] = tuple(data.items())

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __repr__(self) -> str:
        return f"FrozenMap({self._dict!r})"


@dataclass(frozen=True)
class ScaleLevel:
    key: str
    label: str
    score: int
    meaning: str = ""


@dataclass(frozen=True)
class Scale:
    """The rating scale. Levels are in score order, weak to strong; scores run 1..n."""

    levels: tuple[ScaleLevel, ...]
    explanation: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))

    @property
    def keys(self) -> tuple[str, ...]:
        """Level keys in score order (weak to strong), without :data:`DONT_KNOW`."""
        return tuple(level.key for level in self.levels)

    @property
    def answer_keys(self) -> tuple[str, ...]:
        """Every key a respondent may choose: the level keys plus :data:`DONT_KNOW`."""
        return (*self.keys, DONT_KNOW)

    def _level(self, key: str) -> ScaleLevel:
        for level in self.levels:
            if level.key == key:
                return level
        raise KeyError(key)

    def score(self, key: str) -> int | None:
        """The score for ``key``; ``None`` for :data:`DONT_KNOW`; ``KeyError`` if unknown."""
        if key == DONT_KNOW:
            return None
        return self._level(key).score

    def label(self, key: str) -> str:
        """The label for ``key`` (also for :data:`DONT_KNOW`); ``KeyError`` if unknown."""
        if key == DONT_KNOW:
            return DONT_KNOW_LABEL
        return self._level(key).label

    def level_for_mean(self, mean: float) -> ScaleLevel:
        """The level a mean score falls in: round half up to the nearest score, clamped."""
        if math.isnan(mean):
            raise ValueError("mean is not a number")
        top = len(self.levels)
        if mean >= top:
            index = top
        elif mean <= 1:
            index = 1
        else:
            # The small tolerance keeps e.g. 2.4999999999 (float noise around 2.5) rounding up.
            index = math.floor(mean + 0.5 + 1e-9)
        return self.levels[min(max(index, 1), top) - 1]


@dataclass(frozen=True)
class Question:
    number: str
    text: str
    stage: str
    descriptors: Mapping[str, str] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        if not isinstance(self.descriptors, FrozenMap):
            object.__setattr__(self, "descriptors", FrozenMap(self.descriptors))


@dataclass(frozen=True)
class Element:
    code: str
    title: str
    heading: int
    focus: tuple[str, ...] = ()
    questions: tuple[Question, ...] = ()
    descriptors: Mapping[str, str] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        object.__setattr__(self, "focus", tuple(self.focus))
        object.__setattr__(self, "questions", tuple(self.questions))
        if not isinstance(self.descriptors, FrozenMap):
            object.__setattr__(self, "descriptors", FrozenMap(self.descriptors))

    def questions_for(self, scope: Scope) -> tuple[Question, ...]:
        """The questions asked in ``scope``: only those to start with when its kind is start."""
        if scope.kind == "start":
            return tuple(q for q in self.questions if q.stage == STAGE_START)
        return self.questions


@dataclass(frozen=True)
class Heading:
    number: int
    title: str
    elements: tuple[Element, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", tuple(self.elements))


def code_sort_key(code: str) -> tuple[tuple[int, int, str], ...]:
    """Natural order for element codes: "2A" < "10A", digits before letters."""
    parts = re.findall(r"\d+|[^\d]+", code)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


@dataclass(frozen=True)
class Scope:
    """Which part of a framework a review cycle covers.

    ``kind`` is ``"start"`` (questions to start with only), ``"all"``, or ``"codes"`` (the listed
    elements, all their questions). Codes are normalised on construction: upper-case, no
    duplicates, in natural order (which is framework order for the built-in frameworks;
    :meth:`Framework.elements_in_scope` always returns framework order).
    """

    kind: str
    codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SCOPE_KINDS:
            raise FrameworkError(
                f"unknown scope kind {show(self.kind)} (expected start, all or codes)", path="scope"
            )
        try:
            raw = tuple(self.codes)
        except TypeError:
            raise FrameworkError(
                "codes must be a sequence of element codes", path="scope"
            ) from None
        codes: list[str] = []
        for item in raw:
            if not isinstance(item, str):
                raise FrameworkError(f"element code {show(item)} is not text", path="scope")
            code = item.strip().upper()
            if not CODE_RE.fullmatch(code) or code in RESERVED_CODES:
                raise FrameworkError(f"{show(item)} is not an element code", path="scope")
            if code not in codes:
                codes.append(code)
        if self.kind == "codes" and not codes:
            raise FrameworkError("no element codes given", path="scope")
        if self.kind != "codes" and codes:
            raise FrameworkError(f"a {show(self.kind)} scope takes no element codes", path="scope")
        object.__setattr__(self, "codes", tuple(sorted(codes, key=code_sort_key)))

    def __str__(self) -> str:
        if self.kind == "codes":
            return ",".join(self.codes)
        return self.kind


def parse_scope(value: str) -> Scope:
    """Parse ``"start"``, ``"all"`` or a list of element codes such as ``"1a, 2B"``.

    Codes may be separated by commas and/or spaces; case does not matter. Whether the codes
    exist is checked against a framework by :meth:`Framework.validate_scope`.
    """
    if not isinstance(value, str):
        raise FrameworkError(f"expected text, got {type(value).__name__}", path="scope")
    text = value.strip()
    if not text:
        raise FrameworkError("empty scope (expected start, all or element codes)", path="scope")
    lowered = text.lower()
    if lowered in ("start", "all"):
        return Scope(lowered)
    tokens = [t for t in re.split(r"[,\s]+", text) if t]
    if not tokens:
        raise FrameworkError(
            f"{show(value)} is not a scope (expected start, all or element codes)", path="scope"
        )
    for token in tokens:
        if token.upper() in RESERVED_CODES:
            raise FrameworkError(
                f"{show(value)}: start and all cannot be combined with element codes", path="scope"
            )
        if not CODE_RE.fullmatch(token.upper()):
            raise FrameworkError(
                f"{show(token)} is not an element code (expected start, all or codes like 1A,2B)",
                path="scope",
            )
    return Scope("codes", tuple(tokens))


@dataclass(frozen=True)
class Framework:
    key: str
    title: str
    version: str
    source_text: str
    introduction: str
    attribution: str
    source: str
    scale: Scale
    headings: tuple[Heading, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "headings", tuple(self.headings))

    @cached_property
    def elements(self) -> tuple[Element, ...]:
        """Every element, in framework order (heading by heading)."""
        return tuple(e for h in self.headings for e in h.elements)

    @cached_property
    def _by_code(self) -> dict[str, Element]:
        return {e.code: e for e in self.elements}

    def element(self, code: str) -> Element:
        """The element with ``code`` (case-insensitive); ``KeyError`` if there is none."""
        if not isinstance(code, str):
            raise KeyError(code)
        found = self._by_code.get(code.strip().upper())
        if found is None:
            raise KeyError(code)
        return found

    def validate_scope(self, scope: Scope) -> None:
        """Raise :class:`FrameworkError` naming any codes in ``scope`` this framework lacks."""
        unknown = [c for c in scope.codes if c not in self._by_code]
        if unknown:
            raise FrameworkError(
                f"unknown element code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(framework {self.key} has {', '.join(self._by_code)})",
                path="scope",
            )

    def elements_in_scope(self, scope: Scope) -> tuple[Element, ...]:
        """The elements ``scope`` covers, in framework order."""
        if scope.kind != "codes":
            return self.elements
        self.validate_scope(scope)
        wanted = set(scope.codes)
        return tuple(e for e in self.elements if e.code in wanted)

    def question_count(self, scope: Scope) -> int:
        """How many questions ``scope`` asks across its elements."""
        return sum(len(e.questions_for(scope)) for e in self.elements_in_scope(scope))

    def time_estimate(self, scope: Scope) -> TimeEstimate:
        """How long answering ``scope`` takes, from its elements and questions (the survey's
        landing page and the invitation email both say it)."""
        return TimeEstimate(len(self.elements_in_scope(scope)), self.question_count(scope))


def _round_up_to_five(seconds: int) -> int:
    return max(5, math.ceil(seconds / 300) * 5)


def minutes_in_words(minutes: int) -> str:
    """``35`` -> "35 minutes", ``60`` -> "1 hour", ``70`` -> "1 hour 10 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours > 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


@dataclass(frozen=True)
class TimeEstimate:
    """How long a review takes: about ``SECONDS_PER_QUESTION`` to read each question in scope,
    ``SECONDS_PER_ELEMENT`` to read each element and choose its rating, and, for those who
    write one, ``SECONDS_PER_RATIONALE`` for each element's rationale; rounded up to five
    minutes."""

    elements: int
    questions: int

    @property
    def minutes(self) -> int:
        """Reading every question and rating every element, without rationales."""
        return _round_up_to_five(
            self.questions * SECONDS_PER_QUESTION + self.elements * SECONDS_PER_ELEMENT
        )

    @property
    def minutes_with_rationales(self) -> int:
        """The same, writing a short rationale for every element."""
        return _round_up_to_five(
            self.questions * SECONDS_PER_QUESTION
            + self.elements * (SECONDS_PER_ELEMENT + SECONDS_PER_RATIONALE)
        )

    @property
    def words(self) -> str:
        """ "about 35 minutes, or about 1 hour 5 minutes with a rationale for each element"."""
        return (
            f"about {minutes_in_words(self.minutes)}, or about "
            f"{minutes_in_words(self.minutes_with_rationales)} with a rationale for each element"
        )

    @property
    def basis(self) -> str:
        """How the estimate was made, in words."""
        questions = f"{self.questions} question{'s' if self.questions != 1 else ''}"
        elements = f"{self.elements} element{'s' if self.elements != 1 else ''}"
        return (
            f"estimated from the {elements} and {questions} in this review: about "
            f"{SECONDS_PER_QUESTION} seconds to read each question, "
            f"{SECONDS_PER_ELEMENT / 60:g} minutes to read each element and choose its rating, "
            f"and {SECONDS_PER_RATIONALE / 60:g} minutes for each rationale you write"
        )
