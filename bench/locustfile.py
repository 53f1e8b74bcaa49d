"""Locust users for the web benchmarks (run by bench/run.py; see bench/README.md).

- `SubmitUser`: one respondent per iteration, each with their own invitation: open the personal
  link (303 to /survey, new session cookie), GET /survey (the form, for its CSRF token), POST
  /survey with a rating and a rationale for all 14 elements and `action=submit` (303 to
  /survey/done). Every request is timed under its own name; the headline figures are the POST's.
- `FormUser`: opens one link at start, then asks for the form page (GET /survey) again and again.

Environment: BENCH_LINKS (a file of `/s/<token>` paths, one per line, each used once),
BENCH_CODES (the element codes, comma-separated), BENCH_SCALE (the answer keys), BENCH_SAMPLES
(where to write every request's timing as JSON when locust quits: exact figures, where locust's
own statistics round response times and its CSV lags the end of the run by up to a second).
No wait time: each user sends its next request as soon as the last one is answered.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from locust import events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
CODES = [c for c in os.environ.get("BENCH_CODES", "").split(",") if c]
SCALE = [k for k in os.environ.get("BENCH_SCALE", "red,amber-red,amber-green,green").split(",")]
RATIONALE = (
    "Our evidence: minutes of the board's last three meetings, the school improvement plan and "
    "the headteachers' termly reports show this working in most schools, but not yet in all. "
)


def _links() -> Iterator[str]:
    with open(os.environ["BENCH_LINKS"]) as handle:
        for line in handle:
            if line.strip():
                yield line.strip()


LINKS = _links()
# (name, start time, response time in ms, succeeded) for every request of the run.
SAMPLES: list[tuple[str, float, float, bool]] = []


@events.request.add_listener
def _record(
    name: str,
    response_time: float,
    exception: BaseException | None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    SAMPLES.append((name, start_time or time.time(), response_time, exception is None))


@events.quit.add_listener
def _dump(**_: Any) -> None:
    path = os.environ.get("BENCH_SAMPLES")
    if path:
        with open(path, "w") as handle:
            json.dump(SAMPLES, handle)


def next_link() -> str:
    try:
        return next(LINKS)
    except StopIteration:
        raise StopUser() from None


def answers(csrf_token: str) -> str:
    fields: list[tuple[str, str]] = [("csrf_token", csrf_token)]
    for code in CODES:
        fields.append((f"rating-{code}", random.choice(SCALE)))
        fields.append((f"rationale-{code}", f"{code}: {RATIONALE}"))
    fields.append(("action", "submit"))
    return urlencode(fields)


class SubmitUser(FastHttpUser):
    def _expect(self, method: str, path: str, name: str, status: int, **kwargs: Any) -> str | None:
        """The response body, or None (and the request counted as failed) on another status."""
        with self.client.request(
            method, path, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            if response.status_code != status:
                response.failure(f"expected {status}, got {response.status_code}")
                return None
            return response.text or ""

    @task
    def respond(self) -> None:
        link = next_link()
        self.client.cookiejar.clear()
        if self._expect("GET", link, "GET /s/<token>", 303) is None:
            return
        found = CSRF_FIELD.search(self._expect("GET", "/survey", "GET /survey", 200) or "")
        if found is None:
            return
        self._expect(
            "POST", "/survey", "POST /survey", 303, data=answers(found.group(1)),
            headers=FORM_HEADERS,
        )  # fmt: skip


class FormUser(FastHttpUser):
    def on_start(self) -> None:
        self.client.get(next_link(), name="GET /s/<token>", allow_redirects=False)

    @task
    def form(self) -> None:
        with self.client.get("/survey", name="GET /survey", catch_response=True) as response:
            if response.status_code != 200 or "csrf_token" not in (response.text or ""):
                response.failure(f"no form (status {response.status_code})")
