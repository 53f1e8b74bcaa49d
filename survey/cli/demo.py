"""`mat-review demo`: a whole synthetic cycle, end to end, on a throwaway database.

Everything goes through the real paths: invitations are dispatched by the real outbox to `.eml`
files; each synthetic respondent follows the link from their own email and submits through the real
form route (Flask's test client: the same WSGI app a browser would reach); the scheduler's jobs
close, seal and compile; the report is written to the output folder.
"""

from __future__ import annotations

import contextvars
import email
import email.policy
import random
import re
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask

from jobs.schedule import run_once
from survey import create_app
from survey.config import get_settings
from survey.db import db
from survey.migrate import upgrade_database
from survey.reports.stored import get_report, write_stored_report
from survey.services import cycles as svc
from survey.services.frameworks import get_cycle_framework, get_cycle_scope, sync_builtin_frameworks
from survey.services.links import resolve_token
from survey.services.recipients import import_recipients
from survey.timeutil import utcnow

SCHOOLS = [
    "Severn Primary",
    "Kingfisher Academy",
    "Wren Hill Primary",
    "Ashbrook Juniors",
    "St Aidan's CE Primary",
    "Millbrook Infants",
    "Castle View Secondary",
    "Riverside Academy",
]
FIRST = [
    "Amira",
    "Ben",
    "Chloe",
    "Dev",
    "Ellie",
    "Farah",
    "George",
    "Hana",
    "Isaac",
    "Jess",
    "Kofi",
    "Lena",
    "Marek",
    "Nia",
    "Owen",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tomasz",
]
LAST = [
    "Adeyemi",
    "Brennan",
    "Clarke",
    "Dimitrov",
    "Evans",
    "Fletcher",
    "Gill",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morgan",
    "Nowak",
    "Owusu",
    "Patel",
]
RATIONALES = {
    "low": [
        "We talk about this but I have not seen it change what happens in my school.",
        "Depends a lot on the school; practice is inconsistent across the trust.",
        "The central team has a plan, but capacity to deliver it is thin.",
    ],
    "mid": [
        "Good progress this year, though it is not yet embedded everywhere.",
        "Clear in documents; the evidence of impact is still emerging.",
    ],
    "high": [
        "A real strength: clear expectations and regular, honest review.",
        "Well established and understood by staff at every level.",
    ],
}
# Executives rate higher than headteachers, as the research found (Greany 2018); middle leaders
# sit between, with more "don't know" answers on trust-level matters.
GROUP_SHIFT = {"executive": 0.55, "headteacher": -0.45, "middle-leader": -0.1}
GROUP_SIZES = {"executive": 3, "headteacher": 8, "middle-leader": 30}


def _people(rng: random.Random) -> str:
    lines = ["email,name,group,school"]
    n = 0
    for group, size in GROUP_SIZES.items():
        for _ in range(size):
            n += 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            school = "" if group == "executive" else SCHOOLS[n % len(SCHOOLS)]
            lines.append(
                f"{first.lower()}.{last.lower()}{n}@severnvalley.example,"
                f"{first} {last},{group},{school}"
            )
    return "\n".join(lines) + "\n"


def _answers(
    rng: random.Random, framework: Any, scope: Any, group: str, year_shift: float
) -> dict[str, str]:
    keys = list(framework.scale.keys)
    form: dict[str, str] = {}
    for index, element in enumerate(framework.elements_in_scope(scope)):
        base = 2.3 + 0.9 * ((index * 7) % 5) / 4  # each element has its own "true" level
        if group == "middle-leader" and element.heading in (5, 6) and rng.random() < 0.4:
            form[f"rating-{element.code}"] = "dont-know"
            continue
        value = base + GROUP_SHIFT[group] + year_shift + rng.gauss(0, 0.55)
        score = min(max(round(value), 1), len(keys))
        form[f"rating-{element.code}"] = keys[score - 1]
        if rng.random() < 0.35:
            band = "low" if score <= 2 else ("mid" if score == 3 else "high")
            form[f"rationale-{element.code}"] = rng.choice(RATIONALES[band])
    return form


def _links_from_outbox(outbox: Path, seen: set[Path]) -> list[str]:
    links = []
    for path in sorted(outbox.glob("*.eml")):
        if path in seen:
            continue
        seen.add(path)
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        found = re.search(r"https?://\S+/s/[A-Za-z0-9_.\-]+", text)
        if found:
            links.append(found.group(0))
    return links


def _respond(app: Flask, link: str, form: dict[str, str]) -> None:
    client = app.test_client()
    landing = client.get(urlsplit(link).path)
    if landing.status_code != 303:
        raise click.ClickException(f"the survey link answered {landing.status_code}")
    page = client.get("/survey").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise click.ClickException("the survey form has no CSRF token")
    result = client.post("/survey", data={**form, "csrf_token": token.group(1), "action": "submit"})
    if result.status_code != 303:
        raise click.ClickException(f"a submission answered {result.status_code}")


def run_demo(out: Path, echo: Any = click.echo) -> dict[str, Path]:
    """Build the demo in `out` and return the report files written."""
    started = time.monotonic()
    rng = random.Random(2026)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "demo.sqlite3"
    database.unlink(missing_ok=True)
    outbox = out / "outbox"
    for old in outbox.glob("*.eml"):
        old.unlink()
    app = create_app(
        {
            "INSTANCE_PATH": str(out / "instance"),
            "DATABASE_URL": f"sqlite:///{database}",
            "MAIL_URL": f"file://{outbox}",
            "MAIL_RATE_PER_MINUTE": 0,
            "BASE_URL": "http://127.0.0.1:5000",
        }
    )
    seen: set[Path] = set()

    def step(message: str) -> None:
        echo(f"[{time.monotonic() - started:5.1f}s] {message}")

    with app.app_context():
        session = db.session
        upgrade_database(get_settings(app).database_url)
        sync_builtin_frameworks(session)
        trust = svc.create_trust(session, "Severn Valley Learning Trust")
        session.commit()
        step(f"trust {trust.name!r} with {len(SCHOOLS)} schools")
        now = utcnow().replace(microsecond=0)
        previous_id: int | None = None
        report_cycle = None
        # Each cycle runs on today's clock: people answer through the real route, which refuses
        # answers after a cycle's close date. Last year's cycle is then dated back a year
        # before it is compiled, as if it had run then.
        for label, years_ago, year_shift in (
            (f"Autumn review {now.year - 1}", 1, -0.35),
            (f"Autumn review {now.year}", 0, 0.0),
        ):
            opens_at = now - timedelta(days=2)
            closes_at = now + timedelta(days=16)
            settings = svc.CycleSettings(
                title=label,
                opens_at=opens_at,
                closes_at=closes_at,
                groups=[
                    svc.GroupSpec("executive", "Executive leaders and chair", is_open=True),
                    svc.GroupSpec("headteacher", "Headteachers"),
                    svc.GroupSpec("middle-leader", "Middle leaders"),
                ],
                report_to=["ceo@severnvalley.example", "chair@severnvalley.example"],
                previous_cycle_id=previous_id,
            )
            cycle = svc.create_cycle(session, trust, settings, "demo")
            import_recipients(session, cycle, _people(rng), "demo")
            svc.launch_cycle(session, cycle, "demo", now=opens_at - timedelta(days=2))
            session.commit()
            step(
                f"{label}: launched with 41 invitations (3 executives, 8 heads, 30 middle leaders)"
            )
            _run_jobs(app, opens_at + timedelta(minutes=5))
            links = _links_from_outbox(outbox, seen)
            step(f"{label}: {len(links)} invitations written to {outbox}")
            framework = get_cycle_framework(session, cycle)
            scope = get_cycle_scope(cycle)
            people = [(link, _group_of_link(session, link)) for link in links]
            # End this read before the requests: on SQLite every transaction holds the write lock.
            session.commit()
            answered = 0
            # Follow each person's own link; most people answer, a few do not.
            for link, group in people:
                if group != "executive" and rng.random() < 0.12:
                    continue
                answers = _answers(rng, framework, scope, group, year_shift)
                # A fresh context per person, as each would be a browser of their own: Flask then
                # gives each request its own app context (and `g`) instead of reusing ours.
                contextvars.Context().run(_respond, app, link, answers)
                answered += 1
            step(f"{label}: {answered} people answered through the survey form")
            session.expire_all()  # the jobs and requests changed it in sessions of their own
            svc.close_cycle(session, cycle, "demo", now=utcnow())
            if years_ago:
                _date_back(cycle, timedelta(days=365 * years_ago))
            session.commit()
            _run_jobs(app, utcnow())
            session.expire_all()
            step(f"{label}: closed, sealed and compiled ({cycle.state.value})")
            previous_id = cycle.id
            report_cycle = cycle
        assert report_cycle is not None
        # The report the scheduler compiled, stored and emailed: write its files out as they are.
        stored = get_report(session, report_cycle)
        if stored is None:
            raise click.ClickException("the scheduler did not compile the report")
        files = write_stored_report(stored, out / "report")
        sent = len(list(outbox.glob("*.eml")))
    step(f"report written; {sent} emails in the outbox, including the report to leadership")
    return files


def _date_back(cycle: Any, delta: timedelta) -> None:
    for name in ("opens_at", "closes_at", "launched_at", "opened_at", "closed_at", "sealed_at"):
        value = getattr(cycle, name)
        if value is not None:
            setattr(cycle, name, value - delta)


def _group_of_link(session: Any, link: str) -> str:
    """The group a synthetic person belongs to (the demo plays each person, so it may look)."""
    check = resolve_token(session, link.rsplit("/s/", 1)[1])
    if check.invitation is None:
        raise click.ClickException("a demo link did not resolve")
    return check.invitation.group.key


def _run_jobs(app: Flask, now: datetime) -> None:
    """Everything the scheduler would do at `now` (the demo moves the clock, not the calendar)."""
    # Forced: the demo acts as of times it chooses, on a throwaway database of its own.
    for outcome in run_once(app, now, force=True):
        if not outcome.ok:
            raise click.ClickException(f"job {outcome.job.id} {outcome.summary}")


@click.command("demo")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the throwaway database, the outbox and the report (default: a temp folder).",
)
def demo_command(out: Path | None) -> None:
    """A whole synthetic cycle end to end on a throwaway database; prints the report's path."""
    folder = out or Path(tempfile.mkdtemp(prefix="mat-review-demo-"))
    files = run_demo(folder.resolve())
    for name in ("report.pdf", "results.xlsx", "summary.csv", "heatmap.png", "gaps.png"):
        if name in files:
            click.echo(f"  {name}: {files[name]}")
    click.echo(f"report: {files['report.html']}")
