"""From findings to a plan (issue 18): leadership's agreed rating per element, the priorities,
and the actions with their owners, dates, success measures, status and dated progress notes.

A plan holds leadership's own words and nothing about any respondent, so it can be changed all
year, after a purge too. It can be started once the cycle's report has been compiled: the
worksheet shows the groups' figures from that stored report (`report_figures` reads its
summary.csv: the figures leadership received, never recomputed here). Every change is audited.
Services flush, never commit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import NotFound, UserError
from survey.models import (
    ACTION_STATUS_LABELS,
    ALL_SHOWN,
    ALL_SHOWN_LABEL,
    ActionNote,
    ActionStatus,
    Cycle,
    PlanAction,
    PlanElement,
    Report,
    ReportFile,
)
from survey.queries import has_report
from survey.services.audit import record_event
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.timeutil import utcnow

RATIONALE_MAX = 2000
WHAT_MAX = 2000
OWNER_MAX = 200
MEASURE_MAX = 2000
NOTE_MAX = 2000


# -- the stored report's figures ----------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One group's figure for one element, as the stored report printed it."""

    key: str  # group key, or "all"
    label: str
    responses: int
    mean_text: str  # "" when hidden or nothing rated
    level: fw.ScaleLevel | None
    is_hidden: bool

    @property
    def words(self) -> str:
        if self.is_hidden:
            return "Hidden: too few responses"
        if self.level is None:
            return "No ratings"
        return f"{self.level.label} ({self.mean_text})"


def ensure_plannable(session: Session, cycle: Cycle) -> None:
    """A plan starts from the report: refused until the cycle's report has been compiled."""
    if not has_report(session, cycle):
        raise UserError(
            "the plan can be written once the cycle's report has been compiled "
            f"(cycle {cycle.id} has no report yet)"
        )


def report_figures(session: Session, cycle: Cycle, scale: fw.Scale) -> dict[str, list[Figure]]:
    """Element code -> the groups' figures (cycle order, then all shown groups), read from the
    stored report's summary.csv. Empty when there is no stored report."""
    content = session.scalar(
        select(ReportFile.content)
        .join(Report, ReportFile.report_id == Report.id)
        .where(Report.cycle_id == cycle.id, ReportFile.name == "summary.csv")
    )
    if content is None:
        return {}
    labels = {g.key: g.label for g in cycle.groups}
    labels[ALL_SHOWN] = ALL_SHOWN_LABEL
    out: dict[str, list[Figure]] = {}
    for row in csv.DictReader(io.StringIO(content.decode("utf-8"))):
        mean = row.get("mean") or ""
        hidden = row.get("suppressed") == "true"
        level = scale.level_for_mean(float(mean)) if mean and not hidden else None
        key = row["group"]
        out.setdefault(row["element"], []).append(
            Figure(
                key=key,
                label=labels.get(key, key),
                responses=int(row.get("responses") or 0),
                mean_text="" if hidden else mean,
                level=level,
                is_hidden=hidden,
            )
        )
    return out


# -- the plan, read -----------------------------------------------------------------------------


@dataclass
class PlanEntry:
    """One element in the plan: the framework's element, the survey's figures, and what
    leadership agreed and decided."""

    element: fw.Element
    questions: tuple[fw.Question, ...]
    figures: list[Figure]
    agreed: fw.ScaleLevel | None = None
    rationale: str = ""
    is_priority: bool = False
    actions: list[PlanAction] = field(default_factory=list)

    @property
    def overall(self) -> Figure | None:
        return next((f for f in self.figures if f.key == ALL_SHOWN), None)


@dataclass
class PlanHeading:
    heading: fw.Heading
    entries: list[PlanEntry]


@dataclass
class Plan:
    cycle: Cycle
    framework: fw.Framework
    headings: list[PlanHeading]  # every heading of the framework, in order (some may be empty)
    updated_at: datetime | None = None

    @property
    def entries(self) -> list[PlanEntry]:
        return [e for h in self.headings for e in h.entries]

    @property
    def priorities(self) -> list[PlanEntry]:
        return [e for e in self.entries if e.is_priority]

    @property
    def in_action(self) -> list[PlanEntry]:
        """The priorities, and any other element that still has actions (it was a priority)."""
        return [e for e in self.entries if e.is_priority or e.actions]

    @property
    def has_agreed(self) -> bool:
        return any(e.agreed is not None for e in self.entries)

    @property
    def scale(self) -> fw.Scale:
        return self.framework.scale

    def entry(self, code: str) -> PlanEntry:
        found = next((e for e in self.entries if e.element.code == code), None)
        if found is None:
            raise UserError(f"{code} is not an element of this cycle")
        return found


def load_plan(session: Session, cycle: Cycle) -> Plan:
    """The cycle's plan: every element in scope, under its heading, with the stored report's
    figures, the agreed view, the priority flag and the actions (oldest first)."""
    framework = get_cycle_framework(session, cycle)
    scope = get_cycle_scope(cycle)
    figures = report_figures(session, cycle, framework.scale)
    rows = {
        r.element_code: r
        for r in session.scalars(select(PlanElement).where(PlanElement.cycle_id == cycle.id))
    }
    actions: dict[str, list[PlanAction]] = {}
    for action in session.scalars(
        select(PlanAction).where(PlanAction.cycle_id == cycle.id).order_by(PlanAction.id)
    ):
        actions.setdefault(action.element_code, []).append(action)
    in_scope = {e.code for e in framework.elements_in_scope(scope)}
    headings: list[PlanHeading] = []
    latest: datetime | None = None
    for heading in framework.headings:
        entries = []
        for element in heading.elements:
            if element.code not in in_scope:
                continue
            row = rows.get(element.code)
            entry = PlanEntry(
                element=element,
                questions=element.questions_for(scope),
                figures=figures.get(element.code, []),
                actions=actions.get(element.code, []),
            )
            if row is not None:
                entry.agreed = _level(framework.scale, row.agreed_key)
                entry.rationale = row.rationale
                entry.is_priority = row.is_priority
                latest = max(latest, row.updated_at) if latest else row.updated_at
            for action in entry.actions:
                latest = max(latest, action.updated_at) if latest else action.updated_at
            entries.append(entry)
        headings.append(PlanHeading(heading, entries))
    return Plan(cycle=cycle, framework=framework, headings=headings, updated_at=latest)


def _level(scale: fw.Scale, key: str | None) -> fw.ScaleLevel | None:
    return next((lv for lv in scale.levels if lv.key == key), None) if key else None


def status_label(status: ActionStatus) -> str:
    return ACTION_STATUS_LABELS[status]


def due_text(due_on: date | None) -> str:
    """A due date in words, e.g. "31 March 2027" ("" for none)."""
    return f"{due_on.day} {due_on:%B %Y}" if due_on else ""


# -- the worksheet: agreed ratings and priorities -------------------------------------------------


@dataclass(frozen=True)
class AgreedEntry:
    """What the worksheet's form says about one element."""

    agreed_key: str  # a scale key, or "" for not agreed yet
    rationale: str
    is_priority: bool


def save_worksheet(
    session: Session, cycle: Cycle, entries: Mapping[str, AgreedEntry], actor: str
) -> list[str]:
    """Record the agreed rating, its rationale and the priority flag of each element given;
    returns the codes that changed (each change is audited). Raises UserError naming the
    field (`agreed-<CODE>` or `rationale-<CODE>`) of the first thing that is wrong."""
    ensure_plannable(session, cycle)
    plan = load_plan(session, cycle)
    scale = plan.scale
    for code, given in entries.items():
        plan.entry(code)
        if given.agreed_key and given.agreed_key not in scale.keys:
            raise UserError(
                f"choose one of the framework's ratings for {code}", field=f"agreed-{code}"
            )
        if len(given.rationale) > RATIONALE_MAX:
            raise UserError(
                f"the rationale for {code} is longer than {RATIONALE_MAX:,} characters",
                field=f"rationale-{code}",
            )
    rows = {
        r.element_code: r
        for r in session.scalars(select(PlanElement).where(PlanElement.cycle_id == cycle.id))
    }
    changed: list[str] = []
    now = utcnow()
    for code, given in entries.items():
        row = rows.get(code)
        new = (given.agreed_key or None, given.rationale.strip(), given.is_priority)
        old = (row.agreed_key, row.rationale, row.is_priority) if row else (None, "", False)
        if new == old:
            continue
        if row is None:
            row = PlanElement(cycle_id=cycle.id, element_code=code)
            session.add(row)
        row.agreed_key, row.rationale, row.is_priority = new
        row.updated_by, row.updated_at = actor, now
        changed.append(code)
        words = scale.label(new[0]) if new[0] else "no agreed rating"
        detail = f"{code}: {words}{'; a priority' if new[2] else ''}"
        if new[1] != old[1]:
            detail += "; rationale changed"
        record_event(session, actor, "plan.agree", cycle=cycle, detail=detail)
    session.flush()
    return changed


# -- actions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionFields:
    what: str
    owner: str
    due_on: str  # ISO date (YYYY-MM-DD) or ""
    success_measure: str
    status: str = ActionStatus.NOT_STARTED.value


def _parse_due(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError("give the due date as a date, e.g. 2027-03-31", field="due_on") from None


def _checked(fields: ActionFields) -> tuple[str, str, date | None, str, ActionStatus]:
    what = fields.what.strip()
    if not what:
        raise UserError("say what the action is", field="what")
    if len(what) > WHAT_MAX:
        raise UserError(f"the action is longer than {WHAT_MAX:,} characters", field="what")
    owner = " ".join(fields.owner.split())
    if len(owner) > OWNER_MAX:
        raise UserError(f"the owner is longer than {OWNER_MAX} characters", field="owner")
    measure = fields.success_measure.strip()
    if len(measure) > MEASURE_MAX:
        raise UserError(
            f"the success measure is longer than {MEASURE_MAX:,} characters",
            field="success_measure",
        )
    try:
        status = ActionStatus(fields.status)
    except ValueError:
        raise UserError("choose the action's status", field="status") from None
    return what, owner, _parse_due(fields.due_on), measure, status


def get_action(session: Session, cycle: Cycle, action_id: int) -> PlanAction:
    action = session.get(PlanAction, action_id)
    if action is None or action.cycle_id != cycle.id:
        raise NotFound(f"cycle {cycle.id} has no action {action_id}")
    return action


def add_action(
    session: Session, cycle: Cycle, code: str, fields: ActionFields, actor: str
) -> PlanAction:
    """A new action for element `code`, which must be one of the plan's priorities."""
    ensure_plannable(session, cycle)
    entry = load_plan(session, cycle).entry(code)
    if not entry.is_priority:
        raise UserError(f"mark {code} as a priority before adding actions to it")
    what, owner, due_on, measure, status = _checked(fields)
    now = utcnow()
    action = PlanAction(
        cycle_id=cycle.id,
        element_code=code,
        what=what,
        owner=owner,
        due_on=due_on,
        success_measure=measure,
        status=status,
        created_at=now,
        updated_by=actor,
        updated_at=now,
    )
    session.add(action)
    session.flush()
    record_event(
        session, actor, "plan.action-add", cycle=cycle, detail=f"{code} #{action.id}: {what[:120]}"
    )
    return action


def update_action(
    session: Session, cycle: Cycle, action_id: int, fields: ActionFields, actor: str
) -> PlanAction:
    action = get_action(session, cycle, action_id)
    what, owner, due_on, measure, status = _checked(fields)
    changes = []
    for name, value in (
        ("what", what),
        ("owner", owner),
        ("due_on", due_on),
        ("success_measure", measure),
        ("status", status),
    ):
        if getattr(action, name) != value:
            setattr(action, name, value)
            changes.append(name.replace("_", " "))
    if changes:
        action.updated_by, action.updated_at = actor, utcnow()
        detail = f"{action.element_code} #{action.id}: {', '.join(changes)}"
        if "status" in changes:
            detail += f" (now {status_label(status).lower()})"
        record_event(session, actor, "plan.action-edit", cycle=cycle, detail=detail)
    session.flush()
    return action


def add_note(session: Session, cycle: Cycle, action_id: int, text: str, actor: str) -> ActionNote:
    """A dated progress note on an action, by `actor`."""
    action = get_action(session, cycle, action_id)
    text = text.strip()
    if not text:
        raise UserError("write the progress note", field="note")
    if len(text) > NOTE_MAX:
        raise UserError(f"the note is longer than {NOTE_MAX:,} characters", field="note")
    now = utcnow()
    note = ActionNote(action_id=action.id, written_at=now, author=actor, text=text)
    session.add(note)
    action.updated_by, action.updated_at = actor, now
    session.flush()
    record_event(
        session,
        actor,
        "plan.note",
        cycle=cycle,
        detail=f"{action.element_code} #{action.id}: {text[:120]}",
    )
    return note


def agreed_keys(session: Session, cycle: Cycle) -> dict[str, str]:
    """Element code -> the rating leadership agreed (scale key), for the elements agreed."""
    return {
        code: key
        for code, key in session.execute(
            select(PlanElement.element_code, PlanElement.agreed_key).where(
                PlanElement.cycle_id == cycle.id, PlanElement.agreed_key.is_not(None)
            )
        )
        if key
    }


# -- last year's plan, for next year's report ---------------------------------------------------


@dataclass(frozen=True)
class PastAction:
    what: str
    owner: str
    due_on: date | None
    success_measure: str
    status: str  # its label, e.g. "Done"
    last_note: str = ""


@dataclass(frozen=True)
class PastPriority:
    """An element that was a priority in a cycle, with what leadership agreed and did."""

    code: str
    agreed_label: str
    actions: tuple[PastAction, ...]


def past_priorities(session: Session, cycle: Cycle) -> list[PastPriority]:
    """The cycle's priorities (framework order) with their actions, as plain data for the next
    cycle's report."""
    framework = get_cycle_framework(session, cycle)
    order = {e.code: i for i, e in enumerate(framework.elements)}
    rows = session.scalars(
        select(PlanElement).where(PlanElement.cycle_id == cycle.id, PlanElement.is_priority)
    ).all()
    out = []
    for row in sorted(rows, key=lambda r: order.get(r.element_code, len(order))):
        actions = session.scalars(
            select(PlanAction)
            .where(PlanAction.cycle_id == cycle.id, PlanAction.element_code == row.element_code)
            .order_by(PlanAction.id)
        ).all()
        level = _level(framework.scale, row.agreed_key)
        out.append(
            PastPriority(
                code=row.element_code,
                agreed_label=level.label if level else "",
                actions=tuple(
                    PastAction(
                        what=a.what,
                        owner=a.owner,
                        due_on=a.due_on,
                        success_measure=a.success_measure,
                        status=status_label(a.status),
                        last_note=a.notes[-1].text if a.notes else "",
                    )
                    for a in actions
                ),
            )
        )
    return out
