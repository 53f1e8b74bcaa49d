"""Who holds the scheduler lock, as the kernel (SQLite's flock) or PostgreSQL (pg_locks) sees it:
read from outside the scheduler, so a test shows the lock itself, not what the scheduler says."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from jobs.lock import ADVISORY_LOCK_KEY, lock_path
from survey.db import make_engine


def flock_holders(path: Path) -> list[int]:
    """The pids /proc/locks shows holding an exclusive flock on `path`."""
    if not path.exists():
        return []
    inode = path.stat().st_ino
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        kind, mode, pid, device_inode = fields[1], fields[3], fields[4], fields[5]
        if kind == "FLOCK" and mode == "WRITE" and int(device_inode.rsplit(":", 1)[1]) == inode:
            holders.append(int(pid))
    return holders


def advisory_lock_holders(url: str) -> list[str]:
    """The application names of the sessions pg_locks shows holding the scheduler's advisory
    lock in this database (jobs/lock.py names them "mat-review scheduler <pid>")."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            names = conn.scalars(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.database = (SELECT oid FROM pg_database"
                    "                   WHERE datname = current_database())"
                    " AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
                ),
                {"high": ADVISORY_LOCK_KEY >> 32, "low": ADVISORY_LOCK_KEY & 0xFFFF_FFFF},
            ).all()
    finally:
        engine.dispose()
    return [str(name) for name in names]


def scheduler_lock_holders(database_url: str) -> list[int]:
    """The pids of the processes holding the scheduler lock of this database, either backend."""
    if database_url.startswith("sqlite"):
        return flock_holders(lock_path(database_url))
    prefix = "mat-review scheduler "
    return [int(name.removeprefix(prefix)) for name in advisory_lock_holders(database_url)]
