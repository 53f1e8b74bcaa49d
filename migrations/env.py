"""Alembic environment: the URL comes from the app's configuration (see survey.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, pool

from survey.db import make_engine
from survey.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            _run_without_sqlite_cascades(conn)
        else:
            _run(conn)
    engine.dispose()


def _run_without_sqlite_cascades(conn: Connection) -> None:
    """On SQLite, batch mode rebuilds a table to alter it (copy, drop the old, rename). With
    foreign keys on, dropping the old `cycles` would cascade and delete every invitation, draft
    and answer of every cycle. So foreign keys are off while migrating (set on the driver's
    connection, outside any transaction, where SQLite honours it), and checked afterwards."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        _run(conn)
    finally:
        raw.execute("PRAGMA foreign_keys=ON")
    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
