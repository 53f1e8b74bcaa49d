"""The worker's memory floors: WSGI apps that use the third-party libraries a mat-review web
worker needs (and nothing of ours), served by bench/worker_bench.py with the same gunicorn
settings as the app and measured the same way.

- `app` only imports them, then answers every request with a fixed page.
- `working_app` also makes them do, on every request, the library work of the respondent's path:
  itsdangerous checks a signed link and signs a session (HMAC), HKDF derives a key and AES-GCM
  seals a ballot-sized box (`cryptography`), `limits` counts a hit in memory (Flask-Limiter's
  engine), SQLAlchemy's ORM session runs a query over psycopg 3 on the app's PostgreSQL, and
  Jinja2 renders an escaped page. What a worker holds once its libraries have run, before any
  line of mat-review: the code a library runs is read into the worker as it runs, so `app`
  alone understates it.

The imports are those the real worker has loaded once it has served the respondent's path:
Flask and its Jinja2, itsdangerous and Werkzeug; SQLAlchemy's ORM with the PostgreSQL dialect
over psycopg 3 (the production database); `cryptography`'s AES-GCM and HKDF (ballots are sealed
as they are submitted); Flask-WTF (CSRF) and Flask-Limiter (rate limits); email-validator and
PyYAML (the framework's file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import email_validator  # noqa: F401
import flask  # noqa: F401
import flask_limiter  # noqa: F401
import flask_wtf  # noqa: F401
import jinja2
import limits
import limits.storage
import limits.strategies
import psycopg  # noqa: F401
import sqlalchemy as sa
import sqlalchemy.dialects.postgresql.psycopg
import sqlalchemy.orm
import yaml  # noqa: F401
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import URLSafeTimedSerializer

PAGE = b"<!doctype html><title>floor</title><p>ok"
# About the size of a sealed 14-element ballot (bench's "stored ballot" figure).
BALLOT_BYTES = 112_000
SIGNER = URLSafeTimedSerializer("floor-secret-key-not-for-production-0123456789")
LINK = SIGNER.dumps("invitation-token", salt="link")
TEMPLATE = jinja2.Environment(autoescape=True).from_string(
    "<!doctype html><title>{{ title }}</title><form method=post>"
    "{% for code in codes %}<label>{{ code }} <textarea name=r-{{ code }}>{{ text }}</textarea>"
    "</label>{% endfor %}<input type=hidden name=csrf value='{{ token }}'></form>"
)
LIMIT = limits.parse("30/minute")


@cache
def _engine() -> sa.Engine:
    return sa.create_engine(os.environ["MAT_REVIEW_DATABASE_URL"])


@cache
def _limiter() -> limits.strategies.RateLimiter:
    return limits.strategies.FixedWindowRateLimiter(limits.storage.MemoryStorage())


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))])
    return [PAGE]


def working_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    SIGNER.loads(LINK, salt="link", max_age=3600)
    session = SIGNER.dumps({"invitation": 1}, salt="session")
    _limiter().hit(LIMIT, "invalid-link", environ.get("REMOTE_ADDR", ""))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"floor", info=b"ballot").derive(
        b"floor-secret"
    )
    AESGCM(key).encrypt(os.urandom(12), bytes(BALLOT_BYTES), b"cycle")
    with sqlalchemy.orm.Session(_engine()) as db:
        count = db.execute(sa.text("SELECT count(*) FROM pg_class")).scalar_one()
    codes = [f"{n}{letter}" for n in range(1, 7) for letter in "AB"]
    page = TEMPLATE.render(title=f"floor {count}", codes=codes, text="<evidence>", token=session)
    body = page.encode()
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]
