"""Red team, issue 19: attempts on the learning sets through real requests on both databases."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from openpyxl import load_workbook

from survey.services import sets as service
from tests.admin.helpers import Browser
from tests.sets.conftest import World


def _signed_in(app_client: FlaskClient, email: str) -> Browser:
    browser = Browser(app_client)
    assert browser.sign_in(email).status_code == 303
    return browser


def test_a_learning_set_of_two_sharers_gives_no_peer_review_pack(world: World, app) -> None:  # type: ignore[no-untyped-def]
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


def test_a_learning_set_of_three_gives_no_peer_review_pack_either(world: World, app) -> None:  # type: ignore[no-untyped-def]
    """With three sharers the learning set's report is trust-wide figures and group kinds
    across trusts; the peer review pack would add each letter trust's groups side by side."""
    page = f"/sets/{world.lset.id}"
    member = _signed_in(app.test_client(), world.admins[0].email)
    assert member.get(f"{page}/set-report.pdf").status_code == 200
    assert member.get(f"{page}/peer-review.pdf").status_code == 404


def test_the_command_line_writes_no_peer_review_pack_for_a_learning_set(  # type: ignore[no-untyped-def]
    world: World, runner, tmp_path
) -> None:
    service.withdraw_share(world.session, world.lset, world.cycles[2], world.admins[2])
    world.session.commit()
    out = tmp_path / "pack"
    result = runner.invoke(args=["set", "peer-review", str(world.lset.id), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "no peer review pack" in result.output
    assert not out.exists()
