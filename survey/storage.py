"""What the storage engine keeps of deleted rows, removed once sealing or a purge commits (SPEC 5).

Deleting a row does not remove its bytes: SQLite leaves them in free pages and in its `-wal`
file, PostgreSQL in dead tuples and, after a plain VACUUM, in unused space of its pages. So:

- every SQLite connection runs with `secure_delete` (deleted content is overwritten with zeros);
  after sealing and after a purge, the WAL is checkpointed and truncated, the file is vacuumed
  (rewritten without free pages) and the WAL truncated again, retrying while readers hold it;
- on PostgreSQL, after a purge, the tables that held the purged names and emails are rewritten
  with `VACUUM FULL`, so their old versions leave the database's files. (After sealing there is
  nothing to rewrite: ballots and drafts were only ever written sealed.)

A domain operation asks for this with `request_scrub(session, tables)`; it runs after that
session's transaction commits (never inside it, which neither engine allows), on a connection of
its own. A scrub that cannot finish is logged and retried by the next one; it never undoes the
operation that asked for it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "mat_review.scrub_tables"
SQLITE_BUSY_SECONDS = 30.0
PG_LOCK_TIMEOUT = "30s"
PG_RETRY_SECONDS = 60.0


def request_scrub(session: Session, tables: Iterable[str] = ()) -> None:
    """Scrub after this session's transaction commits; `tables` are rewritten on PostgreSQL."""
    pending: set[str] = session.info.setdefault(_PENDING, set())
    pending.update(tables)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the outer transaction is still open
    tables = session.info.pop(_PENDING, None)
    if tables is None:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    scrub(engine, sorted(tables))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def scrub(engine: Engine, tables: Iterable[str] = ()) -> bool:
    """Remove deleted rows' bytes from the database's files; True when it finished."""
    # The scrub works on the driver's own connection, so its errors are the driver's (psycopg's
    # lock timeout, say), not SQLAlchemy's wrappers: a failed scrub must never fail the commit
    # that asked for it.
    try:
        if engine.dialect.name == "sqlite":
            return _scrub_sqlite(engine)
        if engine.dialect.name == "postgresql":
            return _scrub_postgresql(engine, list(tables))
    except (DBAPIError, engine.dialect.loaded_dbapi.Error):
        log.exception("could not remove deleted rows from the database's files; retried next time")
        return False
    return True


def _scrub_sqlite(engine: Engine) -> bool:
    """Checkpoint (TRUNCATE), VACUUM, checkpoint (TRUNCATE). A checkpoint reports busy while a
    reader still uses the WAL, and VACUUM fails while another connection writes: wait and retry."""
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        deadline = time.monotonic() + SQLITE_BUSY_SECONDS
        steps = ["checkpoint", "vacuum", "checkpoint"]
        while steps:
            try:
                if steps[0] == "vacuum":
                    connection.execute("VACUUM")
                else:
                    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    if busy:
                        raise _Busy
                steps.pop(0)
            except (_Busy, engine.dialect.loaded_dbapi.OperationalError) as exc:
                if time.monotonic() > deadline:
                    log.warning(
                        "SQLite stayed busy; deleted rows will be scrubbed next time: %s", exc
                    )
                    return False
                time.sleep(0.05)
        return True
    finally:
        raw.close()


class _Busy(Exception):
    pass


def _scrub_postgresql(engine: Engine, tables: list[str]) -> bool:
    """`VACUUM (FULL)` each table. It keeps row versions that a transaction still running in
    the database might see (an autovacuum's ANALYZE, a long report query): when its report says
    some could not be removed yet, wait and run it again, up to `PG_RETRY_SECONDS`."""
    if not tables:
        return True
    kept: list[int] = []

    def notice(diagnostic: Any) -> None:
        found = _KEPT.search(str(diagnostic.message_detail or ""))
        if found:
            kept.append(int(found.group(1)))

    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        connection.autocommit = True
        connection.add_notice_handler(notice)
        connection.execute(f"SET lock_timeout = '{PG_LOCK_TIMEOUT}'")
        deadline = time.monotonic() + PG_RETRY_SECONDS
        for table in tables:
            while True:
                kept.clear()
                connection.execute(f'VACUUM (FULL, VERBOSE) "{table}"')
                if not any(kept):
                    break
                if time.monotonic() > deadline:
                    log.warning(
                        "%s: %d old row versions are still visible to a running transaction; "
                        "they will be removed by the next purge or VACUUM FULL",
                        table,
                        sum(kept),
                    )
                    return False
                time.sleep(0.5)
        return True
    finally:
        _return_to_pool(raw, notice)


def _return_to_pool(raw: Any, notice: Any) -> None:
    """Give the connection back as the pool lent it: in a transaction-per-unit-of-work mode, with
    no lock timeout and no notice handler. Left in autocommit, the next request to borrow it
    would commit each statement on its own; if it cannot be reset, it is discarded instead."""
    connection = raw.driver_connection
    try:
        connection.execute("RESET lock_timeout")
        connection.remove_notice_handler(notice)
        connection.autocommit = False
    except Exception:  # a broken connection: never lend it again
        log.debug("could not reset the scrub's connection; discarding it", exc_info=True)
        raw.invalidate()
    raw.close()


_KEPT = re.compile(r"(\d+) dead row versions cannot be removed yet")
