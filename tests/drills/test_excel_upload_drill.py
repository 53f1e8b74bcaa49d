"""Drill: the CEO uploads the people through the web pages served by gunicorn, as a CSV saved by
Excel on Windows: Windows-1252, CRLF line ends, Excel's `sep=,` first line, accented names and
"£". The preview shows the names as written, and what the confirmation stores is exactly that:
every stored name and school equals the file's."""

from __future__ import annotations

import html
import http.client
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from survey.models import AdminUser, Cycle, Trust
from survey.services.accounts import hash_password

from .helpers import CSRF_FIELD, Answer, Browser, Process, start_gunicorn

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"
PEOPLE = [
    ("zoe.bronte@oak.example", "Zoë Brontë", "headteacher", "École Saint-Éloi £ Fund"),
    ("jose@oak.example", "José Núñez", "middle-leader", "Øakfield Primary"),
    ("sian@oak.example", "Siân O\u2019Brien", "executive", ""),
    ("francois@oak.example", "François Lefèvre \u2013 Head", "headteacher", "Crème Academy"),
]
EXCEL_FILE = (
    "sep=,\r\nemail,name,group,school\r\n" + "".join(",".join(row) + "\r\n" for row in PEOPLE)
).encode("cp1252")


def post_file(browser: Browser, path: str, token: str, name: str, data: bytes) -> Answer:
    """A multipart/form-data POST of one file, as a browser sends it."""
    boundary = secrets.token_hex(16)
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection(browser.host, browser.port, timeout=60)
    try:
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
        }
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, "", response.read().decode("utf-8"))
    finally:
        connection.close()


def csrf(answer: Answer) -> str:
    found = CSRF_FIELD.search(answer.body)
    assert found, answer.body[:300]
    return found.group(1)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_excel_windows_csv_is_stored_with_the_names_as_written(
    app: Flask,
    session: Session,
    make_trust: Callable[..., Trust],
    make_cycle: Callable[..., Cycle],
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    query: Callable[..., list[Any]],
) -> None:
    trust = make_trust()
    cycle = make_cycle(trust)
    session.add(
        AdminUser(email="ceo@oak.example", password_hash=hash_password(PASSWORD), trusts=[trust])
    )
    session.commit()
    _, base = start_gunicorn(spawn, server_env, workers=1)
    browser = Browser(base)
    login = browser.get("/admin/login")
    signed_in = browser.post(
        "/admin/login",
        [("csrf_token", csrf(login)), ("email", "ceo@oak.example"), ("password", PASSWORD)],
    )
    assert signed_in.status == 303, signed_in.body[:300]

    path = f"/admin/cycles/{cycle.id}/recipients"
    preview = post_file(browser, path, csrf(browser.get(path)), "people.csv", EXCEL_FILE)
    page = html.unescape(preview.body)
    assert preview.status == 200, page[:2000]
    assert "Everything checks out" in page
    for _, name, _, school in PEOPLE:
        assert name in page and school in page
    pending = re.search(r'name="pending" value="([^"]+)"', preview.body)
    assert pending is not None
    confirmed = browser.post(
        f"{path}/confirm", [("csrf_token", csrf(preview)), ("pending", pending.group(1))]
    )
    assert confirmed.status == 303, confirmed.body[:300]

    stored = query(
        "SELECT email, name, school FROM invitations WHERE cycle_id = :c ORDER BY email",
        c=cycle.id,
    )
    written = EXCEL_FILE.decode("cp1252")
    assert sorted((r.email, r.name, r.school or "") for r in stored) == sorted(
        (email, name, school) for email, name, _, school in PEOPLE
    )
    assert all(r.name in written for r in stored)
