"""The production shape, end to end, on this machine: PostgreSQL, gunicorn with two workers, one
`mat-review jobs run` process and a real SMTP server (aiosmtpd on loopback). A cycle is created by
the CLI, invitations arrive by SMTP, every recipient answers over real HTTP using the link in their
own email, the CLI closes the cycle, and the report email arrives with both attachments."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from mail.smtp_sink import SmtpSink, free_port

from survey.timeutil import utcnow
from tests.drills.helpers import wait_for_runs

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def wait_for(
    sink: SmtpSink, predicate: Callable[[list[EmailMessage]], bool], timeout: float
) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = [r.message for r in sink.snapshot()]
        if predicate(messages):
            return messages
        time.sleep(0.2)
    raise AssertionError(f"timed out; the SMTP server has {sink.count} messages")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


# The production shape is PostgreSQL by definition (the embedded SQLite shape is `make run`).
@pytest.mark.parametrize("backend", ["postgresql"])
def test_cycle_end_to_end_on_gunicorn_postgresql_and_smtp(
    fresh_database_url: str, smtp: SmtpSink, tmp_path: Path
) -> None:
    pg_url = fresh_database_url
    web_port = free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": pg_url,
        "MAT_REVIEW_SECRET_KEY": "production-shape-test-secret-0123456789abcdef",
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "instance"),
        "MAT_REVIEW_BASE_URL": base_url,
        "MAT_REVIEW_MAIL_URL": smtp.url,
        "MAT_REVIEW_MAIL_FROM": "reviews@oak.example",
        "MAT_REVIEW_MAIL_RATE_PER_MINUTE": "0",
        "MAT_REVIEW_JOBS_INTERVAL_SECONDS": "1",
    }

    def cli(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "mat-review"), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    cli("init")
    slug = cli("trust", "add", "Oak Learning Trust").split()[-1]
    opens = (utcnow() - timedelta(minutes=1)).isoformat()
    closes = (utcnow() + timedelta(days=7)).isoformat()
    cycle_id = cli(
        "cycle",
        "create",
        "--trust",
        slug,
        "--title",
        "Autumn review",
        "--opens",
        opens,
        "--closes",
        closes,
        "--scope",
        "1A,2B,6A",
        "--report-to",
        "ceo@oak.example",
        "--group",
        "executive:Executive leaders and chair:open",
        "--group",
        "headteacher:Headteachers",
        "--group",
        "middle-leader:Middle leaders",
    ).split()[-1]
    people = ["email,name,group"] + [
        f"{group}{i}@oak.example,{group.title()} {i},{group}"
        for group in ("executive", "headteacher", "middle-leader")
        for i in range(1, 4)
    ]
    (tmp_path / "people.csv").write_text("\n".join(people) + "\n")
    cli("cycle", "recipients", cycle_id, str(tmp_path / "people.csv"))
    cli("cycle", "launch", cycle_id)

    web_log = (tmp_path / "gunicorn.log").open("wb")
    jobs_log = (tmp_path / "jobs.log").open("wb")
    processes = [
        subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{web_port}",
                "-c",
                "python:survey.gunicorn_config",
                "survey:create_app()",
            ],
            env=env,
            stdout=web_log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [str(BIN / "mat-review"), "jobs", "run"],
            env=env,
            stdout=jobs_log,
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        arrived = wait_for(smtp, lambda msgs: len(msgs) >= 9, timeout=60)
        invitations = [m for m in arrived if m["To"] and "oak.example" in m["To"]]
        assert len(invitations) == 9
        assert len({m["Message-ID"] for m in invitations}) == 9
        _wait_for_http(base_url + "/healthz")

        for message in invitations:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            text = body.get_content()  # type: ignore[attr-defined]
            link = re.search(r"https?://\S+/s/[A-Za-z0-9_.\-]+", text)
            assert link is not None and link.group(0).startswith(base_url + "/s/")
            _answer(link.group(0), base_url)

        status = cli("cycle", "status", cycle_id, "--json")
        assert '"completed": 9' in status
        cli("cycle", "close", cycle_id)

        def has_report(msgs: list[EmailMessage]) -> bool:
            return any(m["To"] == "ceo@oak.example" for m in msgs)

        arrived = wait_for(smtp, has_report, timeout=90)
        report = next(m for m in arrived if m["To"] == "ceo@oak.example")
        names = sorted(part.get_filename() or "" for part in report.iter_attachments())
        assert names == ["report.pdf", "results.xlsx"]
        pdf = next(p for p in report.iter_attachments() if p.get_filename() == "report.pdf")
        assert pdf.get_content().startswith(b"%PDF")  # type: ignore[attr-defined]
        # Two more runs of the compiler and the dispatcher (counted in the scheduler's log, not
        # in seconds), at least one begun after the report email came: it is not sent again.
        wait_for_runs(
            (tmp_path / "jobs.log").read_text, ("compile-closed-cycles", "dispatch-outbox")
        )
        assert len(smtp.to("ceo@oak.example")) == 1
        assert '"state": "reported"' in cli("cycle", "status", cycle_id, "--json")
        for process, log in ((processes[0], "gunicorn.log"), (processes[1], "jobs.log")):
            assert process.poll() is None, (tmp_path / log).read_text()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        web_log.close()
        jobs_log.close()
    # The scheduler stopped cleanly on SIGTERM, and no token reached either log.
    assert processes[1].returncode == 0, (tmp_path / "jobs.log").read_text()
    for log in ("gunicorn.log", "jobs.log"):
        assert "/s/" not in (tmp_path / log).read_text().replace("/s/[redacted]", "")


def _wait_for_http(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def _answer(link: str, base_url: str) -> None:
    """One person: follow the link, read the form, rate every element, submit."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(link, timeout=10) as response:
        assert response.geturl() == base_url + "/survey"
        page = response.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    # The form goes one heading to a page: the landing page holds the first, then /survey/page/N.
    number = 2
    while True:
        try:
            with opener.open(f"{base_url}/survey/page/{number}", timeout=10) as more:
                page += more.read().decode()
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
            break
        number += 1
    codes = sorted(set(re.findall(r'name="rating-([0-9A-Z]+)"', page)))
    assert codes == ["1A", "2B", "6A"]
    form = {"csrf_token": token.group(1), "action": "submit"}
    for code in codes:
        form[f"rating-{code}"] = "amber-green"
        form[f"rationale-{code}"] = f"Evidence for {code}."
    request = urllib.request.Request(
        base_url + "/survey",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": base_url + "/survey"},
    )
    with opener.open(request, timeout=10) as response:
        assert response.geturl() == base_url + "/survey/done"
        assert response.status == 200
