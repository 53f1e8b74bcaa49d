"""Data for the web and mail benchmarks: an open cycle (scope all, 14 elements) with thousands of
invitations, and files of their personal links (paths `/s/<token>`, one per line)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from survey.models import Cycle, Invitation
from survey.services.cycles import (
    CycleSettings,
    create_cycle,
    create_trust,
    open_cycle,
)
from survey.services.links import mint_link
from survey.services.recipients import RecipientRow, add_invitations
from survey.timeutil import utcnow

GROUPS = ("executive", "headteacher", "middle-leader")


def create_cycle_with_people(
    session: Session, people: int, *, title: str, enqueue_invitations: bool = False
) -> tuple[Cycle, list[Invitation]]:
    """A trust, an open cycle of the MAT Assurance Framework (scope all) and `people` invitations.

    With `enqueue_invitations` the cycle is opened as the scheduler opens it (every invitation
    email rendered into the outbox); otherwise it is opened through the model alone.
    """
    now = utcnow()
    trust = create_trust(session, f"{title} Trust")
    settings = CycleSettings(
        title=title,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=14),
        scope="all",
        report_to=["ceo@bench.example"],
    )
    cycle = create_cycle(session, trust, settings, "bench")
    rows = [
        RecipientRow(i + 2, f"person{i}@school{i % 40}.example", f"Person {i}", GROUPS[i % 3], "")
        for i in range(people)
    ]
    invitations = add_invitations(session, cycle, rows, "bench")
    cycle.launch(invitation_count=len(invitations), now=now)
    if enqueue_invitations:
        open_cycle(session, cycle, "bench", now)
    else:
        cycle.open(now)
    session.flush()
    return cycle, invitations


def write_links(session: Session, invitations: list[Invitation], path: Path, base_url: str) -> None:
    """Mint one personal link per invitation (as the dispatcher does) and write their paths."""
    paths = [mint_link(session, invitation)[len(base_url) :] for invitation in invitations]
    path.write_text("\n".join(paths) + "\n")
