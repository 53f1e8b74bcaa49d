"""Sealing a cycle at close (SPEC section 5): the ballot box is opened and counted.

Until close, a cycle's answers exist only as sealed ballots (see `survey.services.responses`).
Sealing, in the one transaction that closes the cycle:
- opens every ballot of the cycle (a ballot that no key opens stops the seal with a clear error,
  and the transaction rolls back: nothing is lost);
- shuffles the answers, together with any responses an earlier version stored in clear, and
  inserts them as `responses` with fresh random ids and their `ratings`. These are the only
  writes of those tables, so their rows, physical order and transaction ids carry no submission
  history;
- deletes the ballots and the cycle's drafts;
- drops the reminder bookkeeping that dates a completion (the invitations' reminder counts, and
  the reminder and cancelled messages in the outbox) and rewrites the cycle's invitations in one
  statement, so their transaction id is this one too.

After the commit, `survey.storage.scrub` removes what the engine keeps of the deleted rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import UserError
from survey.models import (
    Ballot,
    Cycle,
    Draft,
    Invitation,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Rating,
    Response,
    random_response_id,
)
from survey.sealbox import Keyring, SealError
from survey.services import ballots
from survey.services.frameworks import get_framework

_shuffle = random.SystemRandom().shuffle
_BATCH = 200

Answer = tuple[int, dict[str, tuple[str, str | None]]]  # group id, code -> (scale key, rationale)


def _opened_ballots(
    session: Session, cycle: Cycle, framework: fw.Framework, keyring: Keyring
) -> Iterator[Answer]:
    scope = fw.parse_scope(cycle.scope)
    result = session.execute(
        select(Ballot.sealed).where(Ballot.cycle_id == cycle.id).execution_options(yield_per=_BATCH)
    )
    with result:  # a server-side cursor on PostgreSQL: closed even when a ballot will not open
        for box in result.scalars():
            try:
                opened = ballots.unseal(keyring, ballots.BALLOT, cycle.id, box, framework, scope)
            except SealError as exc:
                raise UserError(
                    f"cannot seal “{cycle.title}”: {exc}. Nothing was changed and no answer is "
                    "lost; restore the secret key that was in use while the review was open (or "
                    "add it to MAT_REVIEW_SECRET_KEY_FALLBACKS) and close again"
                ) from exc
            yield (
                opened.group_id,
                {
                    code: (key, opened.rationales.get(code) or None)
                    for code, key in opened.ratings.items()
                },
            )


def _stored_responses(session: Session, cycle: Cycle) -> list[Answer]:
    """Responses written in clear by a version before the ballot box (or by tests)."""
    rows = session.execute(
        select(
            Response.id,
            Response.group_id,
            Rating.element_code,
            Rating.scale_key,
            Rating.rationale,
        )
        .outerjoin(Rating, Rating.response_id == Response.id)
        .where(Response.cycle_id == cycle.id)
    ).all()
    found: dict[str, Answer] = {}
    for row in rows:
        _, answers = found.setdefault(row.id, (row.group_id, {}))
        if row.element_code is not None:
            answers[row.element_code] = (row.scale_key, row.rationale)
    return list(found.values())


def seal_cycle(session: Session, cycle: Cycle, keyring: Keyring | None = None) -> int:
    """Open the cycle's ballots into responses and ratings; returns the number of responses."""
    session.flush()
    framework = get_framework(session, cycle.framework_key, cycle.framework_version)
    answers = _stored_responses(session, cycle)
    answers.extend(_opened_ballots(session, cycle, framework, keyring or ballots.keyring()))
    _shuffle(answers)

    responses: list[dict[str, object]] = []
    ratings: list[dict[str, object]] = []
    for group_id, by_element in answers:
        response_id = random_response_id()
        responses.append({"id": response_id, "cycle_id": cycle.id, "group_id": group_id})
        ratings.extend(
            {
                "response_id": response_id,
                "element_code": code,
                "scale_key": key,
                "score": framework.scale.score(key),
                "rationale": rationale,
            }
            for code, (key, rationale) in by_element.items()
        )
    _shuffle(ratings)

    in_cycle = select(Response.id).where(Response.cycle_id == cycle.id)
    session.execute(
        delete(Rating).where(Rating.response_id.in_(in_cycle)),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        delete(Response).where(Response.cycle_id == cycle.id),
        execution_options={"synchronize_session": False},
    )
    if responses:
        session.execute(insert(Response), responses)
    if ratings:
        session.execute(insert(Rating), ratings)
    session.execute(
        delete(Ballot).where(Ballot.cycle_id == cycle.id),
        execution_options={"synchronize_session": False},
    )

    invitations = select(Invitation.id).where(Invitation.cycle_id == cycle.id)
    session.execute(
        delete(Draft).where(Draft.invitation_id.in_(invitations)),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.cycle_id == cycle.id,
            OutboxMessage.invitation_id.is_not(None),
            or_(
                OutboxMessage.kind == MessageKind.REMINDER,
                OutboxMessage.status == OutboxStatus.CANCELLED,
            ),
        ),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Invitation)
        .where(Invitation.cycle_id == cycle.id)
        .values(reminders_sent=0, is_completed=Invitation.is_completed),
        execution_options={"synchronize_session": False},
    )
    session.flush()
    return len(responses)
