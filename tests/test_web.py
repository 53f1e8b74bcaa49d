"""App-wide web behaviour: security headers and input hygiene."""

from __future__ import annotations


def test_nul_characters_never_reach_the_database(client) -> None:
    # A NUL in any form field is dropped before a view sees it (PostgreSQL text cannot hold one).
    response = client.post(
        "/admin/login", data={"email": "a\x00b@example.org", "password": "x\x00y"}
    )
    assert response.status_code in (200, 400, 401, 422)


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
