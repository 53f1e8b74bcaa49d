"""The held report (SPEC section 8): the CEO may hold a cycle's report to review its comments.

With no hold (the default) the scheduler compiles the report once the cycle has closed and emails
it at once. With a hold, it compiles the report but does not email it; the CEO reads the comments
the report would publish (redacted), may hide any of them, and releases the report. Releasing
drops the compiled copy, so the scheduler compiles it again without the hidden comments and then
emails it (jobs/tasks.py, `compile_closed_cycles`).

What a hide writes, and why it keeps the anonymity promise (SPEC section 5):
- a row in `hidden_comments` naming the rating by its own key (a random response id and the
  element code), with nothing else: no time, no sequence, no text. Nothing is written to
  `responses` or `ratings`, which only sealing writes.
- an audit event that says who hid a comment on which element, never its text or its response.
- The review page names a comment by a handle, an HMAC of (cycle, response id, element) under a
  key derived from the secret key (itsdangerous' signer), never by the response id: two comments
  of one person cannot be matched up by their handles, and the page shows comments in the order
  of their handles (random, and stable while the key is the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from itsdangerous import Signer
from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from survey.config import get_settings
from survey.errors import UserError
from survey.models import (
    Cycle,
    CycleState,
    HiddenComment,
    Rating,
    Report,
    Response,
)
from survey.services.audit import record_event
from survey.services.comment_redaction import load_redactor
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.templating import counted
from survey.timeutil import utcnow

HANDLE_SALT = "mat-review.comment-handle.v1"
HANDLE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{10,100}$")


def _signer() -> Signer:
    return Signer(get_settings().secret_key, salt=HANDLE_SALT)


def comment_handle(cycle_id: int, response_id: str, element_code: str) -> str:
    """A comment's name on the review page: says nothing about its response."""
    return _signer().get_signature(f"{cycle_id}:{response_id}:{element_code}").decode("ascii")


# -- the hold ---------------------------------------------------------------------------------


def is_awaiting_release(cycle: Cycle) -> bool:
    """Held and not yet released: the report is not emailed."""
    return cycle.is_report_held and cycle.report_released_at is None


def set_report_hold(session: Session, cycle: Cycle, is_held: bool, actor: str) -> bool:
    """Choose whether the cycle's report waits for the CEO's review; returns whether it changed.

    Allowed until the report has been emailed; once the cycle has closed, a held report is let
    go by releasing it (`release_report`), so the hold can then only be set, not lifted."""
    if cycle.state == CycleState.REPORTED:
        raise UserError(f"cycle {cycle.id} has already been reported: its report has been sent")
    if cycle.report_released_at is not None:
        raise UserError(f"the report of cycle {cycle.id} has already been released")
    if cycle.is_report_held == is_held:
        return False
    if not is_held and cycle.state == CycleState.CLOSED:
        raise UserError(
            f"cycle {cycle.id} has closed: release the report to send it, after reviewing "
            "its comments"
        )
    cycle.is_report_held = is_held
    session.flush()
    record_event(
        session,
        actor,
        "report.hold" if is_held else "report.no-hold",
        cycle=cycle,
        detail="the report waits for a review of its comments"
        if is_held
        else "the report is emailed when compiled",
    )
    return True


def _lock(session: Session, cycle: Cycle) -> Cycle:
    return session.scalars(
        select(Cycle)
        .where(Cycle.id == cycle.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _ensure_reviewable(cycle: Cycle) -> None:
    if not cycle.is_report_held:
        raise UserError(f"the report of cycle {cycle.id} is not held for review")
    if cycle.report_released_at is not None or cycle.state == CycleState.REPORTED:
        raise UserError(f"the report of cycle {cycle.id} has already been released")
    if cycle.state != CycleState.CLOSED:
        raise UserError(
            f"cycle {cycle.id} is {cycle.state.value}: its comments can be reviewed once it "
            "has closed"
        )


def release_report(session: Session, cycle: Cycle, actor: str) -> int:
    """Let a held report go: it is compiled again without the hidden comments and emailed by
    the scheduler's next run. Returns the number of hidden comments. Flushes."""
    locked = _lock(session, cycle)
    _ensure_reviewable(locked)
    locked.report_released_at = utcnow()
    # The copy compiled for the review may hold comments hidden since; the scheduler compiles
    # the report again (the web app never compiles).
    session.execute(delete(Report).where(Report.cycle_id == locked.id))
    hidden = count_hidden_comments(session, locked)
    session.flush()
    record_event(
        session,
        actor,
        "report.release",
        cycle=locked,
        detail=f"{counted(hidden, 'comment')} hidden",
    )
    return hidden


# -- the comments under review ------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewComment:
    handle: str
    text: str  # redacted
    is_hidden: bool


@dataclass
class ElementComments:
    code: str
    title: str
    comments: list[ReviewComment] = field(default_factory=list)


def count_hidden_comments(session: Session, cycle: Cycle) -> int:
    query = select(func.count()).select_from(HiddenComment)
    return int(session.scalar(query.where(HiddenComment.cycle_id == cycle.id)) or 0)


def _eligible_group_ids(session: Session, cycle: Cycle) -> set[int]:
    """The groups whose comments the report publishes (survey/reports/compile.py, rule 4)."""
    threshold = cycle.comment_threshold
    counts = session.execute(
        select(Response.group_id, func.count())
        .where(Response.cycle_id == cycle.id)
        .group_by(Response.group_id)
    )
    return {int(group_id) for group_id, n in counts if int(n) >= threshold}


def _comment_rows(session: Session, cycle: Cycle) -> list[tuple[str, str, str, bool]]:
    """(response id, element code, rationale, is hidden) of every comment the report could
    publish."""
    eligible = _eligible_group_ids(session, cycle)
    if not eligible:
        return []
    is_hidden = exists().where(
        HiddenComment.response_id == Rating.response_id,
        HiddenComment.element_code == Rating.element_code,
    )
    rows = session.execute(
        select(Rating.response_id, Rating.element_code, Rating.rationale, is_hidden)
        .join(Response, Rating.response_id == Response.id)
        .where(
            Response.cycle_id == cycle.id,
            Response.group_id.in_(eligible),
            Rating.rationale.is_not(None),
            Rating.rationale != "",
        )
    ).all()
    return [(str(r), str(e), str(t), bool(h)) for r, e, t, h in rows]


def list_review_comments(session: Session, cycle: Cycle) -> list[ElementComments]:
    """The comments the report would publish, redacted, by element in framework order, each
    element's in a random order that stays the same between page loads."""
    framework = get_cycle_framework(session, cycle)
    elements = framework.elements_in_scope(get_cycle_scope(cycle))
    by_code = {e.code: ElementComments(e.code, e.title) for e in elements}
    # Exactly the report's own redaction: the page shows the CEO no more than the report will.
    redact = load_redactor(session, cycle)
    found: list[tuple[str, ElementComments, ReviewComment]] = []
    for response_id, code, text, is_hidden in _comment_rows(session, cycle):
        block = by_code.get(code)
        if block is None:
            continue
        handle = comment_handle(cycle.id, response_id, code)
        found.append((handle, block, ReviewComment(handle, redact(text), is_hidden)))
    for _, block, comment in sorted(found, key=lambda item: item[0]):
        block.comments.append(comment)
    return list(by_code.values())


def set_comment_hidden(
    session: Session, cycle: Cycle, handle: str, actor: str, *, is_hidden: bool = True
) -> str:
    """Hide (or show again) one comment of a held report; returns its element code. Flushes."""
    locked = _lock(session, cycle)
    _ensure_reviewable(locked)
    handle = handle.strip()
    if not HANDLE_PATTERN.match(handle):
        raise UserError("no such comment (reload the page: it may be out of date)")
    match = next(
        (
            (response_id, code, hidden)
            for response_id, code, _, hidden in _comment_rows(session, locked)
            if comment_handle(locked.id, response_id, code) == handle
        ),
        None,
    )
    if match is None:
        raise UserError("no such comment (reload the page: it may be out of date)")
    response_id, code, hidden = match
    if hidden == is_hidden:
        return code
    if is_hidden:
        session.add(HiddenComment(response_id=response_id, element_code=code, cycle_id=locked.id))
    else:
        session.execute(
            delete(HiddenComment).where(
                HiddenComment.response_id == response_id, HiddenComment.element_code == code
            )
        )
    locked.comment_review_version += 1
    session.flush()
    record_event(
        session,
        actor,
        "report.comment-hide" if is_hidden else "report.comment-show",
        cycle=locked,
        detail=f"a comment on {code}",
    )
    return code
