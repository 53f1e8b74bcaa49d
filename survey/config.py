"""Configuration: code defaults, then MAT_REVIEW_* environment variables, then a test's mapping."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # sqlite:///<instance>/mat-review.sqlite3
    "SECRET_KEY": None,  # generated once into <instance>/secret_key
    "SECRET_KEY_FALLBACKS": [],
    "MAIL_URL": None,  # file://<instance>/outbox
    "MAIL_FROM": "mat-review@localhost",
    "BASE_URL": "http://127.0.0.1:5000",
    "RATELIMIT_STORAGE_URL": "memory://",
    "MAIL_RATE_PER_MINUTE": 30,  # the Microsoft 365 default limit; 0 turns the limit off
    "MAIL_BATCH_SIZE": 50,
    "MAIL_MAX_ATTEMPTS": 8,  # invitations and reminders; a report email is never given up
    "MAIL_TIMEOUT": 30,  # seconds for each socket operation with the SMTP server
    "MAIL_MESSAGE_SECONDS": 120,  # the most one message may take, connecting included
    "MAIL_RUN_SECONDS": 300,  # the most one dispatch run may take; the rest wait for the next
    "MAIL_CLAIM_SECONDS": 300,  # how long a dispatcher's claim on a row lasts before it lapses
    "MAIL_RETRY_SECONDS": 120,  # first retry delay; doubles per attempt (with jitter)
    "MAIL_RETRY_MAX_SECONDS": 3600,  # the longest delay between two retries
    "JOBS_INTERVAL_SECONDS": 60,  # how often `jobs run` runs each job
    "JOBS_LEASE_SECONDS": 60,  # SQLite: how long the scheduler lease lasts between renewals
    # How far the scheduler's clock may be from the database's before it refuses to open, remind,
    # close, seal or report (see jobs/schedule.py).
    "CLOCK_TOLERANCE_SECONDS": 300,
    "LINK_MAX_AGE_DAYS": 400,  # links also stop working the moment their cycle closes
    "SESSION_HOURS": 8,  # becomes PERMANENT_SESSION_LIFETIME
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    "TRUSTED_PROXIES": 0,  # number of proxies in front (ProxyFix); 0 when served directly
}


def instance_path_from_env() -> str:
    return os.path.abspath(os.environ.get("MAT_REVIEW_INSTANCE_PATH", "instance"))


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MAT_REVIEW")
    if overrides:
        app.config.from_mapping(overrides)

    instance = Path(app.instance_path)
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str):
        fallbacks = [key.strip() for key in fallbacks.split(",") if key.strip()]
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)

    if not app.config.get("DATABASE_URL"):
        instance.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'mat-review.sqlite3'}"
    if not app.config.get("MAIL_URL"):
        app.config["MAIL_URL"] = f"file://{instance / 'outbox'}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(instance)
    app.config["BASE_URL"] = str(app.config["BASE_URL"]).rstrip("/")
    app.config["RATELIMIT_STORAGE_URI"] = app.config["RATELIMIT_STORAGE_URL"]
    explicit = "MAT_REVIEW_SESSION_COOKIE_SECURE" in os.environ or "SESSION_COOKIE_SECURE" in (
        overrides or {}
    )
    if not explicit:
        # Secure cookies whenever the service is reached over HTTPS.
        app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = int(app.config["SESSION_HOURS"]) * 3600


def _instance_secret_key(instance: Path) -> str:
    """Read the instance's secret key, creating it (readable by the owner only) on first run."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        # Written in full to a private temporary file, then linked into place in one step: web
        # workers starting together all end up reading the same complete key.
        fd, temporary = tempfile.mkstemp(dir=instance, prefix=".secret_key.")
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.fsync(fd)
            os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it, or set MAT_REVIEW_SECRET_KEY")
    return key
