"""The database-held lock that makes one `jobs run` the only scheduler (SPEC section 11).

- PostgreSQL: `pg_try_advisory_lock` on a dedicated connection. The server releases it the
  moment that connection ends, so a killed scheduler's lock is freed at once.
- SQLite: a lease row in `scheduler_leases` that the holder renews; another process may take it
  once it has expired, or at once if the holder was a process on this machine that is gone.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.pool import NullPool

from survey.db import make_engine, normalise_url
from survey.models import SchedulerLease
from survey.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
# An arbitrary 63-bit number that names mat-review's scheduler among advisory locks.
ADVISORY_LOCK_KEY = 0x6D61_7472_6576_6A6F


class SchedulerLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; True if this process now holds it."""

    def keep(self) -> bool:
        """Renew or check the lock; False if it has been lost."""

    def release(self) -> None: ...

    def close(self) -> None: ...


class PostgresAdvisoryLock:
    def __init__(self, url: str):
        self._engine: Engine = make_engine(url, poolclass=NullPool)
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


def _process_is_gone(holder: str) -> bool:
    """True if `holder` names a process on this machine that no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SqliteLease:
    def __init__(self, url: str, ttl_seconds: float):
        self._engine: Engine = make_engine(url, poolclass=NullPool)
        self.ttl = timedelta(seconds=ttl_seconds)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._held = False

    def acquire(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        with self._engine.begin() as conn:
            row = conn.execute(
                select(SchedulerLease.holder, SchedulerLease.expires_at).where(
                    SchedulerLease.name == LEASE_NAME
                )
            ).first()
            if row is None:
                conn.execute(
                    insert(SchedulerLease).values(
                        name=LEASE_NAME, holder=self.holder, expires_at=now + self.ttl
                    )
                )
            elif (
                row.holder == self.holder
                or as_utc(row.expires_at) <= now
                or _process_is_gone(row.holder)
            ):
                conn.execute(
                    update(SchedulerLease)
                    .where(SchedulerLease.name == LEASE_NAME)
                    .values(holder=self.holder, expires_at=now + self.ttl)
                )
            else:
                return False
        self._held = True
        return True

    def keep(self, now: datetime | None = None) -> bool:
        if not self._held:
            return False
        now = now or utcnow()
        with self._engine.begin() as conn:
            renewed = conn.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == self.holder)
                .values(expires_at=now + self.ttl)
            )
        self._held = renewed.rowcount == 1
        if not self._held:
            log.error("the scheduler lease was taken over by another process")
        return self._held

    def release(self) -> None:
        if not self._held:
            return
        with self._engine.begin() as conn:
            conn.execute(
                delete(SchedulerLease).where(
                    SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == self.holder
                )
            )
        self._held = False

    def close(self) -> None:
        self.release()
        self._engine.dispose()


def make_lock(database_url: str, lease_seconds: float) -> PostgresAdvisoryLock | SqliteLease:
    url = normalise_url(database_url)
    if url.startswith("postgresql"):
        return PostgresAdvisoryLock(url)
    if url.startswith("sqlite"):
        return SqliteLease(url, lease_seconds)
    raise ValueError(f"no scheduler lock for database {url.split(':', 1)[0]!r}")
