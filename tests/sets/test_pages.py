"""The set pages on both databases: a coordinator creates a set and invites, a trust admin
accepts and shares, the set's page shows the report (or why not), its PDF and XLSX download,
and nobody outside the set sees it."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from survey.models import AdminRole, LearningSet, MembershipState
from survey.services import sets as service
from tests.admin.helpers import Browser

from .conftest import World, _admin


def _signed_in(app_client: FlaskClient, email: str) -> Browser:
    browser = Browser(app_client)
    assert browser.sign_in(email).status_code == 303
    return browser


def test_the_pages_run_a_set_from_creation_to_report(world: World, app) -> None:  # type: ignore[no-untyped-def]
    session = world.session
    coordinator = _signed_in(app.test_client(), world.coordinator.email)
    created = coordinator.post("/sets/", {"name": "West set", "kind": "learning"}, page="/sets/")
    assert created.status_code == 303
    west = session.scalar(select(LearningSet).where(LearningSet.name == "West set"))
    assert west is not None
    page = f"/sets/{west.id}"
    for admin in world.admins[:3]:
        done = coordinator.post(f"{page}/invite", {"email": admin.email}, page=page)
        assert done.status_code == 303
    assert "is invited" in coordinator.get(page).get_data(as_text=True)

    for n, (admin, trust, cycle) in enumerate(
        zip(world.admins[:3], world.trusts[:3], world.cycles[:3], strict=True)
    ):
        member = _signed_in(app.test_client(), admin.email)
        html = member.get(page).get_data(as_text=True)
        assert f"Accept for {trust.name}" in html
        assert member.post(f"{page}/trusts/{trust.slug}/accept", page=page).status_code == 303
        html = member.get(page).get_data(as_text=True)
        assert "Share a reported cycle" in html
        appear = "name" if n == 0 else "letter"
        shared = member.post(f"{page}/share", {"cycle": cycle.id, "appear": appear}, page=page)
        assert shared.status_code == 303
        html = member.get(page).get_data(as_text=True)
        if n < 2:
            assert "Not shown yet" in html and "at least 3 trusts" in html
    session.expire_all()
    assert all(m.state == MembershipState.ACCEPTED for m in west.memberships)

    html = coordinator.get(page).get_data(as_text=True)
    assert "Learning set report: West set" in html and "Not shown yet" not in html
    assert "Alder Trust" in html
    assert (
        "Birch" not in html.split('id="report"')[1] and "Cedar" not in html.split('id="report"')[1]
    )
    pdf = coordinator.get(f"{page}/set-report.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    xlsx = coordinator.get(f"{page}/set-report.xlsx")
    assert xlsx.status_code == 200 and xlsx.data.startswith(b"PK")

    # Trust D was never invited: its admin does not see the set at all.
    outsider = _signed_in(app.test_client(), world.admins[3].email)
    assert outsider.get(page).status_code == 404
    assert outsider.get(f"{page}/set-report.pdf").status_code == 404
    # Invited, it reads the set's page and its invitation, not the figures, until it accepts.
    assert (
        coordinator.post(f"{page}/invite", {"email": world.admins[3].email}, page=page).status_code
        == 303
    )
    html = outsider.get(page).get_data(as_text=True)
    assert "Accept for Damson Unshared Trust" in html
    assert "accept the invitation to read them" in html
    assert "Learning set report" not in html and "secret cycle title" not in html
    assert outsider.get(f"{page}/set-report.xlsx").status_code == 404


def test_a_viewer_cannot_share_or_answer(world: World, app) -> None:  # type: ignore[no-untyped-def]
    viewer = _admin(world.session, "viewer@alder.example", world.trusts[0], AdminRole.VIEWER)
    browser = _signed_in(app.test_client(), viewer.email)
    page = f"/sets/{world.lset.id}"
    service.withdraw_share(world.session, world.lset, world.cycles[0], world.admins[0])
    world.session.commit()
    refused = browser.post(
        f"{page}/share", {"cycle": world.cycles[0].id, "appear": "name"}, page=page
    )
    assert refused.status_code == 303
    html = browser.get(page).get_data(as_text=True)
    assert "only an admin of Alder Trust can do this" in html.replace("Only", "only")
    assert service.sharing_trust_count(world.session, world.lset) == 2


def test_the_benchmark_page_waits_for_ten_trusts(world: World, app) -> None:  # type: ignore[no-untyped-def]
    browser = _signed_in(app.test_client(), world.admins[0].email)
    slug = world.trusts[0].slug
    html = browser.get(f"/sets/benchmark/{slug}").get_data(as_text=True)
    assert "does not take part" in html
    done = browser.post(f"/sets/benchmark/{slug}", {"choice": "in", "framework": "mat-assurance"},
                        page=f"/sets/benchmark/{slug}")  # fmt: skip
    assert done.status_code == 303
    html = browser.get(f"/sets/benchmark/{slug}").get_data(as_text=True)
    assert "at least 10 trusts" in html and re.search(r"\(1 so far\)", html)
