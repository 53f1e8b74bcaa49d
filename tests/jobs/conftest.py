"""Fixtures for the jobs tests: a real SMTP server on loopback, and the app sending to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mail.smtp_sink import SmtpSink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app_config(app_config: dict[str, Any], smtp: SmtpSink) -> dict[str, Any]:
    return {**app_config, "MAIL_URL": smtp.url, "MAIL_TIMEOUT": 5}
