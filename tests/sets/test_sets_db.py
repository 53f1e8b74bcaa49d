"""A set of four trusts on both databases: one shares by name, two as letters, one not at all.
The set's report shows exactly the shared figures, nowhere a hidden group's or the unshared
trust's (HTML, PDF text, XLSX); withdrawing removes a share; two sharers give no report."""

from __future__ import annotations

import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import framework as fw
from survey.errors import UserError
from survey.models import (
    AdminRole,
    AuditEvent,
    CycleState,
    MembershipState,
    MessageKind,
    OutboxMessage,
    Report,
    ReportFigure,
)
from survey.reports import set_figures
from survey.reports import sets as outputs
from survey.services import sets as service
from tests.reports.factories import set_state

from .conftest import World, _admin
from .helpers import reported_cycle, same, summary_all_means, xlsx_text

# Trust D's figures: 8 red and 1 amber-red per element give a mean of 1.11, which no figure of
# the sharing trusts (all 2.60 or more, groups close together) can equal.
UNSHARED_MEAN = "1.11"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
HIDDEN_WORDS = ("Executive", "EXEC")


def _pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "set.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_the_stored_figures_are_exactly_what_summary_csv_publishes(world: World) -> None:
    session = world.session
    rows = session.scalars(select(ReportFigure)).all()
    assert {r.group_key for r in rows} == {"headteacher", "middle-leader", "all"}
    for cycle in world.cycles:
        report = session.scalar(select(Report).where(Report.cycle_id == cycle.id))
        assert report is not None
        stored = {
            r.element_code: r.mean
            for r in rows
            if r.report_id == report.id and r.group_key == "all"
        }
        assert stored == summary_all_means(cycle)


def test_the_set_report_shows_exactly_the_shared_figures(
    world: World, tmp_path: Path, backend: str
) -> None:
    session = world.session
    report = set_figures.build_set_report(session, world.lset)
    assert report.is_shown
    letters = {m.trust_id: m.letter_name for m in world.lset.memberships}
    displays = [t.display for t in report.trusts]
    assert sorted(displays) == sorted(
        ["Alder Trust", letters[world.trusts[1].id], letters[world.trusts[2].id]]
    )
    # Each trust's column is its own published 'all' figure, and nothing else.
    by_display = {
        "Alder Trust": world.cycles[0],
        letters[world.trusts[1].id]: world.cycles[1],
        letters[world.trusts[2].id]: world.cycles[2],
    }
    for row in report.elements:
        for trust, cell in zip(report.trusts, row.cells, strict=True):
            assert cell.mean == summary_all_means(by_display[trust.display])[row.element.code]
    # By group across the set: the groups all three show (never the hidden executives), each
    # cell the average of the three trusts' published group means.
    assert [k.key for k in report.group_kinds] == ["headteacher", "middle-leader"]
    published = {
        (r.report_id, r.element_code, r.group_key): Decimal(r.mean)
        for r in session.scalars(select(ReportFigure))
    }
    reports = [
        session.scalar(select(Report.id).where(Report.cycle_id == c.id)) for c in world.cycles[:3]
    ]
    for kind in report.group_kinds:
        for code, cell in kind.cells.items():
            expected = sum(published[(rid, code, kind.key)] for rid in reports) / 3
            assert cell.mean == str(expected.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    html = str(outputs.render_set_html(report))
    pdf_bytes = outputs.set_report_pdf(report)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"set-report-{backend}.pdf").write_bytes(pdf_bytes)
    pdf = _pdf_text(pdf_bytes, tmp_path)
    xlsx = xlsx_text(outputs.set_report_xlsx(report))
    for text in (html, pdf, xlsx):
        assert "Alder Trust" in text
        for name in ("Birch", "Cedar", "Damson", "secret cycle title"):
            assert name not in text.replace("Alder Trust secret", ""), name
        assert UNSHARED_MEAN not in text
        for word in HIDDEN_WORDS:
            assert word not in text
        assert letters[world.trusts[1].id] in text and letters[world.trusts[2].id] in text
    # The named trust's cycle title is shown; the letters' are not.
    assert "Alder Trust secret cycle title" in html


def test_withdrawing_removes_the_share_and_two_sharers_show_no_report(
    world: World, tmp_path: Path
) -> None:
    session = world.session
    service.withdraw_share(session, world.lset, world.cycles[2], world.admins[2])
    session.commit()
    report = set_figures.build_set_report(session, world.lset)
    assert not report.is_shown
    assert report.elements == [] and "at least 3 trusts" in report.reason
    html = str(outputs.render_set_html(report))
    assert "Not shown yet" in html
    for mean in summary_all_means(world.cycles[0]).values():
        assert mean not in html
    actions = session.scalars(select(AuditEvent.action)).all()
    for action in ("set.create", "set.invite", "set.accept", "set.share", "set.withdraw"):
        assert action in actions


def test_leaving_withdraws_and_a_viewer_cannot_share(world: World) -> None:
    session = world.session
    viewer = _admin(session, "viewer@alder.example", world.trusts[0], AdminRole.VIEWER)
    with pytest.raises(UserError, match="not a viewer"):
        service.share_cycle(session, world.lset, world.cycles[0], viewer, as_name=False)
    session.rollback()
    with pytest.raises(UserError, match="only a coordinator"):
        service.invite_trust(session, world.lset, "x@y.example", world.admins[0])
    session.rollback()
    assert service.leave_set(session, world.lset, world.trusts[1], world.admins[1]) == 1
    session.commit()
    assert world.lset.membership_of(world.trusts[1]).state == MembershipState.LEFT  # type: ignore[union-attr]
    assert not set_figures.build_set_report(session, world.lset).is_shown


def test_an_invitation_is_emailed_to_the_trust_admin(world: World) -> None:
    rows = world.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.SET_INVITE)
    ).all()
    assert sorted(r.recipient for r in rows) == sorted(a.email for a in world.admins)
    assert all(f"/sets/{world.lset.id}" in r.body_text for r in rows)
    assert all("North learning set" in r.subject for r in rows)


def test_letters_are_distinct_and_not_in_name_or_join_order(world: World) -> None:
    letters = [m.letter for m in world.lset.memberships]
    assert len(set(letters)) == 4
    # Drawn at random: over many sets, the first trust invited is not always Trust A.
    firsts = set()
    for n in range(12):
        lset = service.create_set(world.session, world.coordinator, f"Set {n}")
        firsts.add(
            service.invite_trust(
                world.session, lset, world.admins[0].email, world.coordinator
            ).letter
        )
    assert len(firsts) > 1


def test_the_command_line_mirrors_the_pages(world: World, runner: Any, tmp_path: Path) -> None:
    lid = str(world.lset.id)
    out = tmp_path / "out"
    result = runner.invoke(args=["set", "report", lid, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "set-report.html",
        "set-report.pdf",
        "set-report.xlsx",
    }
    cycle = str(world.cycles[2].id)
    by = world.admins[2].email
    result = runner.invoke(args=["set", "withdraw", lid, cycle, "--by", by])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["set", "report", lid, "--out", str(tmp_path / "again")])
    assert result.exit_code == 1 and "at least 3 trusts" in result.output
    result = runner.invoke(args=["set", "share", lid, cycle, "--by", by, "--as-name"])
    assert result.exit_code == 0 and "Cedar Hidden Trust" in result.output
    result = runner.invoke(args=["set", "share", lid, cycle, "--by", "lead@region.example"])
    assert result.exit_code == 1 and "only an admin of" in result.output
    unknown = runner.invoke(args=["set", "create", "X", "--framework", "nope", "--by", by])
    assert unknown.exit_code == 1 and "no framework 'nope'" in unknown.output
    created = runner.invoke(args=["set", "create", "Pair", "--kind", "peer-review", "--by", by])
    assert created.exit_code == 0, created.output
    pair = created.output.split()[-1]
    for admin, trust in zip(world.admins[:2], world.trusts[:2], strict=True):
        assert runner.invoke(args=["set", "invite", pair, admin.email, "--by", by]).exit_code == 0
        assert (
            runner.invoke(
                args=["set", "accept", pair, "--trust", trust.slug, "--by", admin.email]
            ).exit_code
            == 0
        )
    for admin, cycle_row in zip(world.admins[:2], world.cycles[:2], strict=True):
        assert (
            runner.invoke(
                args=["set", "share", pair, str(cycle_row.id), "--by", admin.email]
            ).exit_code
            == 0
        )
    result = runner.invoke(args=["set", "peer-review", pair, "--out", str(tmp_path / "pack")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pack" / "peer-review.pdf").read_bytes().startswith(b"%PDF")


def test_the_benchmark_needs_ten_opted_in_trusts_and_places_each_by_quarter(
    session: Session, make_trust: Any, make_cycle: Any
) -> None:
    trusts = []
    for i in range(12):
        trust = make_trust(f"Bench trust {i}")
        cycle = make_cycle(trust, title="Review", scope="1A")
        set_state(cycle, CycleState.REPORTED)
        report = Report(cycle_id=cycle.id)
        session.add(report)
        session.flush()
        # Trust i's trust-wide mean for 1A is 1 + i/4 (1.00 ... 3.75); trust 11 never opts in.
        total = 4 + i
        session.add(
            ReportFigure(report_id=report.id, element_code="1A", group_key="all",
                         group_label="All shown groups", responses=4, rated=4,
                         score_total=total, dont_know=0, counts="", mean=f"{total / 4:.2f}")
        )  # fmt: skip
        trusts.append(trust)
    session.commit()
    admins = [_admin(session, f"ceo{i}@bench.example", t) for i, t in enumerate(trusts)]
    for trust, admin in list(zip(trusts, admins, strict=True))[:9]:
        service.set_benchmark_opt_in(session, trust, "mat-assurance", admin, opt_in=True)
    table = set_figures.build_benchmark(session, "mat-assurance")
    assert table.trust_count == 9 and not table.is_shown
    service.set_benchmark_opt_in(session, trusts[9], "mat-assurance", admins[9], opt_in=True)
    session.commit()
    table = set_figures.build_benchmark(session, "mat-assurance")
    assert table.trust_count == 10 and table.is_shown
    framework = fw.load_builtin("mat-assurance")
    quarters = {
        i: set_figures.positions(table, framework, trusts[i].id)[0].quarter for i in range(10)
    }
    assert quarters[0] == 1 and quarters[9] == 4
    assert [quarters[i] for i in range(10)] == sorted(quarters[i] for i in range(10))
    # The trust that never opted in is in no quartile, and sees no position.
    assert trusts[11].id not in table.means and table.quartiles["1A"].trusts == 10
    assert "benchmark.opt-in" in session.scalars(select(AuditEvent.action)).all()


def test_movement_for_a_trust_that_shared_two_cycles(world: World, make_cycle: Any) -> None:
    session = world.session
    earlier = reported_cycle(
        session,
        make_cycle,
        world.trusts[0],
        "Alder last year",
        {"headteacher": same({"red": 3, "green": 1}), "middle-leader": same({"amber-red": 4})},
        year=2025,
    )
    service.share_cycle(session, world.lset, earlier, world.admins[0], as_name=True)
    session.commit()
    report = set_figures.build_set_report(session, world.lset)
    assert report.moved_trusts == ["Alder Trust"]
    before = summary_all_means(earlier)
    now = summary_all_means(world.cycles[0])
    assert [(m.element.code, m.previous, m.current) for m in report.movement] == [
        (code, before[code], now[code]) for code in ("1A", "2A", "3A")
    ]
    # The heat map still shows the latest shared cycle.
    assert (
        report.elements[0].cells[[t.display for t in report.trusts].index("Alder Trust")].mean
        == now["1A"]
    )
    html = str(outputs.render_set_html(report))
    assert "Alder last year" not in html  # only the latest cycle is named
    assert f"{before['1A']}" in html and "up " in html
