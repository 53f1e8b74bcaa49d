"""Sealing a cycle at close (SPEC section 5).

After sealing, the physical order and write history of the cycle's rows no longer follow the
order in which people submitted:
- responses and their ratings are deleted and inserted again in a random order, in this one
  transaction, so SQLite rowids and PostgreSQL ctids follow the shuffle and every row's `xmin`
  is this transaction;
- the cycle's invitations are rewritten in one statement, so their `xmin` is this transaction too
  (before sealing, an invitation marked completed shares an `xmin` with the response written in
  the same transaction);
- drafts are deleted.
"""

from __future__ import annotations

import random

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from survey.models import Cycle, Draft, Invitation, Rating, Response

_shuffle = random.SystemRandom().shuffle


def seal_cycle(session: Session, cycle: Cycle) -> int:
    """Rewrite the cycle's responses, ratings and invitations; returns the number of responses."""
    session.flush()
    # Column selects, not ORM objects: nothing stale is left in the session after the rewrite.
    responses = [
        {"id": r.id, "cycle_id": r.cycle_id, "group_id": r.group_id}
        for r in session.execute(
            select(Response.id, Response.cycle_id, Response.group_id).where(
                Response.cycle_id == cycle.id
            )
        )
    ]
    response_ids = [r["id"] for r in responses]
    ratings: list[dict[str, object]] = []
    if response_ids:
        for start in range(0, len(response_ids), 500):
            chunk = response_ids[start : start + 500]
            ratings.extend(
                {
                    "response_id": r.response_id,
                    "element_code": r.element_code,
                    "scale_key": r.scale_key,
                    "score": r.score,
                    "rationale": r.rationale,
                }
                for r in session.execute(
                    select(
                        Rating.response_id,
                        Rating.element_code,
                        Rating.scale_key,
                        Rating.score,
                        Rating.rationale,
                    ).where(Rating.response_id.in_(chunk))
                )
            )

    _shuffle(responses)
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
        update(Invitation)
        .where(Invitation.cycle_id == cycle.id)
        .values(is_completed=Invitation.is_completed)
    )
    session.execute(
        delete(Draft).where(
            Draft.invitation_id.in_(select(Invitation.id).where(Invitation.cycle_id == cycle.id))
        )
    )
    session.flush()
    return len(responses)
