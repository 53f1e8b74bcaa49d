"""The embedded SQLite (survey/db.py): a SQLite without the WAL-reset bug before WAL is used,
reads that take no write lock, writers that queue instead of failing, and a report job that
holds no lock while it renders."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from jobs.schedule import JOBS, run_job
from survey.db import SQLITE_WAL_SAFE_FROM, db, make_engine, read_only, sqlite_journal_mode
from survey.models import AuditEvent, Cycle, CycleState, Report
from survey.reports import store
from survey.services.links import mint_link
from survey.timeutil import utcnow
from tests.reports.factories import insert_responses, set_state

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


@sqlite_only
def test_wal_is_used_only_on_a_sqlite_without_the_wal_reset_bug(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        module = engine.dialect.loaded_dbapi
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            secure_delete = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    # The bundled SQLite (pysqlite3's wheel on this platform) has the fix, so WAL it is.
    assert module.sqlite_version_info >= SQLITE_WAL_SAFE_FROM
    assert mode == "wal"
    assert secure_delete == 1
    # Python's own SQLite here (3.40) has the bug: a rollback journal instead.
    assert sqlite3.sqlite_version_info < SQLITE_WAL_SAFE_FROM
    assert sqlite_journal_mode(sqlite3) == "delete"


@sqlite_only
def test_page_views_read_while_another_process_holds_the_write_lock(
    app: Flask,
    client: Any,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
    session: Session,
) -> None:
    cycle = make_cycle(scope="1A")
    invitations = add_people(cycle, {"headteacher": 1})
    cycle.launch(invitation_count=1, now=utcnow())
    cycle.open(utcnow())
    link = mint_link(session, invitations[0]).removeprefix(app.config["BASE_URL"])
    session.commit()
    other = make_engine(app.config["DATABASE_URL"])  # as the scheduler process would
    with other.connect() as writer:
        writer.execute(sa.text("UPDATE cycles SET title = 'Being changed'"))
        began = time.monotonic()
        landing = client.get(link)
        form = client.get("/survey")
        took = time.monotonic() - began
        writer.rollback()
    other.dispose()
    assert landing.status_code == 303 and form.status_code == 200
    assert "Being changed" not in form.get_data(as_text=True)
    assert took < 5, f"page views waited {took:.1f} s for the write lock"


@sqlite_only
def test_a_write_in_a_read_only_transaction_is_flagged(app: Flask) -> None:
    with app.app_context(), read_only(), pytest.warns(RuntimeWarning, match="read-only"):
        db.session.execute(sa.insert(AuditEvent).values(actor="test", action="probe"))
    with app.app_context():
        db.session.rollback()


@sqlite_only
def test_writers_of_one_process_queue_and_all_commit(app: Flask) -> None:
    """Twenty threads write at once: each waits its turn (no 'database is locked')."""
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def write(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                db.session.execute(sa.insert(AuditEvent).values(actor=f"t{n}", action="probe"))
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert count == 20


def test_the_report_job_renders_holding_no_lock_and_no_transaction(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cycle = make_cycle(scope="1A,2A", report_to=["ceo@oak.example"])
    for key in ("executive", "headteacher", "middle-leader"):
        insert_responses(session, cycle, key, {"1A": ["green"] * 3, "2A": ["red"] * 3})
    set_state(cycle, CycleState.CLOSED)
    session.commit()
    probe = make_engine(app.config["DATABASE_URL"])
    seen: list[str] = []
    render = store.render_report

    def render_and_look(inputs: Any) -> Any:
        """While the job renders: may another process write, and is any transaction open?"""
        with probe.connect() as conn:
            if backend == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
                conn.commit()
                conn.execute(sa.text("UPDATE cycles SET title = title"))  # BEGIN IMMEDIATE
                conn.rollback()
                seen.append("wrote")
            else:
                open_transactions = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                seen.append(f"{open_transactions} open")
        return render(inputs)

    monkeypatch.setattr(store, "render_report", render_and_look)
    job = next(j for j in JOBS if j.id == "compile-closed-cycles")
    summary = run_job(app, job)
    probe.dispose()
    assert summary == f"1 cycle(s) compiled and reported ({cycle.id})"
    assert seen == (["wrote"] if backend == "sqlite" else ["0 open"])
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1
    assert session.get(Cycle, cycle.id).state == CycleState.REPORTED  # type: ignore[union-attr]
