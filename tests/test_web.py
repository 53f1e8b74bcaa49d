"""App-wide web behaviour: security headers and input hygiene."""

from __future__ import annotations

import re


def test_nul_characters_never_reach_the_database(client) -> None:
    # A NUL in any form field is dropped before a view sees it (PostgreSQL text cannot hold one).
    form = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    assert token is not None
    response = client.post(
        "/admin/login",
        data={"email": "a\x00b@example.org", "password": "x\x00y", "csrf_token": token.group(1)},
    )
    # The ordinary "not right" answer (on PostgreSQL a NUL reaching the audit log would be a 500),
    # with the address shown back as it arrived, NUL removed.
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert 'value="ab@example.org"' in page and "\x00" not in page


def test_security_headers_on_every_page(client) -> None:
    response = client.get("/admin/login")
    csp = response.headers["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers
    secure = client.get("/admin/login", base_url="https://review.example.org")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_request_values_are_stripped_of_nul(app) -> None:
    with app.test_request_context("/?q=a%00b", method="POST", data={"f": "c\x00d", "g\x00": "1"}):
        from flask import request

        assert request.args["q"] == "ab"
        assert request.form["f"] == "cd"
        assert request.form["g"] == "1"
