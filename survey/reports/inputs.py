"""The compile step's queries: a cycle (and its previous cycle) -> `CycleInputs`, plain data
with the ratings and comments as DataFrames."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from survey.models import Cycle, CycleState, HiddenComment, Rating, Response
from survey.queries import group_counts
from survey.reports import wording
from survey.reports.model import CycleInfo, CycleInputs, GroupInfo
from survey.services.comment_redaction import load_redactor
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.services.plans import PastPriority, agreed_keys, past_priorities


def _cycle_info(session: Session, cycle: Cycle) -> CycleInfo:
    return CycleInfo(
        id=cycle.id,
        title=cycle.title,
        trust_name=cycle.trust.name,
        timezone=cycle.trust.timezone,
        state=cycle.state.value,
        opens_at=cycle.opens_at,
        closes_at=cycle.closes_at,
        closed_at=cycle.closed_at,
        framework=get_cycle_framework(session, cycle),
        scope=get_cycle_scope(cycle),
        min_group_size=cycle.min_group_size,
        min_comment_group_size=cycle.min_comment_group_size,
    )


def load_inputs(session: Session, cycle: Cycle, *, with_previous: bool = True) -> CycleInputs:
    """Run the queries for one cycle (and its previous cycle, for movement)."""
    responses = {
        int(group_id): int(n)
        for group_id, n in session.execute(
            select(Response.group_id, func.count())
            .where(Response.cycle_id == cycle.id)
            .group_by(Response.group_id)
        )
    }
    rating_rows = session.execute(
        select(Response.group_id, Rating.element_code, Rating.scale_key)
        .join(Response, Rating.response_id == Response.id)
        .where(Response.cycle_id == cycle.id)
    ).all()
    ratings = pd.DataFrame(rating_rows, columns=["group_id", "element_code", "scale_key"])
    comments = pd.DataFrame(columns=["group_id", "element_code", "rationale"])
    previous: CycleInputs | None = None
    previous_plan: list[PastPriority] = []
    note = ""
    hidden_count = 0
    comments_purged = False
    if with_previous:
        # Comments the CEO hid while reviewing a held report (survey/services/report_review.py).
        is_hidden = exists().where(
            HiddenComment.response_id == Rating.response_id,
            HiddenComment.element_code == Rating.element_code,
        )
        hidden_count = int(
            session.scalar(
                select(func.count())
                .select_from(HiddenComment)
                .where(HiddenComment.cycle_id == cycle.id)
            )
            or 0
        )
        comment_rows = session.execute(
            select(Response.group_id, Rating.element_code, Rating.rationale)
            .join(Response, Rating.response_id == Response.id)
            .where(
                Response.cycle_id == cycle.id,
                Rating.rationale.is_not(None),
                Rating.rationale != "",
                ~is_hidden,
            )
        ).all()
        # Redacted here, before anything else sees them: no output ever holds the raw text.
        redact = load_redactor(session, cycle)
        comments = pd.DataFrame(
            [(g, code, redact(text or "")) for g, code, text in comment_rows],
            columns=["group_id", "element_code", "rationale"],
        )
        comments_purged = redact.purged
        prev = cycle.previous_cycle
        if prev is not None:
            if prev.state in (CycleState.CLOSED, CycleState.REPORTED):
                previous = load_inputs(session, prev, with_previous=False)
                previous_plan = past_priorities(session, prev)
            else:
                note = wording.previous_not_closed(prev.title)
    return CycleInputs(
        info=_cycle_info(session, cycle),
        groups=[GroupInfo(g.id, g.key, g.label, g.is_open) for g in cycle.groups],
        responses=responses,
        ratings=ratings,
        comments=comments,
        rates=group_counts(session, cycle),
        previous=previous,
        previous_note=note,
        hidden_comment_count=hidden_count,
        comment_review_version=cycle.comment_review_version,
        comments_purged=comments_purged,
        previous_plan=previous_plan,
        agreed_keys=agreed_keys(session, cycle) if with_previous else {},
    )
