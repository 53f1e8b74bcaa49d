"""external_url: absolute links from BASE_URL and the app's routes, never from a request's Host;
the log filter's link path is the landing route's."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from werkzeug.routing import BuildError

from survey import create_app
from survey.config import update_settings
from survey.respond.redaction import LINK_PREFIX, LINK_RULE, redact
from survey.urls import external_url


@pytest.fixture
def bare_app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
            "SECRET_KEY": "a test key that is long enough to sign with",
            "BASE_URL": "https://review.example.org/oak/",
        }
    )


def test_links_are_built_from_base_url_with_its_path_prefix(bare_app: Flask) -> None:
    with bare_app.app_context():
        assert external_url("respond.landing", token="Ab.c-_9") == (
            "https://review.example.org/oak/s/Ab.c-_9"
        )
        assert external_url("admin.report", cycle_id=7) == (
            "https://review.example.org/oak/admin/cycles/7/report"
        )
        with pytest.raises(BuildError):
            external_url("admin.no_such_page")


def test_a_request_from_another_host_does_not_change_links(bare_app: Flask) -> None:
    with bare_app.test_request_context("/admin/login", base_url="http://attacker.example:8080"):
        assert external_url("respond.landing", token="t") == "https://review.example.org/oak/s/t"


def test_a_plain_base_url_with_a_port(bare_app: Flask) -> None:
    update_settings(bare_app, BASE_URL="http://127.0.0.1:5000")
    with bare_app.app_context():
        assert external_url("respond.landing", token="t") == "http://127.0.0.1:5000/s/t"


def test_the_log_filter_hides_the_token_of_the_landing_route(bare_app: Flask) -> None:
    (rule,) = bare_app.url_map.iter_rules("respond.landing")
    assert rule.rule == LINK_RULE and LINK_RULE.startswith(LINK_PREFIX)
    with bare_app.app_context():
        link = external_url("respond.landing", token="SeCrEt.token-1")
    line = f'"GET {link} HTTP/1.1" 200'
    assert "SeCrEt" not in redact(line) and f"{LINK_PREFIX}[redacted]" in redact(line)
