"""Red team, issue 19: attempts on the learning sets through real requests on both databases."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from openpyxl import load_workbook

import framework as fw
from survey.reports.set_figures import Figure, SharedTrust, TrustFigures, compute_set_report
from survey.reports.sets import set_report_xlsx
from survey.services import sets as service
from tests.admin.helpers import Browser
from tests.sets.conftest import World


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
