"""The submit's floor: a bare WSGI function (no Flask, no SQLAlchemy, no session, no template, no
CSRF) that does a submit's database work with psycopg 3, served by the same gunicorn command as
mat-review and driven by the same locust user (bench/locustfile.py `SubmitUser`).

- `GET /s/<invitation id>`: 303 to /survey, with the invitation id in a plain cookie (the real
  app keeps it in its signed session cookie);
- `GET /survey`: a fixed page with a CSRF field, for the locust user to find;
- `POST /survey`: reads and parses the form as the real handler does, then in one transaction
  issues the same SQL as mat-review's submit (`survey.services.responses.record_response`):
  the cycle read `FOR SHARE`, the invitation's conditional update (refused unless it changes
  exactly one row), the ballot insert (a random 32-hex id and random bytes of the same stored
  size as a sealed ballot of the benchmark's cycle) and the draft delete; commits; 303 to
  /survey/done.

Each POST therefore completes a fresh invitation of the floor's own database. What it leaves out
is everything that is not that SQL: the framework, the session and link checks, validating the
answers, encoding and encrypting the ballot, the ORM.

Environment: BENCH_FLOOR_DSN (a libpq connection string for the floor's database),
BENCH_FLOOR_CYCLE (the cycle's id), BENCH_BALLOT_BYTES (the stored size of one ballot).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import psycopg

DSN = os.environ.get("BENCH_FLOOR_DSN", "")
CYCLE_ID = int(os.environ.get("BENCH_FLOOR_CYCLE", "0"))
BALLOT_BYTES = int(os.environ.get("BENCH_BALLOT_BYTES", "0"))
COOKIE = "floor_invitation"

# The statements mat-review's submit sends (as SQLAlchemy renders them), in the same order.
LOCK_CYCLE = "SELECT cycles.state, cycles.closes_at FROM cycles WHERE cycles.id = %s FOR SHARE"
COMPLETE = (
    "UPDATE invitations SET is_completed = %s WHERE invitations.id = %s "
    "AND invitations.is_completed IS false AND invitations.is_declined IS false"
)
INSERT_BALLOT = "INSERT INTO ballots (id, cycle_id, sealed) VALUES (%s, %s, %s)"
DELETE_DRAFT = "DELETE FROM drafts WHERE drafts.invitation_id = %s"

FORM_PAGE = (
    b"<!doctype html><title>Survey</title><form method=post>"
    b'<input type="hidden" name="csrf_token" value="floor-token"></form>'
)

StartResponse = Callable[..., Any]
_connection: psycopg.Connection[Any] | None = None


class Refused(Exception):
    """The cycle is not open, or the invitation was already completed or declined."""


def connection() -> psycopg.Connection[Any]:
    """One connection per worker process, opened on its first request (after gunicorn forks)."""
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(DSN, autocommit=True)
    return _connection


def submit(invitation_id: int) -> None:
    conn = connection()
    try:
        with conn.transaction():
            row = conn.execute(LOCK_CYCLE, (CYCLE_ID,)).fetchone()
            if row is None or row[0] != "open" or _as_utc(row[1]) <= datetime.now(UTC):
                raise Refused("the cycle is not open")
            if conn.execute(COMPLETE, (True, invitation_id)).rowcount != 1:
                raise Refused("the invitation was already completed or declined")
            ballot = os.urandom(BALLOT_BYTES)
            conn.execute(INSERT_BALLOT, (secrets.token_hex(16), CYCLE_ID, ballot))
            conn.execute(DELETE_DRAFT, (invitation_id,))
    except psycopg.OperationalError:
        conn.close()  # reconnect on the next request
        raise


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _invitation_id(environ: dict[str, Any]) -> int | None:
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value.isdigit():
            return int(value)
    return None


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    if method == "POST" and path == "/survey":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        # Read and parse the body as the real handler does, so the floor includes it.
        parse_qsl(environ["wsgi.input"].read(length).decode(), keep_blank_values=True)
        invitation_id = _invitation_id(environ)
        if invitation_id is None:
            return _answer(start_response, "403 Forbidden", b"no invitation")
        try:
            submit(invitation_id)
        except Refused as exc:
            return _answer(start_response, "409 Conflict", str(exc).encode())
        return _answer(start_response, "303 See Other", b"", [("Location", "/survey/done")])
    if method == "GET" and path.startswith("/s/") and path[3:].isdigit():
        cookie = f"{COOKIE}={path[3:]}; Path=/; HttpOnly"
        headers = [("Location", "/survey"), ("Set-Cookie", cookie)]
        return _answer(start_response, "303 See Other", b"", headers)
    if method == "GET" and path == "/survey":
        return _answer(start_response, "200 OK", FORM_PAGE, [("Content-Type", "text/html")])
    if method == "GET" and path == "/healthz":
        return _answer(start_response, "200 OK", b'{"status": "ok"}')
    return _answer(start_response, "404 Not Found", b"not found")


def _answer(
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    start_response(status, [*(headers or []), ("Content-Length", str(len(body)))])
    return [body]
