"""The database: one engine per app, one session per request or job, committed at the edge."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def describe_database_error(exc: DBAPIError) -> str:
    """The driver's own first line (database down, unreachable, not initialised)."""
    return (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself so that "BEGIN IMMEDIATE" can take the write lock.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted content is overwritten, not left in free pages (SPEC 5; survey.storage).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Every transaction takes the write lock up front: concurrent writers then queue on
            # busy_timeout instead of failing when a read lock cannot be upgraded (SQLITE_BUSY).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


REQUEST_KEY = "mat_review.db_session"


class Database:
    """Flask extension: `db.session` lives for one request (or, outside requests, one app context:
    a job, a CLI command) and is closed at its end, rolled back if it ended with an error.

    A request always gets a session of its own, even when the caller already holds an app context
    (as tests and the demo do), so requests never share state."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["mat_review_db"] = (
            engine,
            sessionmaker(bind=engine, expire_on_commit=False),
        )

        @app.teardown_request
        def _close_request_session(exc: BaseException | None) -> None:
            _close(request.environ.pop(REQUEST_KEY, None), exc)

        @app.teardown_appcontext
        def _close_session(exc: BaseException | None) -> None:
            _close(g.pop("_db_session", None), exc)

    @property
    def engine(self) -> Engine:
        engine: Engine = current_app.extensions["mat_review_db"][0]
        return engine

    @property
    def session(self) -> Session:
        if has_request_context():
            environ = request.environ
            if REQUEST_KEY not in environ:
                environ[REQUEST_KEY] = current_app.extensions["mat_review_db"][1]()
            request_session: Session = environ[REQUEST_KEY]
            return request_session
        if "_db_session" not in g:
            g._db_session = current_app.extensions["mat_review_db"][1]()
        session: Session = g._db_session
        return session


def _close(session: Session | None, exc: BaseException | None) -> None:
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()


db = Database()
