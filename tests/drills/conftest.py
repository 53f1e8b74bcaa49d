"""Fixtures for the fault drills (helpers in helpers.py).

The drills that start processes run on PostgreSQL (the production shape); they share the test
run's database with the `app` fixture, which empties it after each test.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from survey.db import make_engine, read_only

from .helpers import Inbox, Process


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session of the test's own, outside any app context (as in tests/respond): the test
    client then gives each request its own app context, as in production. Commit after use."""
    engine = make_engine(app.config["DATABASE_URL"])
    with Session(engine, expire_on_commit=False) as own:
        yield own
    engine.dispose()


@pytest.fixture
def query(app: Flask) -> Iterator[Callable[..., list[Any]]]:
    """query(sql, **params) -> rows, each call on a connection of its own holding no locks."""
    # The app's own engine factory: on SQLite, the same (bundled) library as the app.
    engine = make_engine(app.config["DATABASE_URL"])

    def run(sql: str, **params: Any) -> list[Any]:
        with read_only(), engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    yield run
    engine.dispose()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """An SMTP server that is not yet listening: the test calls `inbox.start()`."""
    box = Inbox()
    yield box
    box.stop()


@pytest.fixture
def server_env(app: Flask, inbox: Inbox, tmp_path: Path) -> dict[str, str]:
    """The environment for gunicorn and `mat-review jobs run`: the app's own database, secret
    and base URL, mail to the inbox with no rate limit, jobs every second."""
    return {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": app.config["DATABASE_URL"],
        "MAT_REVIEW_SECRET_KEY": app.config["SECRET_KEY"],
        "MAT_REVIEW_BASE_URL": app.config["BASE_URL"],
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "server-instance"),
        "MAT_REVIEW_MAIL_URL": inbox.url,
        "MAT_REVIEW_MAIL_FROM": "reviews@oak.example",
        "MAT_REVIEW_MAIL_RATE_PER_MINUTE": "0",
        "MAT_REVIEW_MAIL_TIMEOUT": "5",
        "MAT_REVIEW_JOBS_INTERVAL_SECONDS": "1",
    }


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """spawn(name, *argv, env=...) -> a running Process; all are stopped after the test."""
    started: list[Process] = []
    handles: list[Any] = []

    def start(name: str, *argv: str, env: dict[str, str]) -> Process:
        log_path = tmp_path / f"{name}-{len(started)}.log"
        handle = log_path.open("wb")
        handles.append(handle)
        process = subprocess.Popen(list(argv), env=env, stdout=handle, stderr=subprocess.STDOUT)
        started.append(Process(process, log_path))
        return started[-1]

    yield start
    for process in reversed(started):
        process.stop()
    for handle in handles:
        handle.close()
