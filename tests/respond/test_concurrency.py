"""Single use under load: 50 simultaneous submits for one invitation against a real gunicorn
server (two worker processes) on SQLite and PostgreSQL: exactly one response is stored, every
other request is answered "already submitted", and none fails. Also checks that gunicorn's access
log, which prints every request line, never prints a link token."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import TEST_SECRET

from .conftest import OpenCycle
from .helpers import answers_for, csrf_token

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
SUBMITS = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()


@pytest.fixture
def gunicorn(app: Flask, database_url: str, tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": database_url,
        "MAT_REVIEW_SECRET_KEY": TEST_SECRET,
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "server-instance"),
        "MAT_REVIEW_BASE_URL": app.config["BASE_URL"],
        "MAT_REVIEW_MAIL_URL": f"file://{tmp_path / 'server-outbox'}",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-",
                "--error-logfile",
                "-",
                "--timeout",
                "120",
                "--config",  # as in production: workers forked from a master that loaded the app
                "python:survey.gunicorn_config",
                "survey:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("gunicorn did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_fifty_simultaneous_submits_store_exactly_one_response(
    make_open_cycle: Callable[..., OpenCycle],
    gunicorn: Server,
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle()
    status, headers, _ = gunicorn.request("GET", oc.links[0])
    assert status == 303 and headers["Location"].endswith("/survey")
    assert headers["Referrer-Policy"] == "no-referrer"
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, headers, page = gunicorn.request("GET", "/survey", headers={"Cookie": cookie})
    assert status == 200
    cookie = headers["Set-Cookie"].split(";", 1)[0]  # now also holding the CSRF secret
    body = urllib.parse.urlencode(
        {**answers_for(["1A", "2B"]), "action": "submit", "csrf_token": csrf_token(page)}
    )
    post_headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}

    barrier = threading.Barrier(SUBMITS)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def submit() -> None:
        try:
            barrier.wait(timeout=60)
            status, _, text = gunicorn.request("POST", "/survey", body, post_headers)
            with lock:
                results.append((status, text))
        except BaseException as exc:  # collected and reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(SUBMITS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not errors, errors
    statuses = sorted(status for status, _ in results)
    assert len(results) == SUBMITS
    assert statuses.count(303) == 1, statuses
    assert statuses.count(200) == SUBMITS - 1, statuses
    for status, text in results:
        if status == 200:
            assert "You have already submitted your answers" in text
    assert query("SELECT count(*) FROM ballots")[0][0] == 1
    assert query("SELECT count(*) FROM responses")[0][0] == 0  # written only at close
    assert query("SELECT is_completed FROM invitations WHERE id = :i", i=oc.invitations[0].id)[0][0]

    # Every request is in the access log, and no token is. Gunicorn writes a request's line
    # after sending its response, so the last lines may still be on their way.
    posted = r'"POST /survey HTTP/1\.1" (?:303|200)'
    deadline = time.monotonic() + 10
    log = gunicorn.log_path.read_text()
    while len(re.findall(posted, log)) < SUBMITS and time.monotonic() < deadline:
        time.sleep(0.05)
        log = gunicorn.log_path.read_text()
    assert len(re.findall(posted, log)) == SUBMITS
    assert '"GET /s/[redacted] HTTP/1.1" 303' in log
    assert oc.links[0].removeprefix("/s/")[:20] not in log
    assert "Traceback" not in log and " 500 " not in log
