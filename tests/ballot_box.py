"""Opening a cycle's sealed ballots in a test, as only sealing at close does: what submits stored.

For tests whose submits went through a server in another process (drills, benchmarks); tests in
the respondent's area have the `ballot_box` fixture, which does the same through the app."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

import framework as fw
from survey.db import make_engine, read_only
from survey.models import Ballot, Cycle
from survey.sealbox import Keyring
from survey.services import ballots
from survey.services.ballots import SealedAnswers
from survey.services.frameworks import get_framework


def opened_ballots(database_url: str, cycle_id: int, secret: str) -> list[SealedAnswers]:
    engine = make_engine(database_url)  # the same SQLite library as the app
    try:
        with read_only(), Session(engine) as session:
            cycle = session.get(Cycle, cycle_id)
            assert cycle is not None
            framework = get_framework(session, cycle.framework_key, cycle.framework_version)
            scope = fw.parse_scope(cycle.scope)
            boxes = session.scalars(select_ballots(cycle_id)).all()
    finally:
        engine.dispose()
    ring = Keyring(secret)
    return [
        ballots.unseal(ring, ballots.BALLOT, cycle_id, bytes(box), framework, scope)
        for box in boxes
    ]


def select_ballots(cycle_id: int) -> sa.Select[tuple[bytes]]:
    return sa.select(Ballot.sealed).where(Ballot.cycle_id == cycle_id)
