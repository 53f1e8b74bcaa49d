"""The lock that makes one `jobs run` the only scheduler (SPEC section 11).

- PostgreSQL: `pg_try_advisory_lock` on a dedicated connection. The server releases it the
  moment that connection ends, so a killed scheduler's lock is freed at once.
- SQLite: an exclusive `flock` on `<database file>.scheduler.lock`. SQLite means one host, so
  the kernel's lock does the job, and the kernel frees it the moment the holder dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, make_url, text
from sqlalchemy.pool import NullPool

from survey.db import make_engine, normalise_url

log = logging.getLogger(__name__)

# An arbitrary 63-bit number that names mat-review's scheduler among advisory locks.
ADVISORY_LOCK_KEY = 0x6D61_7472_6576_6A6F


class SchedulerLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process now holds it."""

    def keep(self) -> bool:
        """Check the lock; False if it has been lost."""

    def release(self) -> None: ...

    def close(self) -> None: ...


class PostgresAdvisoryLock:
    def __init__(self, url: str):
        # Named, so that pg_stat_activity (joined to pg_locks) shows which process holds it.
        name = f"mat-review scheduler {os.getpid()}"
        self._engine: Engine = make_engine(
            url, poolclass=NullPool, connect_args={"application_name": name}
        )
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            )
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def keep(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.scalar(text("SELECT 1"))
        except Exception:
            log.exception("lost the connection that holds the scheduler lock")
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
        except Exception:
            log.warning("could not unlock the scheduler lock; closing its connection instead")
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the lock connection failed", exc_info=True)

    def close(self) -> None:
        self.release()
        self._engine.dispose()


class FileLock:
    """SQLite: an exclusive `flock` on a file next to the database.

    SQLite means one host, so the kernel's lock is enough: it is held for as long as this
    process keeps the file open, and the kernel frees it the moment the process ends, however
    it ends (SIGKILL included). There is no lease to renew and nothing to clean up.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # For a person looking: which process holds it (the lock itself is the kernel's).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def keep(self) -> bool:
        """Held until released; False only if the file was removed or replaced (another
        process could then lock the new file)."""
        if self._fd is None:
            return False
        try:
            same = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            log.error("the scheduler lock file %s was removed or replaced", self.path)
            self.release()
        return same

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock

    def close(self) -> None:
        self.release()


def lock_path(database_url: str) -> Path:
    """The SQLite database's scheduler lock file: `<database file>.scheduler.lock`, beside it
    (named after it, so that two databases in one folder never share a lock)."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise ValueError("the scheduler lock needs an SQLite database file, not :memory:")
    path = Path(database).absolute()
    return path.with_name(f"{path.name}.scheduler.lock")


def make_lock(database_url: str) -> PostgresAdvisoryLock | FileLock:
    url = normalise_url(database_url)
    if url.startswith("postgresql"):
        return PostgresAdvisoryLock(url)
    if url.startswith("sqlite"):
        return FileLock(lock_path(url))
    raise ValueError(f"no scheduler lock for database {url.split(':', 1)[0]!r}")
