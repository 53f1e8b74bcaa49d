"""Plain helpers for the respondent's-path tests."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def answers_for(codes: list[str], rating: str = "green", **extra: str) -> dict[str, str]:
    data = {f"rating-{code}": rating for code in codes}
    data.update({f"rationale-{code}": f"Evidence for {code}" for code in codes})
    data.update(extra)
    return data


def open_form(client: FlaskClient, link: str) -> str:
    """Follow a link to the form's landing page (which holds its first page); returns the
    form's CSRF token."""
    landing = client.get(link)
    assert landing.status_code == 303, landing.status_code
    form = client.get("/survey")
    assert form.status_code == 200
    return csrf_token(form.get_data(as_text=True))


def whole_form(client: FlaskClient) -> str:
    """The landing page (with the form's first page) and every later page of the form, one
    after the other (raw HTML)."""
    parts = [client.get("/survey").get_data(as_text=True)]
    number = 2
    while (page := client.get(f"/survey/page/{number}")).status_code == 200:
        parts.append(page.get_data(as_text=True))
        number += 1
    assert page.status_code == 404, page.status_code
    return "\n".join(parts)
