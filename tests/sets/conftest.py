"""The set tests' world: four trusts, their admins, reported cycles and a learning set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from survey.models import AdminRole, AdminUser, Cycle, Trust, trust_admins
from survey.services import sets as service
from survey.services.accounts import hash_password
from tests.admin.helpers import PASSWORD

from .helpers import reported_cycle, same


def _admin(
    session: Session, email: str, trust: Trust, role: AdminRole = AdminRole.ADMIN
) -> AdminUser:
    admin = AdminUser(email=email, password_hash=hash_password(PASSWORD))
    session.add(admin)
    session.flush()
    session.execute(trust_admins.insert().values(trust_id=trust.id, admin_id=admin.id, role=role))
    session.commit()
    return admin


class World:
    def __init__(
        self, session: Session, make_trust: Callable[..., Trust], make_cycle: Callable[..., Cycle]
    ):
        self.session = session
        self.coordinator = AdminUser(
            email="lead@region.example", password_hash=hash_password(PASSWORD)
        )
        session.add(self.coordinator)
        names = ["Alder Trust", "Birch Hidden Trust", "Cedar Hidden Trust", "Damson Unshared Trust"]
        self.trusts = [make_trust(n) for n in names]
        self.admins = [_admin(session, f"ceo@{t.slug}.example", t) for t in self.trusts]
        # Each sharing trust: a hidden executive group of 2 (all red: it would drag any figure
        # it were in down), headteachers and middle leaders close together.
        self.cycles = []
        for i, trust in enumerate(self.trusts[:3]):
            answers = {
                "executive": same({"red": 2}),
                "headteacher": same({"green": 2 + i, "amber-green": 2}),
                "middle-leader": same({"green": 2, "amber-green": 3}),
            }
            self.cycles.append(
                reported_cycle(
                    session, make_cycle, trust, f"{trust.name} secret cycle title", answers
                )
            )
        self.cycles.append(
            reported_cycle(
                session,
                make_cycle,
                self.trusts[3],
                "Damson cycle",
                {
                    "headteacher": same({"red": 4, "amber-red": 1}),
                    "middle-leader": same({"red": 4}),
                },
            )
        )
        session.commit()
        self.lset = service.create_set(session, self.coordinator, "North learning set")
        for admin, trust in zip(self.admins, self.trusts, strict=True):
            service.invite_trust(session, self.lset, admin.email, self.coordinator)
            service.answer_invitation(session, self.lset, trust, admin, accept=True)
        service.share_cycle(session, self.lset, self.cycles[0], self.admins[0], as_name=True)
        service.share_cycle(session, self.lset, self.cycles[1], self.admins[1], as_name=False)
        service.share_cycle(session, self.lset, self.cycles[2], self.admins[2], as_name=False)
        session.commit()


@pytest.fixture
def world(session: Session, make_trust: Any, make_cycle: Any) -> World:
    return World(session, make_trust, make_cycle)
