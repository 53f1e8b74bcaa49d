"""Report recipients' read-only links (SPEC sections 7 and 9), on SQLite and PostgreSQL: a link
opens its own cycle's web report and files with nobody signed in, and stops working once revoked
or expired; it never reaches another cycle; renewing, revoking and every use are audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import AdminUser, AuditEvent, Invitation, Rating, Report, ReportLink
from survey.reports.store import store_report
from survey.respond.redaction import redact
from survey.services.accounts import hash_password
from survey.services.links import mint_link
from survey.services.report_links import issue_report_link, resolve_report_token
from survey.timeutil import utcnow
from tests.admin.helpers import PASSWORD, Browser

from .conftest import Golden

NOT_VALID = "This link is not valid"


def _token(address: str) -> str:
    return address.rsplit("/r/", 1)[1]


def _path(address: str) -> str:
    return "/r/" + _token(address)


def _reported(session: Session, golden: Golden) -> tuple[Report, Report]:
    """Both golden cycles compiled and stored (this year's and last year's)."""
    this_year = store_report(session, golden.cycle)
    last_year = store_report(session, golden.previous)
    session.commit()
    return this_year, last_year


def _ceo(session: Session, golden: Golden, client: FlaskClient) -> Browser:
    admin = AdminUser(
        email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[golden.cycle.trust]
    )
    session.add(admin)
    session.commit()
    browser = Browser(client)
    assert browser.sign_in(admin.email).status_code == 303
    return browser


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_a_link_opens_its_own_cycles_report_and_files_signed_out_and_no_other(
    session: Session, golden: Golden, client: FlaskClient
) -> None:
    this_year, last_year = _reported(session, golden)
    link_a, address_a = issue_report_link(session, golden.cycle, "chair@oak.example", "test")
    _, address_b = issue_report_link(session, golden.previous, "chair@oak.example", "test")
    session.commit()
    assert address_a.startswith("http://survey.test/r/")
    # Only the nonce's hash is stored: the token appears nowhere in the database row.
    assert _token(address_a) not in repr(
        session.execute(select(ReportLink.__table__)).all()  # type: ignore[arg-type]
    )

    page = client.get(_path(address_a))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Report: Spring 2026 review</h1>" in html
    assert "chair@oak.example" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert f'href="{_path(address_a)}/report.pdf"' in html

    for name in ("report.pdf", "summary.csv", "results.xlsx", "report.html"):
        got = client.get(f"{_path(address_a)}/{name}")
        assert got.status_code == 200, name
        stored_a, stored_b = this_year.file(name), last_year.file(name)
        assert stored_a is not None and stored_b is not None
        assert got.data == stored_a.content
        assert got.data != stored_b.content
    page_b = client.get(_path(address_b)).get_data(as_text=True)
    assert "<h1>Report: Spring 2025 review</h1>" in page_b
    assert "<h1>Report: Spring 2026 review</h1>" not in page_b
    summary_b = last_year.file("summary.csv")
    assert summary_b is not None
    assert client.get(f"{_path(address_b)}/summary.csv").data == summary_b.content

    # Nothing else is reachable through the link: no other name, no path out of it.
    for bad in ("secret.txt", "..%2Freport.pdf", "%2E%2E"):
        assert client.get(f"{_path(address_a)}/{bad}").status_code == 404
    # A path that climbs out of the link is only an admin page, which needs a sign-in.
    escaped = client.get(f"{_path(address_a)}/../../admin/cycles/{golden.previous.id}/report")
    assert escaped.status_code in (302, 303, 404)
    assert "Spring 2025 review" not in escaped.get_data(as_text=True)

    # Every use is audited, naming the link and its recipient and nothing about respondents.
    uses = _events(session, "report-link.use")
    assert [e.detail for e in uses if e.cycle_id == golden.cycle.id] == [
        "the report page",
        "report.pdf",
        "summary.csv",
        "results.xlsx",
        "report.html",
    ]
    assert all(e.actor == f"link {link_a.id} (chair@oak.example)" for e in uses[:5])
    rationales = [r for r in session.scalars(select(Rating.rationale)) if r]
    for event in session.scalars(select(AuditEvent)):
        assert not any(text in event.detail for text in rationales)


def test_a_tampered_or_foreign_token_is_not_valid(
    session: Session, golden: Golden, client: FlaskClient
) -> None:
    _reported(session, golden)
    _, address = issue_report_link(session, golden.cycle, "chair@oak.example", "test")
    session.commit()
    token = _token(address)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path in (f"/r/{tampered}", f"/r/{tampered}/report.pdf", "/r/x", "/r/" + "a" * 300):
        response = client.get(path)
        assert response.status_code == 404, path
        assert NOT_VALID in response.get_data(as_text=True)
    # A respondent's invitation token is signed with another salt: it opens no report.
    person = session.scalars(
        select(Invitation).where(Invitation.cycle_id == golden.cycle.id)
    ).first()
    assert person is not None
    invitation_token = mint_link(session, person).rsplit("/s/", 1)[1]
    session.commit()
    assert client.get(f"/r/{invitation_token}").status_code == 404


def test_a_revoked_link_stops_working_and_the_ceo_sees_why(
    session: Session, golden: Golden, client: FlaskClient, app: Any
) -> None:
    _reported(session, golden)
    link, address = issue_report_link(session, golden.cycle, "chair@oak.example", "test")
    session.commit()
    reader = app.test_client()
    assert reader.get(_path(address)).status_code == 200

    ceo = _ceo(session, golden, client)
    links_page = ceo.get(f"/admin/cycles/{golden.cycle.id}/report/links")
    assert links_page.status_code == 200
    assert "chair@oak.example" in links_page.get_data(as_text=True)
    revoked = ceo.post(
        f"/admin/cycles/{golden.cycle.id}/report/links/{link.id}/revoke",
        page=f"/admin/cycles/{golden.cycle.id}/report/links",
    )
    assert revoked.status_code == 303

    for path in (_path(address), f"{_path(address)}/report.pdf"):
        response = reader.get(path)
        assert response.status_code == 404
        assert NOT_VALID in response.get_data(as_text=True)
    assert [e.actor for e in _events(session, "report-link.revoke")] == ["ceo@oak.example"]
    refused = _events(session, "report-link.refused")
    assert [e.detail for e in refused] == ["the report page: revoked", "report.pdf: revoked"]
    # A revoked link cannot be renewed back to life.
    ceo.post(
        f"/admin/cycles/{golden.cycle.id}/report/links/{link.id}/renew",
        page=f"/admin/cycles/{golden.cycle.id}/report/links",
    )
    assert reader.get(_path(address)).status_code == 404
    # Another trust's CEO cannot touch the link.
    other_trust_admin = AdminUser(email="ceo@elm.example", password_hash=hash_password(PASSWORD))
    session.add(other_trust_admin)
    session.commit()
    other = Browser(app.test_client())
    other.sign_in(other_trust_admin.email)
    assert other.get(f"/admin/cycles/{golden.cycle.id}/report/links").status_code == 404


def test_a_link_expires_after_90_days_unless_renewed(
    session: Session, golden: Golden, client: FlaskClient, app: Any
) -> None:
    _reported(session, golden)
    issued = utcnow()
    _, address = issue_report_link(session, golden.cycle, "chair@oak.example", "test", now=issued)
    session.commit()
    token = _token(address)
    assert resolve_report_token(session, token, now=issued + timedelta(days=89)).is_ok
    assert resolve_report_token(session, token, now=issued + timedelta(days=90)).reason == "expired"

    # Issued 91 days ago (the clock the code reads is the link's own `expires_at`).
    old, old_address = issue_report_link(
        session, golden.cycle, "trustee@oak.example", "test", now=issued - timedelta(days=91)
    )
    session.commit()
    reader = app.test_client()
    expired = reader.get(_path(old_address))
    assert expired.status_code == 404 and NOT_VALID in expired.get_data(as_text=True)
    assert reader.get(_path(address)).status_code == 200

    ceo = _ceo(session, golden, client)
    assert "Expired" in ceo.get(f"/admin/cycles/{golden.cycle.id}/report/links").get_data(
        as_text=True
    )
    ceo.post(
        f"/admin/cycles/{golden.cycle.id}/report/links/{old.id}/renew",
        page=f"/admin/cycles/{golden.cycle.id}/report/links",
    )
    assert reader.get(_path(old_address)).status_code == 200
    session.expire_all()
    renewed = session.get(ReportLink, old.id)
    assert renewed is not None
    assert renewed.expires_at - utcnow() > timedelta(days=89)
    assert [e.detail.split(",")[0] for e in _events(session, "report-link.renew")] == [
        f"link {old.id} for trustee@oak.example"
    ]


def test_report_link_tokens_are_kept_out_of_logs() -> None:
    assert redact('"GET /r/eyJhYmMi.sig-_x/report.pdf HTTP/1.1"') == (
        '"GET /r/[redacted]/report.pdf HTTP/1.1"'
    )
    assert redact("GET /s/abc.def HTTP/1.1") == "GET /s/[redacted] HTTP/1.1"
