"""Shared fixtures. Every test that asks for `app` (or anything built on it) runs twice: on SQLite
and on PostgreSQL. PostgreSQL must be reachable (see README, "Running the tests"): these tests
fail rather than skip when it is not.

- `database_url`: a migrated, empty database (SQLite: a fresh file per test, copied from one
  migrated template; PostgreSQL: one database per test run, emptied after each test).
- `app`, `client`, `runner`: the Flask app on that database, its test client and CLI runner.
- `session`: the app's database session inside an app context.
- factories: `make_trust`, `make_cycle`, `add_people`.
"""

from __future__ import annotations

import contextvars
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from survey import create_app
from survey.cli import make_cli
from survey.db import db, make_engine
from survey.models import Base, Cycle, Trust
from survey.timeutil import Clock, utcnow
from survey.timeutil import clock as app_clock

PG_ADMIN_URL = os.environ.get(
    "MAT_REVIEW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
TEST_SECRET = "test-secret-key-not-for-production-0123456789"


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    create_schema(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A database of our own for this test run, migrated with Alembic once."""
    name = f"mat_review_test_{os.getpid()}_{_worker().replace('-', '_')}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            _drop_stale_databases(conn)
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            "PostgreSQL is not reachable at "
            f"{PG_ADMIN_URL} ({exc.orig}). Start it with: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start"
        )
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    create_schema(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def create_schema(url: str) -> None:
    """The schema from the models (test_migrations.py proves the migrations build the same)."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database with no tables at all, for migration tests."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"mat_review_fresh_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _drop_stale_databases(conn: sa.Connection) -> None:
    """Drop test databases left by test runs whose process is gone (killed runs)."""
    names = conn.execute(
        sa.text(
            "SELECT datname FROM pg_database WHERE datname LIKE 'mat_review_test_%' "
            "OR datname LIKE 'mat_review_fresh_%'"
        )
    ).scalars()
    for stale in names:
        pid = stale.split("_")[3]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))


def empty_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # Server processes started by a test may still hold connections; end them first.
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "mat-review.sqlite3"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
    else:
        url: str = request.getfixturevalue("pg_database_url")
        yield url
        empty_postgres(url)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The mapping given to create_app; tests may change it before asking for `app`."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        "BASE_URL": "http://survey.test",
        "MAIL_RATE_PER_MINUTE": 0,
        "RATELIMIT_ENABLED": True,
    }


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context (and so its own `g`), as in
    production, even while the test itself holds an app context (the `session` fixture does).
    Without this, Flask reuses the test's app context and requests share `g`: Flask-WTF's cached
    CSRF token would leak from one "browser" to the next."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # The test's own session (if it holds one) saves its work and lets go of the database
        # first, as a person's browser would only act on what is saved; on SQLite an open
        # transaction holds the write lock. Its objects are expired so that the test then
        # reads what the request did.
        own = db.open_session() if has_app_context() else None
        if own is not None:
            own.commit()
            own.expire_all()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(app_config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        from survey.services.frameworks import sync_builtin_frameworks

        sync_builtin_frameworks(db.session)
        db.session.commit()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class CommandLineRunner(FlaskCliRunner):
    """Invokes the whole `mat-review` command line (`survey.cli.make_cli()`, which adds the
    commands the web factory leaves out) with the test's app."""

    def invoke(self, cli: Any = None, args: Any = None, **kwargs: Any) -> Any:
        return super().invoke(cli or make_cli(), args, **kwargs)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return CommandLineRunner(app)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session


# -- time -------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The application's clock (survey.timeutil.clock), to freeze or shift in this test:
    `clock.set(at)` (running on), `clock.freeze(at)`, `clock.shift(timedelta(days=3))`. Whatever it
    did is undone after it (a run-wide MAT_REVIEW_CLOCK_OFFSET stays)."""
    saved = app_clock.state()
    yield app_clock
    app_clock.restore(saved)


@pytest.fixture
def frozen_time(clock: Clock) -> datetime:
    """The application's clock stopped at the present moment (to the second); returns it."""
    return clock.freeze(utcnow().replace(microsecond=0))


# -- factories --------------------------------------------------------------------------------


def now() -> datetime:
    """The application's clock (survey.timeutil), to the second: frozen or shifted with it."""
    return utcnow().replace(microsecond=0)


@pytest.fixture
def make_trust(session: Session) -> Callable[..., Trust]:
    from survey.services.cycles import create_trust

    def make(name: str = "Oak Learning Trust", timezone: str = "Europe/London") -> Trust:
        trust = create_trust(session, name, timezone)
        session.commit()
        return trust

    return make


@pytest.fixture
def make_cycle(session: Session, make_trust: Callable[..., Trust]) -> Callable[..., Cycle]:
    """make_cycle(trust=None, **CycleSettings fields) -> a draft cycle (committed)."""
    from survey.services.cycles import CycleSettings, create_cycle, parse_group_spec

    def make(trust: Trust | None = None, **fields: Any) -> Cycle:
        trust = trust or make_trust()
        groups = fields.pop("groups", None)
        settings = CycleSettings(
            title=fields.pop("title", "Autumn review"),
            opens_at=fields.pop("opens_at", now() - timedelta(days=1)),
            closes_at=fields.pop("closes_at", now() + timedelta(days=14)),
            report_to=fields.pop("report_to", ["ceo@oak.example"]),
            **fields,
        )
        if groups is not None:
            settings.groups = [parse_group_spec(g) if isinstance(g, str) else g for g in groups]
        cycle = create_cycle(session, trust, settings, "test")
        session.commit()
        return cycle

    return make


@pytest.fixture
def add_people(session: Session) -> Callable[..., list[Any]]:
    """add_people(cycle, {"headteacher": 3, ...}) -> invitations with predictable emails."""
    from survey.services.recipients import RecipientRow, add_invitations

    def add(cycle: Cycle, counts: dict[str, int], domain: str = "school.example") -> list[Any]:
        rows = []
        line = 2
        for group, n in counts.items():
            for i in range(n):
                rows.append(
                    RecipientRow(line, f"{group}{i + 1}@{domain}", f"{group} {i + 1}", group, "")
                )
                line += 1
        invitations = add_invitations(session, cycle, rows, "test")
        session.commit()
        return invitations

    return add


# -- reporting ----------------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many database tests ran on each backend, so a run shows both were exercised."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome != "error":
                continue
            nodeid = getattr(report, "nodeid", "")
            for backend_name in BACKENDS:
                if f"[{backend_name}" in nodeid or f"-{backend_name}]" in nodeid:
                    per = counts.setdefault(backend_name, {})
                    per[outcome] = per.get(outcome, 0) + 1
    if counts:
        terminalreporter.section("database backends")
        for backend_name in BACKENDS:
            per = counts.get(backend_name, {})
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(per.items())) or "none"
            terminalreporter.write_line(f"{backend_name}: {summary}")
