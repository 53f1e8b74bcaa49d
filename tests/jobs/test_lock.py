"""The scheduler lock: an advisory lock on PostgreSQL, a lease row on SQLite."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from jobs.lock import LEASE_NAME, PostgresAdvisoryLock, SqliteLease
from survey.db import make_engine
from survey.models import Base, SchedulerLease
from survey.timeutil import utcnow


def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lease.sqlite3'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


def test_a_sqlite_lease_is_held_by_one_process_until_it_expires_or_is_released(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    first, second = SqliteLease(url, 60), SqliteLease(url, 60)
    now = utcnow()
    assert first.acquire(now)
    assert not second.acquire(now)
    assert first.keep(now + timedelta(seconds=30))  # renewed until now + 90 s
    assert not second.acquire(now + timedelta(seconds=89))
    assert second.acquire(now + timedelta(seconds=91))  # the holder stopped renewing
    assert not first.keep(now + timedelta(seconds=92))  # and knows it has lost it
    first.release()  # releasing a lease it no longer holds leaves the new holder's alone
    engine = make_engine(url)
    with engine.connect() as conn:
        holder = conn.scalar(select(SchedulerLease.holder).where(SchedulerLease.name == LEASE_NAME))
    assert holder == second.holder
    second.close()
    with engine.connect() as conn:
        assert conn.scalar(select(SchedulerLease.holder)) is None
    engine.dispose()
    first.close()


def test_a_sqlite_lease_left_by_a_dead_process_on_this_machine_is_taken_at_once(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: its pid no longer names a process
    dead_pid = finished.pid
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            SchedulerLease.__table__.insert().values(
                name=LEASE_NAME,
                holder=f"{socket.gethostname()}:{dead_pid}:abcd",
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
    engine.dispose()
    lease = SqliteLease(url, 60)
    assert lease.acquire()
    lease.close()


def test_a_postgres_advisory_lock_is_held_by_one_connection_at_a_time(
    pg_database_url: str,
) -> None:
    first, second = PostgresAdvisoryLock(pg_database_url), PostgresAdvisoryLock(pg_database_url)
    try:
        assert first.acquire()
        assert not second.acquire()
        assert first.keep()
        first.release()
        assert not first.keep()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.close()
        second.close()
