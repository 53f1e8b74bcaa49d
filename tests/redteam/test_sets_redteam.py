"""Red team, issue 19: attempts on the learning sets through real requests on both databases."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

import framework as fw
from survey.models import (
    AdminRole,
    BenchmarkOptIn,
    Cycle,
    CycleState,
    LearningSet,
    MembershipState,
    Trust,
    trust_admins,
)
from survey.reports import set_figures
from survey.reports.set_figures import Figure, SharedTrust, TrustFigures, compute_set_report
from survey.reports.sets import set_report_xlsx
from survey.reports.store import store_report
from survey.services import sets as service
from tests.admin.helpers import Browser
from tests.reports.factories import insert_responses, set_state
from tests.sets.conftest import World, _admin
from tests.sets.helpers import CODES, GROUPS, summary_all_means, xlsx_text


def _signed_in(app_client: FlaskClient, email: str) -> Browser:
    browser = Browser(app_client)
    assert browser.sign_in(email).status_code == 303
    return browser


def test_a_learning_set_of_two_sharers_gives_no_peer_review_pack(world: World, app: Any) -> None:
    """A learning set with two sharers shows no report (each would see the other's figures
    exactly); its peer review pack must not show them either: a learning set is not a peer
    review the two trusts agreed to."""
    session = world.session
    service.withdraw_share(session, world.lset, world.cycles[2], world.admins[2])
    session.commit()
    page = f"/sets/{world.lset.id}"
    member = _signed_in(app.test_client(), world.admins[0].email)
    assert "Not shown yet" in member.get(page).get_data(as_text=True)
    assert member.get(f"{page}/set-report.pdf").status_code == 404
    assert member.get(f"{page}/peer-review.pdf").status_code == 404
    assert member.get(f"{page}/peer-review.pdf?elements=1A").status_code == 404


def test_a_learning_set_of_three_gives_no_peer_review_pack_either(world: World, app: Any) -> None:
    """With three sharers the learning set's report is trust-wide figures and group kinds
    across trusts; the peer review pack would add each letter trust's groups side by side."""
    page = f"/sets/{world.lset.id}"
    member = _signed_in(app.test_client(), world.admins[0].email)
    assert member.get(f"{page}/set-report.pdf").status_code == 200
    assert member.get(f"{page}/peer-review.pdf").status_code == 404


def test_the_command_line_writes_no_peer_review_pack_for_a_learning_set(
    world: World, runner: Any, tmp_path: Path
) -> None:
    service.withdraw_share(world.session, world.lset, world.cycles[2], world.admins[2])
    world.session.commit()
    out = tmp_path / "pack"
    result = runner.invoke(args=["set", "peer-review", str(world.lset.id), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "no peer review pack" in result.output
    assert not out.exists()


def test_a_named_trusts_group_label_is_no_formula_in_the_set_spreadsheet(app: Any) -> None:
    """A trust shares by name; its own group (key `governors`, also used by two other trusts)
    is labelled with a formula. The set's XLSX, opened by every other trust, must hold it as
    text, not as a formula."""
    evil = '=HYPERLINK("http://evil.example/","Open")'
    framework = fw.load_builtin("mat-assurance")

    def figures(label: str) -> TrustFigures:
        return TrustFigures.of(
            [
                Figure("1A", "all", "All shown groups", 4, 4, 12, 0, "3.00"),
                Figure("1A", "governors", label, 4, 4, 12, 0, "3.00"),
            ]
        )

    trusts = [
        SharedTrust("A", True, "Alder", "c", figures(evil)),
        SharedTrust("B", False, "Birch", "c", figures("Governors")),
        SharedTrust("C", False, "Cedar", "c", figures("Governors")),
    ]
    report = compute_set_report("Set", framework, trusts)
    assert report.group_kinds and report.group_kinds[0].label == evil
    book = load_workbook(io.BytesIO(set_report_xlsx(report)))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith("="), (sheet.title, cell.value)


def _cycle_with_a_small_open_group(
    session: Session, make_cycle: Callable[..., Cycle], trust: Trust
) -> Cycle:
    """Headteachers and middle leaders shown (4 each, all amber-green); an open group of one
    trustee (shown in the trust's own report, its member told so) who rated everything red."""
    opens = datetime(2026, 3, 2, 9, tzinfo=UTC)
    cycle = make_cycle(
        trust,
        title=f"{trust.name} cycle",
        opens_at=opens,
        closes_at=opens + timedelta(days=21),
        scope=",".join(CODES),
        groups=[*GROUPS, "lone:Lone trustee:open"],
        min_group_size=3,
    )
    for group, answers in (
        ("headteacher", ["amber-green"] * 4),
        ("middle-leader", ["amber-green"] * 4),
        ("lone", ["red"]),
    ):
        insert_responses(session, cycle, group, {c: answers for c in CODES})
    set_state(cycle, CycleState.CLOSED)
    store_report(session, cycle)
    cycle.mark_reported()
    session.commit()
    return cycle


def test_a_small_open_group_is_not_shared_with_other_trusts(
    world: World, app: Any, make_cycle: Callable[..., Cycle]
) -> None:
    """An open group below the threshold is shown in its own trust's report (its member was
    told the trust's leaders might work out their rating), but it is a group below
    min_group_size: no other trust may see it, alone or inside a trust-wide figure."""
    session = world.session
    cycle = _cycle_with_a_small_open_group(session, make_cycle, world.trusts[0])
    own = summary_all_means(cycle)
    assert own["1A"] != "3.00"  # the trust's own 'all' column includes the lone trustee
    service.share_cycle(session, world.lset, cycle, world.admins[0], as_name=True)
    session.commit()
    page = f"/sets/{world.lset.id}"
    member = _signed_in(app.test_client(), world.admins[1].email)
    html = member.get(page).get_data(as_text=True).split('id="report"')[1]
    assert "Lone trustee" not in html and "one of its own groups" not in html
    report = set_figures.build_set_report(session, world.lset)
    alder = next(t for t in report.trusts if t.name == world.trusts[0].name)
    assert {g for (_, g) in alder.current.figures} == {"all", "headteacher", "middle-leader"}
    assert alder.current.overall("1A") == Decimal("3.00")  # amber-green, without the trustee
    assert "Lone trustee" not in xlsx_text(member.get(f"{page}/set-report.xlsx").data)
    # The benchmark reads the same figure.
    rows = set_figures.benchmark_rows(session, "mat-assurance")
    assert rows == []  # nobody opted in
    service.set_benchmark_opt_in(
        session, world.trusts[0], "mat-assurance", world.admins[0], opt_in=True
    )
    session.commit()
    rows = set_figures.benchmark_rows(session, "mat-assurance")
    assert {(code, mean) for _, code, mean in rows} == {(c, "3.00") for c in CODES}


def test_nobody_acts_for_a_trust_they_do_not_hold(world: World, app: Any) -> None:
    """A viewer cannot share, withdraw or leave for their trust; a member cannot share or
    withdraw another trust's cycle, nor leave for it; a POST without the CSRF token is
    refused."""
    session = world.session
    damson, damson_cycle = world.trusts[3], world.cycles[3]
    viewer = _admin(session, "pa@damson.example", damson, AdminRole.VIEWER)
    page = f"/sets/{world.lset.id}"

    as_viewer = _signed_in(app.test_client(), viewer.email)
    as_viewer.post(f"{page}/share", {"cycle": damson_cycle.id, "appear": "name"}, page=page)
    as_viewer.post(f"{page}/trusts/{damson.slug}/leave", page=page)
    html = as_viewer.get(page).get_data(as_text=True)
    assert "Share a reported cycle" not in html and "Leave the set" not in html
    session.expire_all()
    assert world.lset.membership_of(damson).state == MembershipState.ACCEPTED  # type: ignore[union-attr]
    assert service.sharing_trust_count(session, world.lset) == 3

    alder = _signed_in(app.test_client(), world.admins[0].email)
    shared = alder.post(f"{page}/share", {"cycle": damson_cycle.id, "appear": "name"}, page=page)
    assert shared.status_code == 404
    assert alder.post(f"{page}/withdraw/{world.cycles[1].id}", page=page).status_code == 404
    assert alder.post(f"{page}/trusts/{world.trusts[1].slug}/leave", page=page).status_code == 404
    session.expire_all()
    assert {s.cycle_id for s in service.shares_of(session, world.lset)} == {
        c.id for c in world.cycles[:3]
    }

    raw = app.test_client()
    Browser(raw).sign_in(world.admins[0].email)
    refused = raw.post(f"{page}/withdraw/{world.cycles[0].id}", data={})
    assert refused.status_code == 400
    session.expire_all()
    assert service.sharing_trust_count(session, world.lset) == 3


def test_a_refused_invitation_does_not_list_another_accounts_trusts(
    world: World, app: Any, make_trust: Callable[..., Trust]
) -> None:
    """Anyone with an account may create a set; inviting an email that runs several trusts
    must not tell them which (nothing is sent, nothing is recorded: it would be a free probe)."""
    session = world.session
    second = make_trust("Elm Secret Trust")
    session.execute(
        trust_admins.insert().values(
            trust_id=second.id, admin_id=world.admins[0].id, role=AdminRole.ADMIN
        )
    )
    session.commit()
    nosy = _admin(session, "nosy@damson.example", world.trusts[3], AdminRole.VIEWER)
    browser = _signed_in(app.test_client(), nosy.email)
    browser.post("/sets/", {"name": "Probe", "kind": "learning"}, page="/sets/")
    probe = session.scalar(select(LearningSet).where(LearningSet.name == "Probe"))
    assert probe is not None
    page = f"/sets/{probe.id}"
    answer = browser.post(f"{page}/invite", {"email": world.admins[0].email}, page=page)
    html = browser.get(answer.headers["Location"]).get_data(as_text=True)
    assert "several trusts" in html
    assert second.slug not in html and ", alder-trust" not in html
    assert "Elm Secret" not in html


def test_the_benchmark_takes_only_a_framework_that_exists(world: World, app: Any) -> None:
    """Opting in names a framework: an unknown or overlong one is refused, not stored (and
    not a server error on PostgreSQL, whose column holds 80 characters)."""
    session = world.session
    trust = world.trusts[0]
    browser = _signed_in(app.test_client(), world.admins[0].email)
    page = f"/sets/benchmark/{trust.slug}"
    for key in ("no-such-framework", "x" * 200):
        answer = browser.post(page, {"framework": key, "choice": "in"}, page=page)
        assert answer.status_code in (303, 404), answer.status_code
        assert browser.get(f"{page}?framework={key}").status_code in (303, 404)
    session.expire_all()
    assert session.scalars(select(BenchmarkOptIn)).all() == []
    done = browser.post(page, {"framework": "mat-assurance", "choice": "in"}, page=page)
    assert done.status_code == 303
    assert service.is_opted_in(session, trust, "mat-assurance")
