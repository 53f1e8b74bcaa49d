"""Helpers for the admin page tests: a test client that fills in CSRF tokens like a person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import g, has_app_context
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@dataclass
class Browser:
    """A test client that fills in the CSRF token from the page it last read, like a person."""

    client: FlaskClient

    @staticmethod
    def _new_request() -> None:
        # The `session` fixture keeps an app context open, which Flask then reuses for every
        # test request; forget Flask-WTF's per-context token so that each request reads the
        # token from its own cookie session, as it does when served.
        if has_app_context():
            g.pop("csrf_token", None)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        self._new_request()
        return self.client.get(url, **kwargs)

    def post(
        self,
        url: str,
        data: dict[str, Any] | None = None,
        *,
        page: str | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        """POST `data` to `url` with the CSRF token read from `page` (default: `url` itself, or
        any admin page for an action that has no page of its own: tokens are per session)."""
        html = ""
        for candidate in (page or url, "/admin/", "/admin/login"):
            html = self.get(candidate).get_data(as_text=True)
            if CSRF_INPUT.search(html):
                break
        form = {"csrf_token": csrf_token(html), **(data or {})}
        self._new_request()
        return self.client.post(url, data=form, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/admin/login", {"email": email, "password": password})
