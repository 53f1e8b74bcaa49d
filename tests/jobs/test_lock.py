"""The scheduler lock: an advisory lock on PostgreSQL, a kernel file lock (flock) on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scheduler_locks import flock_holders, scheduler_lock_holders

from jobs.lock import FileLock, PostgresAdvisoryLock, lock_path, make_lock


def test_the_sqlite_lock_file_sits_beside_the_database_and_is_named_after_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'mat-review.sqlite3'}"
    assert lock_path(url) == tmp_path / "data" / "mat-review.sqlite3.scheduler.lock"
    lock = make_lock(url)
    assert isinstance(lock, FileLock) and lock.path == lock_path(url)
    with pytest.raises(ValueError, match="database file"):
        lock_path("sqlite://")


def test_a_file_lock_is_held_by_one_holder_until_released(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3.scheduler.lock"
    first, second = FileLock(path), FileLock(path)
    try:
        assert first.acquire()
        assert flock_holders(path) == [os.getpid()]
        assert path.read_text() == f"{os.getpid()}\n"
        assert not second.acquire()  # a second open of the file: refused, even in this process
        assert first.keep()
        first.release()
        assert flock_holders(path) == []
        assert not first.keep()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.close()
        second.close()


def test_the_kernel_frees_the_lock_of_a_killed_holder(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3.scheduler.lock"
    script = (
        "import time; from pathlib import Path; from jobs.lock import FileLock;"
        f"assert FileLock(Path({str(path)!r})).acquire(); print('held', flush=True);"
        "time.sleep(600)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            assert flock_holders(path) == [holder.pid]
            waiting = FileLock(path)
            assert not waiting.acquire()
            holder.kill()  # SIGKILL: no chance to release anything
            holder.wait(10)
            assert flock_holders(path) == []
            assert waiting.acquire()
            waiting.close()
        finally:
            if holder.poll() is None:
                holder.kill()


def test_a_lock_whose_file_was_removed_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3.scheduler.lock"
    first, second = FileLock(path), FileLock(path)
    try:
        assert first.acquire()
        path.unlink()  # someone tidied the folder: a new file could be locked by another
        assert second.acquire()
        assert not first.keep()
        assert second.keep()
    finally:
        first.close()
        second.close()


def test_a_postgres_advisory_lock_is_held_by_one_connection_at_a_time(
    pg_database_url: str,
) -> None:
    first, second = PostgresAdvisoryLock(pg_database_url), PostgresAdvisoryLock(pg_database_url)
    try:
        assert first.acquire()
        assert scheduler_lock_holders(pg_database_url) == [os.getpid()]
        assert not second.acquire()
        assert first.keep()
        first.release()
        assert scheduler_lock_holders(pg_database_url) == []
        assert not first.keep()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.close()
        second.close()
