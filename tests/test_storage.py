"""survey.storage: deleted rows' bytes leave the database's files even while someone else is
reading (SPEC section 5). The full cycle is in tests/respond/test_anonymity.py; these tests hold
the engine's obstacles in place on purpose and check that the scrub waits them out."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from survey.db import make_engine
from survey.storage import scrub

SECRET = b"Pat Quill <pat.quill@oak.example>"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_rewrite_waits_for_a_reader_that_could_still_see_the_old_rows(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        conn.exec_driver_sql("DROP TABLE IF EXISTS scrub_probe")
        conn.exec_driver_sql("CREATE TABLE scrub_probe (id int primary key, who text)")
        conn.execute(sa.text("INSERT INTO scrub_probe VALUES (1, :w)"), {"w": SECRET.decode()})
    # A transaction whose snapshot predates the purge (reading anything else, so that it holds
    # no lock on the table): the old row version is still visible to it, so VACUUM FULL keeps it.
    reader_engine = sa.create_engine(database_url, isolation_level="REPEATABLE READ")
    reader = reader_engine.connect()
    assert reader.exec_driver_sql("SELECT count(*) FROM pg_class").scalar_one() > 0
    with admin.connect() as conn:
        conn.exec_driver_sql("UPDATE scrub_probe SET who = NULL")
    threading.Timer(1.5, reader.rollback).start()
    try:
        assert scrub(engine, ["scrub_probe"]) is True
        with admin.connect() as conn:
            pages = b"".join(
                bytes(conn.exec_driver_sql(f"SELECT get_raw_page('scrub_probe', {b})").scalar_one())
                for b in range(
                    int(
                        conn.exec_driver_sql(
                            "SELECT pg_relation_size('scrub_probe') / 8192"
                        ).scalar_one()
                    )
                )
            )
        assert SECRET not in pages
    finally:
        reader.close()
        reader_engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS scrub_probe")
        admin.dispose()
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_scrub_waits_for_a_reader_then_leaves_no_wal_and_no_deleted_bytes(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    path = Path(database_url.removeprefix("sqlite:///"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE scrub_probe (id int primary key, who text)")
        conn.execute(sa.text("INSERT INTO scrub_probe VALUES (1, :w)"), {"w": SECRET.decode()})
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM scrub_probe")
    # A reader in the middle of a read transaction holds the WAL: the checkpoint must wait.
    reader_engine = sa.create_engine(database_url)
    reader = reader_engine.connect()
    reader.exec_driver_sql("BEGIN")
    reader.exec_driver_sql("SELECT count(*) FROM scrub_probe").scalar_one()
    threading.Timer(1.0, reader.rollback).start()
    try:
        assert scrub(engine) is True
        wal = path.with_name(path.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert SECRET not in path.read_bytes()
    finally:
        reader.close()
        reader_engine.dispose()
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_scrub_that_cannot_get_its_lock_gives_up_quietly(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purge has committed by then: a table held by someone else makes the scrub wait for
    its lock timeout and report False, never raise into the request or command that purged."""
    import survey.storage

    monkeypatch.setattr(survey.storage, "PG_LOCK_TIMEOUT", "200ms")
    engine = make_engine(database_url)
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS scrub_probe")
        conn.exec_driver_sql("CREATE TABLE scrub_probe (id int primary key)")
    holder_engine = sa.create_engine(database_url)
    holder = holder_engine.connect()
    holder.exec_driver_sql("SELECT count(*) FROM scrub_probe").scalar_one()  # holds its lock
    try:
        assert scrub(engine, ["scrub_probe"]) is False
    finally:
        holder.rollback()
        holder.close()
        holder_engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS scrub_probe")
        admin.dispose()
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_scrubs_connection_goes_back_to_the_pool_as_it_came(database_url: str) -> None:
    """VACUUM needs autocommit; the connection it borrowed must not keep it. Left in autocommit,
    the next request to borrow it would commit each statement alone (found when a page that
    used a savepoint right after a purge failed with "SAVEPOINT can only be used in
    transaction blocks")."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS scrub_pool_probe")
        conn.exec_driver_sql("CREATE TABLE scrub_pool_probe (id int primary key)")
    try:
        assert scrub(engine, ["scrub_pool_probe"]) is True
        with engine.connect() as conn:  # the one pooled connection, the scrub's
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "0"
            conn.exec_driver_sql("INSERT INTO scrub_pool_probe VALUES (1)")
            with conn.begin_nested():
                conn.exec_driver_sql("INSERT INTO scrub_pool_probe VALUES (2)")
            conn.rollback()  # undoes both: they were in one transaction
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM scrub_pool_probe").scalar_one() == 0
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS scrub_pool_probe")
        engine.dispose()
