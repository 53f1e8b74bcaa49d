"""The database: one engine per app, one session per request or job, committed at the edge.

SQLite, the embedded default, is the copy bundled with the `pysqlite3` package (3.53 or later)
wherever that package has a wheel, in WAL mode. WAL mode is used only on SQLite 3.51.3 or
later: earlier versions have the WAL-reset bug, which can corrupt a database when two
connections write or checkpoint at once, and the web server and the scheduler are two
processes on one file. On an older SQLite (no wheel for the platform) the database runs with a
rollback journal instead, which that bug cannot reach. README, "The embedded database", says
more.

On SQLite a transaction that writes takes the write lock up front (`BEGIN IMMEDIATE`): writers
are serialised, which the single-use submit relies on (survey.services.responses). A transaction
that only reads begins with a plain `BEGIN` and takes no write lock: GET and HEAD requests, and
code inside `read_only()` (the report job's read, the first half of a submit).
"""

from __future__ import annotations

import functools
import importlib
import logging
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, current_app, g, has_request_context, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from survey.config import get_settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# The WAL-reset bug (SQLite 3.7.0 to 3.51.2) is fixed in 3.51.3.
SQLITE_WAL_SAFE_FROM = (3, 51, 3)
SQLITE_BUSY_TIMEOUT_MS = 60_000
# PostgreSQL: give up on a server that does not answer a connection attempt, instead of waiting
# for the operating system's TCP timeout (minutes), so a request can say "try again" in time.
PG_CONNECT_TIMEOUT_SECONDS = 5
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_KEY = "mat_review.db_read_only"
_READ_ONLY: ContextVar[bool] = ContextVar("mat_review_db_read_only", default=False)
_WRITING: ContextVar[bool] = ContextVar("mat_review_db_writing", default=False)
_WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def describe_database_error(exc: DBAPIError) -> str:
    """The driver's own first line (database down, unreachable, not initialised)."""
    return (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]


@contextmanager
def read_only() -> Iterator[None]:
    """Transactions begun inside this block only read: on SQLite they take no write lock, so
    writers (a respondent's submit) go on meanwhile. Writing in one is a bug (warned about)."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


@contextmanager
def writing() -> Iterator[None]:
    """Transactions begun inside this block write, even in a GET request (for example ending an
    expired session found while loading a page). End the request's read transaction first."""
    token = _WRITING.set(True)
    try:
        yield
    finally:
        _WRITING.reset(token)


def writes_on_get(view: F) -> F:
    """Mark a GET view that writes (an audit event, say): its transaction takes the write lock
    up front, like any POST, instead of failing to upgrade a read lock under contention."""
    view._mat_review_writes_on_get = True  # type: ignore[attr-defined]
    return view


def _is_read_only() -> bool:
    if _WRITING.get():
        return False
    if _READ_ONLY.get():
        return True
    return has_request_context() and bool(request.environ.get(READ_ONLY_KEY))


def forget_failed_transaction(exc: Exception) -> None:
    """Log a database error (the endpoint, never the path: it may hold a link token) and let go
    of the failed transaction, so that nothing else in this request uses it."""
    reason = describe_database_error(exc) if isinstance(exc, DBAPIError) else str(exc)
    endpoint = request.endpoint if has_request_context() else None
    log.warning("database unavailable for %s: %s", endpoint, reason)
    try:
        db.session.rollback()
    except Exception:  # the connection is already gone; the session is reset all the same
        log.debug("rollback after a database error failed", exc_info=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_SECONDS)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def dialect_insert(session: Session) -> Callable[..., Any]:
    """`insert` of the session's database dialect (PostgreSQL's or SQLite's, both with
    ON CONFLICT). The engine has already loaded its dialect's package, so this imports nothing
    new: a worker never loads the other database's dialect."""
    name = session.get_bind().dialect.name
    return cast(Callable[..., Any], importlib.import_module(f"sqlalchemy.dialects.{name}").insert)


def sqlite_module() -> ModuleType:
    """The DB-API module for SQLite: pysqlite3's bundled SQLite if installed, else Python's."""
    try:
        import pysqlite3.dbapi2 as bundled
    except ImportError:
        return sqlite3
    return cast(ModuleType, bundled)


def sqlite_journal_mode(module: ModuleType) -> str:
    """WAL on a SQLite without the WAL-reset bug, a rollback journal on one with it."""
    version: tuple[int, int, int] = module.sqlite_version_info
    return "wal" if version >= SQLITE_WAL_SAFE_FROM else "delete"


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    module = sqlite_module()
    journal_mode = sqlite_journal_mode(module)
    # The writers of this process queue here, each woken the moment the one before it has
    # committed. SQLite's own lock still decides, and arbitrates between processes: without
    # this queue, threads waiting for it poll with sleeps of up to 100 ms, and under load a
    # submit would wait seconds for a lock that is free most of the time.
    writers = threading.Lock()

    class Connection(module.Connection):  # type: ignore[name-defined]
        """Leaves the writers' queue once its transaction has ended, not before."""

        holds_writers_lock = False

        def commit(self) -> None:
            super().commit()
            self.leave_writers_queue()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.leave_writers_queue()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.leave_writers_queue()

        def leave_writers_queue(self) -> None:
            if self.holds_writers_lock:
                self.holds_writers_lock = False
                writers.release()

    engine = create_engine(
        url,
        module=module,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "factory": Connection},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself so that "BEGIN IMMEDIATE" can take the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten, not left in free pages (SPEC 5; survey.storage).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # A database in another mode (WAL made by an older SQLite) changes once no other
        # connection has it open; until then SQLite keeps the mode it has, and says so.
        (mode,) = cursor.execute(f"PRAGMA journal_mode={journal_mode}").fetchone()
        cursor.close()
        if str(mode).lower() != journal_mode:
            log.warning(
                "SQLite %s keeps the database in %s mode while another process has it open; "
                "stop every mat-review process and start them again to use %s mode",
                module.sqlite_version,
                mode,
                journal_mode,
            )

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # A writer takes the write lock up front: concurrent writers then queue instead of
        # failing when a read lock cannot be upgraded (SQLITE_BUSY, which no timeout retries).
        read_only_now = _is_read_only()
        conn.info[READ_ONLY_KEY] = read_only_now
        if read_only_now:
            conn.exec_driver_sql("BEGIN")
            return
        dbapi_connection = conn.connection.dbapi_connection
        # A writer that waited its whole timeout here goes on to let SQLite decide.
        dbapi_connection.holds_writers_lock = writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_connection.leave_writers_queue()
            raise

    @event.listens_for(engine, "before_cursor_execute")
    def _no_writes_when_read_only(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn.info.get(READ_ONLY_KEY) and statement.lstrip().upper().startswith(
            _WRITE_STATEMENTS
        ):
            warnings.warn(
                "a write in a read-only transaction (a GET view that writes needs "
                f"@writes_on_get): {statement.split(maxsplit=3)[:3]}",
                RuntimeWarning,
                stacklevel=2,
            )

    return engine


class Database:
    """Flask extension: `db.session` lives for one app context (a request, a job, a CLI command)
    and is closed at its end, rolled back if it ended with an error. Every request has an app
    context of its own (tests and the demo that make requests while holding one run each request
    in a fresh `contextvars.Context`, as a server does)."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(get_settings(app).database_url)
        app.extensions["mat_review_db"] = (
            engine,
            sessionmaker(bind=engine, expire_on_commit=False),
        )

        @app.before_request
        def _mark_read_only_requests() -> None:
            view = app.view_functions.get(request.endpoint or "")
            request.environ[READ_ONLY_KEY] = request.method in READ_ONLY_METHODS and not getattr(
                view, "_mat_review_writes_on_get", False
            )

        @app.teardown_appcontext
        def _close_session(exc: BaseException | None) -> None:
            session = g.pop("_db_session", None)
            if session is not None:
                if exc is not None:
                    session.rollback()
                session.close()

    @property
    def engine(self) -> Engine:
        engine: Engine = current_app.extensions["mat_review_db"][0]
        return engine

    @property
    def session(self) -> Session:
        if "_db_session" not in g:
            g._db_session = current_app.extensions["mat_review_db"][1]()
        session: Session = g._db_session
        return session

    def open_session(self) -> Session | None:
        """The app context's session if something has used it, without starting one."""
        session: Session | None = g.get("_db_session")
        return session

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo exactly the work done inside the block if it raises (a refused change), leaving
        the rest of the request's unit of work, and its transaction, usable."""
        with self.session.begin_nested():
            yield


db = Database()


def commit_when_returned(view: Callable[..., ResponseReturnValue]) -> Callable[..., Any]:
    """A view as one unit of work: what it did is committed once it has returned, before the
    response leaves (so a page that says "saved" is only ever shown after the commit); if it
    raised, nothing is committed and the error handlers decide what the person sees."""

    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        response = current_app.make_response(view(*args, **kwargs))
        session = db.open_session()
        if session is not None:
            session.commit()
        return response

    return run


class TransactionalBlueprint(Blueprint):
    """A blueprint whose views never commit: each view is wrapped in `commit_when_returned`,
    the one commit of its request."""

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if view_func is not None:
            view_func = commit_when_returned(view_func)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
