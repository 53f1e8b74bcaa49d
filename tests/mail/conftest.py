"""Fixtures for the mail tests: real SMTP servers on loopback, and the app sending to one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mail.smtp_sink import SmtpSink, TricklingServer


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def trickler() -> Iterator[TricklingServer]:
    """A server that trickles some replies a byte at a time (a byte every 0.2 s)."""
    server = TricklingServer(trickle_seconds=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {
        **app_config,
        "MAIL_URL": smtp.url,
        "MAIL_FROM": "Oak reviews <reviews@oak.example>",
        "MAIL_TIMEOUT": 5,
    }
