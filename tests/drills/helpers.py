"""Helpers for the fault drills: a real SMTP server on loopback (aiosmtpd) that can be started
late, child processes (gunicorn, `mat-review jobs run`) and a plain HTTP client with cookies of
its own per respondent."""

from __future__ import annotations

import email
import email.policy
import http.client
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy.orm import Session

from survey.models import Cycle, Invitation
from survey.services.links import mint_link
from survey.timeutil import utcnow

BIN = Path(sys.executable).parent
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def finished_runs(log: str, job: str) -> int:
    """How many runs of `job` a scheduler's log reports as finished ("<job>: <summary>", logged
    by jobs/schedule.py at the end of each run)."""
    return log.count(f"jobs.schedule: {job}: ")


def wait_for_runs(
    log: Callable[[], str], jobs: tuple[str, ...], more: int = 2, timeout: float = 60
) -> None:
    """Wait until the scheduler has finished `more` further runs of each of `jobs`: at least one
    of them started after this call, so anything it would do again has been done. Counted in
    scheduler ticks, not in seconds."""
    start = {job: finished_runs(log(), job) for job in jobs}

    def ticked() -> bool:
        text = log()
        return all(finished_runs(text, job) >= start[job] + more for job in jobs)

    wait_until(ticked, timeout, f"{more} more runs of {', '.join(jobs)}")


# -- the database, seen from outside the app ------------------------------------------------------


def open_cycle_now(session: Session, cycle: Cycle, count: int, opened_at: Any = None) -> None:
    """Launch and open through the model's own transitions, without enqueueing invitation emails
    (the drills that need them let the scheduler open the cycle)."""
    opened_at = opened_at or utcnow()
    cycle.launch(invitation_count=count, now=opened_at)
    cycle.open(opened_at)
    session.commit()


def mint_links(app: Flask, session: Session, invitations: list[Invitation]) -> list[str]:
    """Personal links (paths `/s/<token>`) for `invitations`, committed."""
    base = app.config["BASE_URL"]
    with app.app_context():
        links = [mint_link(session, invitation)[len(base) :] for invitation in invitations]
    session.commit()
    return links


# -- SMTP -----------------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd on a fixed loopback port, keeping every message; can be started late."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def snapshot(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


# -- processes ------------------------------------------------------------------------------------


@dataclass
class Process:
    """A child process with its output in a log file; stopped at the end of the test."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(
    spawn: Callable[..., Process], env: dict[str, str], *extra: str, workers: int = 2
) -> tuple[Process, str]:
    port = free_port()
    process = spawn(
        "gunicorn", str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
        "--backlog", "1024", "--timeout", "60", *extra, "survey:create_app()", env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return Browser(base).get("/healthz").status == 200
        except OSError:
            return False

    wait_until(healthy, 60, "gunicorn to answer")
    return process, base


def start_scheduler(spawn: Callable[..., Process], env: dict[str, str]) -> Process:
    # PGAPPNAME names the scheduler's connections in pg_stat_activity.
    return spawn(
        "scheduler",
        str(BIN / "mat-review"),
        "jobs",
        "run",
        env={**env, "PGAPPNAME": "mat-review-drill-scheduler"},
    )


def children(pid: int) -> set[int]:
    """The process ids of `pid`'s children (gunicorn's workers)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(p) for p in text)
    return found


# -- HTTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    body: str


class Browser:
    """One respondent's browser: its own cookies, no redirects followed, a new connection per
    request (as gunicorn's sync workers close each one anyway)."""

    def __init__(self, base: str) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: list[tuple[str, str]] | None = None) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            headers = {}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if form is not None:
                body = urlencode(form)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value and "01 Jan 1970" not in cookie:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return Answer(response.status, response.headers.get("Location", ""), text)
        finally:
            connection.close()

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, form: list[tuple[str, str]]) -> Answer:
        return self.request("POST", path, form)

    def open_form(self, link: str) -> str:
        """Follow a personal link to the form; returns the form's CSRF token."""
        landing = self.get(link)
        assert landing.status == 303, (landing.status, landing.body[:300])
        page = self.get("/survey")
        assert page.status == 200, (page.status, page.body[:300])
        found = CSRF_FIELD.search(page.body)
        assert found, "the form has no CSRF token"
        return found.group(1)


def answers_for(codes: list[str], token: str, rating: str = "green") -> list[tuple[str, str]]:
    fields = [("csrf_token", token)]
    for code in codes:
        fields += [(f"rating-{code}", rating), (f"rationale-{code}", f"Evidence for {code}.")]
    return [*fields, ("action", "submit")]


DAY = timedelta(days=1)
