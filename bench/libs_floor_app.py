"""The worker's memory floor: a WSGI app that imports the third-party libraries a mat-review web
worker needs (and nothing of ours), then answers every request with a fixed page.

The imports are those the real worker has loaded once it has served the respondent's path:
Flask and its Jinja2, itsdangerous and Werkzeug; SQLAlchemy's ORM with the PostgreSQL dialect
over psycopg 3 (the production database); `cryptography`'s AES-GCM and HKDF (ballots are sealed
as they are submitted); Flask-WTF (CSRF) and Flask-Limiter (rate limits); email-validator and
PyYAML (the framework's file). bench/worker_bench.py serves it with the same gunicorn settings
as the app and measures its worker the same way, so the app's figure can be read against what
these libraries alone cost on this interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import email_validator  # noqa: F401
import flask  # noqa: F401
import flask_limiter  # noqa: F401
import flask_wtf  # noqa: F401
import psycopg  # noqa: F401
import sqlalchemy.dialects.postgresql.psycopg
import sqlalchemy.orm  # noqa: F401
import yaml  # noqa: F401
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: F401
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: F401

PAGE = b"<!doctype html><title>floor</title><p>ok"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))])
    return [PAGE]
