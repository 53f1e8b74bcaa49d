"""Helpers for the report tests: responses inserted directly (the survey form is not under test
here), and a small HTML table reader."""

from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy.orm import Session

from survey.models import Cycle, CycleState, Rating, Response
from survey.services.frameworks import get_cycle_framework

GOLDEN_GROUPS = [
    "executive:Executive leaders",
    "headteacher:Headteachers",
    "middle-leader:Middle leaders",
]
SCRIPT_COMMENT = "<script>alert('x')</script> The vision is written down but not shared"
FORMULA_COMMENT = '=HYPERLINK("http://evil.example/","click me")'
EXEC_SECRET = "EXEC-ONLY remark that must never be shown"


def insert_responses(
    session: Session,
    cycle: Cycle,
    group_key: str,
    answers: dict[str, list[str]],
    comments: dict[str, dict[int, str]] | None = None,
) -> None:
    """Add one response per position in the answer lists: answers[code][i] is response i's
    answer to element `code`; comments[code][i] its rationale."""
    group = cycle.group_by_key(group_key)
    assert group is not None
    scale = get_cycle_framework(session, cycle).scale
    sizes = {len(keys) for keys in answers.values()}
    assert len(sizes) == 1, "every element needs one answer per response"
    for i in range(sizes.pop()):
        response = Response(cycle_id=cycle.id, group_id=group.id)
        for code, keys in answers.items():
            response.ratings.append(
                Rating(
                    element_code=code,
                    scale_key=keys[i],
                    score=scale.score(keys[i]),
                    rationale=(comments or {}).get(code, {}).get(i),
                )
            )
        session.add(response)
    session.flush()


def expand(counts: dict[str, int]) -> list[str]:
    """{"green": 2, "red": 1} -> ["green", "green", "red"]."""
    return [key for key, n in counts.items() for _ in range(n)]


def set_state(cycle: Cycle, state: CycleState) -> None:
    cycle.state = state
    if state in (CycleState.CLOSED, CycleState.REPORTED):
        cycle.closed_at = cycle.closes_at
        cycle.sealed_at = cycle.closes_at


class _TableReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    """Every table row in `html` as a list of its cells' text (whitespace collapsed)."""
    reader = _TableReader()
    reader.feed(html)
    return [row for row in reader.rows if row]


def section(html: str, section_id: str) -> str:
    """The HTML of `<section id=section_id ...>` up to its closing tag."""
    start = html.index(f'<section id="{section_id}"')
    return html[start : html.index("</section>", start)]
