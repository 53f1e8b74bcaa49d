"""Absolute URLs for links that leave the site (emails, the report email's link to its page):
built from the configured BASE_URL and the app's URL rules, never from a request's Host."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from survey.config import get_settings


def external_url(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, **values, _external=True)` against BASE_URL (scheme, host and any path
    prefix), in or out of a request. Raises werkzeug's BuildError for an unknown endpoint."""
    base = urlsplit(get_settings().base_url)
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
