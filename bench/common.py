"""Shared plumbing for the benchmarks: scratch databases, the app, gunicorn, ports, timing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The PostgreSQL server's admin database; each run creates (and drops) databases of its own.
PG_ADMIN_URL = os.environ.get(
    "MAT_REVIEW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_SECRET = "bench-secret-key-not-for-production-0123456789abcdef"
BASE_URL = "http://bench.invalid"
# The app is served as the README's production section serves it: with its gunicorn settings
# (the app preloaded in the master, workers forked from it).
APP_CONFIG = "python:survey.gunicorn_config"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(name: str) -> str:
    return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this run, dropped afterwards (even on error)."""
    name = f"mat_review_bench_{label}_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def app_config(url: str, instance: Path, **extra: Any) -> dict[str, Any]:
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": BENCH_SECRET,
        "INSTANCE_PATH": str(instance),
        "BASE_URL": BASE_URL,
        "MAIL_URL": f"file://{instance / 'outbox'}",
        "MAIL_RATE_PER_MINUTE": 0,
        **extra,
    }


def make_app(url: str, instance: Path, **extra: Any) -> Flask:
    from survey import create_app

    return create_app(app_config(url, instance, **extra))


def prepare_database(url: str, instance: Path) -> None:
    """The schema from the models (as the test suite builds it) and the built-in frameworks."""
    from survey.db import db, make_engine
    from survey.models import Base
    from survey.services.frameworks import sync_builtin_frameworks

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = make_app(url, instance)
    with app.app_context():
        sync_builtin_frameworks(db.session)
        db.session.commit()
        db.engine.dispose()


def server_env(url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment a served app (gunicorn, `mat-review`) reads its configuration from."""
    return {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": url,
        "MAT_REVIEW_SECRET_KEY": BENCH_SECRET,
        "MAT_REVIEW_INSTANCE_PATH": str(instance),
        "MAT_REVIEW_BASE_URL": BASE_URL,
        "MAT_REVIEW_MAIL_URL": f"file://{instance / 'outbox'}",
        **extra,
    }


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s ({last})")


@contextmanager
def gunicorn(
    app_spec: str,
    env: dict[str, str],
    *,
    workers: int = 2,
    chdir: Path | None = None,
    health_path: str = "/healthz",
    pid_file: Path | None = None,
    config: str | None = None,
) -> Iterator[str]:
    """`gunicorn -w <workers>` (sync workers, the default) on a free loopback port; yields its
    base URL and stops it (SIGTERM, then SIGKILL) afterwards. `pid_file` gets the master's pid;
    `config` is a gunicorn config (`-c`), e.g. APP_CONFIG, the app's production settings."""
    port = free_port()
    args = [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    args += ["--backlog", "2048", "--log-level", "warning"]
    if chdir is not None:
        args += ["--chdir", str(chdir)]
    if pid_file is not None:
        args += ["--pid", str(pid_file)]
    if config is not None:
        args += ["--config", config]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*args, app_spec], env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=str(ROOT)
        )
        try:
            try:
                wait_for_http(base + health_path)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set size now, in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
