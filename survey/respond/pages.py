"""How the form is split into pages: one heading per page, so that a phone shows a few elements
at a time with its progress. A heading with more elements than `MAX_ELEMENTS_PER_PAGE` (a
framework with one heading, or none worth the name) is split into pages of a few elements."""

from __future__ import annotations

import math
from dataclasses import dataclass

import framework as fw

MAX_ELEMENTS_PER_PAGE = 4


@dataclass(frozen=True)
class FormStep:
    """One page of the form: `number` counts from 1; `part` of `parts` when its heading is
    split over several pages."""

    number: int
    heading: fw.Heading
    elements: tuple[fw.Element, ...]
    part: int = 1
    parts: int = 1

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.elements)


def plan_steps(framework: fw.Framework, scope: fw.Scope) -> list[FormStep]:
    """The form's pages for `scope`, in framework order; headings with nothing in scope are left
    out."""
    wanted = {e.code for e in framework.elements_in_scope(scope)}
    steps: list[FormStep] = []
    for heading in framework.headings:
        elements = [e for e in heading.elements if e.code in wanted]
        if not elements:
            continue
        parts = math.ceil(len(elements) / MAX_ELEMENTS_PER_PAGE)
        size = math.ceil(len(elements) / parts)
        for part in range(parts):
            chunk = tuple(elements[part * size : (part + 1) * size])
            steps.append(FormStep(len(steps) + 1, heading, chunk, part + 1, parts))
    return steps


def is_one_heading_per_page(steps: list[FormStep]) -> bool:
    """True when every page is a whole heading, so progress reads "Heading 2 of 6"."""
    return all(step.parts == 1 for step in steps)


def step_of(steps: list[FormStep], code: str) -> FormStep | None:
    """The page on which element `code` is asked."""
    for step in steps:
        if code in step.codes:
            return step
    return None
