"""Benchmarks 1 and 2: submitting a response and the survey form page, through gunicorn (two sync
workers) on PostgreSQL, driven by locust in headless mode; each against the bare Flask app
(bench/bare_app.py) served by the same gunicorn setup, with the same locust user.

Each is run twice: with the stated number of concurrent clients (the headline figures: they keep
the two workers saturated, so latency there includes the time a request waits in the queue) and
with as many clients as workers ("unqueued": the time one request takes when it does not wait).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    BASE_URL,
    BENCH_DIR,
    BIN,
    ROOT,
    gunicorn,
    make_app,
    prepare_database,
    scratch_database,
    server_env,
)
from setup_data import create_cycle_with_people, write_links
from sqlalchemy import func, select

from survey.db import db
from survey.models import Invitation, Rating, Response
from survey.services.cycles import get_cycle_framework, get_cycle_scope

WORKERS = 2


@dataclass(frozen=True)
class Shape:
    users: int
    seconds: int
    unqueued_seconds: int
    # Invitations for the submit runs: comfortably more than the fastest run can use up.
    submit_links: int


FULL = Shape(users=50, seconds=30, unqueued_seconds=10, submit_links=6000)
QUICK = Shape(users=10, seconds=5, unqueued_seconds=3, submit_links=1200)


def run_locust(
    user_class: str, host: str, users: int, seconds: int, links: Path, env: dict[str, str]
) -> dict[str, dict[str, float]]:
    """One headless locust run; returns figures per request name, computed from every
    request's own timing (see `summarise`)."""
    with tempfile.TemporaryDirectory(prefix="mat-review-locust-") as folder:
        samples = Path(folder) / "samples.json"
        args = [
            str(BIN / "locust"), "-f", str(BENCH_DIR / "locustfile.py"), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host,
            "--only-summary", "--loglevel", "ERROR", user_class,
        ]  # fmt: skip
        done = subprocess.run(
            args,
            env={**env, "BENCH_LINKS": str(links), "BENCH_SAMPLES": str(samples)},
            capture_output=True,
            text=True,
            cwd=str(ROOT),
            timeout=seconds + 120,
        )
        if not samples.exists():
            raise RuntimeError(f"locust failed ({done.returncode}): {done.stderr[-2000:]}")
        return summarise(json.loads(samples.read_text()))


def summarise(samples: list[list[Any]]) -> dict[str, dict[str, float]]:
    """Per request name: requests, failures, rate (answered requests per second over the run's
    span, from the first request sent to the last answer), exact latency percentiles of the
    answered ones."""
    if not samples:
        raise RuntimeError("locust made no requests")
    begin = min(start for _, start, _, _ in samples)
    end = max(start + elapsed / 1000 for _, start, elapsed, _ in samples)
    span = max(end - begin, 1e-9)
    figures: dict[str, dict[str, float]] = {}
    for name in sorted({sample[0] for sample in samples}):
        mine = [s for s in samples if s[0] == name]
        times = sorted(elapsed for _, _, elapsed, ok in mine if ok)
        figures[name] = {
            "requests": len(mine),
            "failures": len(mine) - len(times),
            "requests_per_second": len(times) / span,
            "p50_ms": _percentile(times, 50),
            "p95_ms": _percentile(times, 95),
            "p99_ms": _percentile(times, 99),
            "mean_ms": statistics.fmean(times) if times else 0.0,
            "max_ms": times[-1] if times else 0.0,
        }
    return figures


def _percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(percent / 100 * len(values)))
    return values[rank - 1]


def _figures(stats: dict[str, dict[str, float]], name: str) -> dict[str, float]:
    if name not in stats:
        raise RuntimeError(f"locust recorded no {name!r} requests: {sorted(stats)}")
    return stats[name]


def web_benchmarks(quick: bool) -> dict[str, Any]:
    shape = QUICK if quick else FULL
    with scratch_database("web") as url, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        instance = work / "instance"
        prepare_database(url, instance)
        app = make_app(url, instance)
        form_links, submit_links = work / "form-links.txt", work / "submit-links.txt"
        light_links = work / "submit-light-links.txt"
        with app.app_context():
            session = db.session
            light = shape.submit_links // 4
            people = shape.users + WORKERS + 8 + light + shape.submit_links
            cycle, invitations = create_cycle_with_people(session, people, title="Bench web")
            framework = get_cycle_framework(session, cycle)
            codes = [e.code for e in framework.elements_in_scope(get_cycle_scope(cycle))]
            scale = framework.scale.answer_keys
            first = shape.users + WORKERS + 8
            write_links(session, invitations[:first], form_links, BASE_URL)
            write_links(session, invitations[first : first + light], light_links, BASE_URL)
            write_links(session, invitations[first + light :], submit_links, BASE_URL)
            session.commit()
            cycle_id = cycle.id
        env = server_env(url, instance, BENCH_CODES=",".join(codes), BENCH_SCALE=",".join(scale))

        runs: dict[str, dict[str, dict[str, float]]] = {}
        with gunicorn("survey:create_app()", env, workers=WORKERS) as host:
            runs["form_unqueued"] = run_locust(
                "FormUser", host, WORKERS, shape.unqueued_seconds, form_links, env
            )
            runs["form"] = run_locust("FormUser", host, shape.users, shape.seconds, form_links, env)
            runs["submit_unqueued"] = run_locust(
                "SubmitUser", host, WORKERS, shape.unqueued_seconds, light_links, env
            )
            runs["submit"] = run_locust(
                "SubmitUser", host, shape.users, shape.seconds, submit_links, env
            )
        stored = _stored(app, cycle_id)
        with gunicorn("bare_app:app", env, workers=WORKERS, chdir=BENCH_DIR) as host:
            runs["form_floor"] = run_locust(
                "FormUser", host, shape.users, shape.seconds, form_links, env
            )
            runs["submit_floor"] = run_locust(
                "SubmitUser", host, shape.users, shape.seconds, submit_links, env
            )
        with app.app_context():
            db.engine.dispose()

    answered = sum(
        runs[k]["POST /survey"]["requests"] - runs[k]["POST /survey"]["failures"]
        for k in ("submit", "submit_unqueued")
    )
    used = sum(runs[k]["POST /survey"]["requests"] for k in ("submit", "submit_unqueued"))
    common = {"users": shape.users, "seconds": shape.seconds, "gunicorn_workers": WORKERS}
    submit: dict[str, Any] = {
        "measured": (
            "POST /survey with a rating and a rationale for all 14 elements (scope all), "
            "action=submit, 303 to /survey/done; each locust user does a respondent's whole path "
            "per iteration (personal link -> GET /survey -> POST) with a new invitation each "
            "time, and every step is timed on its own. Rate = submits answered per second."
        ),
        **common,
        **_headline(runs["submit"], "POST /survey"),
        "steps": {name: runs["submit"][name] for name in ("GET /s/<token>", "GET /survey")},
        "unqueued": {"users": WORKERS, **_headline(runs["submit_unqueued"], "POST /survey")},
        "floor": _headline(runs["submit_floor"], "POST /survey"),
        "stored_responses": stored["responses"],
        "stored_ratings": stored["ratings"],
        "submits_answered_303": answered,
        "invitations_left": shape.submit_links - runs["submit"]["POST /survey"]["requests"],
        "check": (
            "every 303 is a stored response"
            # Requests still in flight when locust stops are not counted by it, but may be stored.
            if answered <= stored["responses"] <= used + shape.users + WORKERS
            and stored["ratings"] == 14 * stored["responses"]
            else "MISMATCH between 303s and stored responses"
        ),
    }
    form: dict[str, Any] = {
        "measured": (
            "GET /survey with a valid session: the whole form (introduction, 14 elements with "
            "their questions and descriptors); each locust user opens one link, then asks for "
            "the form again and again."
        ),
        **common,
        **_headline(runs["form"], "GET /survey"),
        "unqueued": {"users": WORKERS, **_headline(runs["form_unqueued"], "GET /survey")},
        "floor": _headline(runs["form_floor"], "GET /survey"),
    }
    for result, p95_target in ((submit, 100.0), (form, 50.0)):
        result["ratio_to_floor"] = result["requests_per_second"] / max(
            result["floor"]["requests_per_second"], 1e-9
        )
        result["targets"] = {"p95_ms_below": p95_target, "ratio_at_least": 0.4}
        result["met"] = {
            "p95": result["p95_ms"] < p95_target,
            "p95_unqueued": result["unqueued"]["p95_ms"] < p95_target,
            "ratio": result["ratio_to_floor"] >= 0.4,
        }
    return {"submit": submit, "form": form}


def _headline(stats: dict[str, dict[str, float]], name: str) -> dict[str, float]:
    figures = _figures(stats, name)
    return {k: figures[k] for k in ("requests_per_second", "p50_ms", "p95_ms", "p99_ms",
                                     "mean_ms", "requests", "failures")}  # fmt: skip


def _stored(app: Any, cycle_id: int) -> dict[str, int]:
    with app.app_context():
        session = db.session
        responses = session.scalar(
            select(func.count()).select_from(Response).where(Response.cycle_id == cycle_id)
        )
        ratings = session.scalar(
            select(func.count())
            .select_from(Rating)
            .join(Response, Rating.response_id == Response.id)
            .where(Response.cycle_id == cycle_id)
        )
        completed = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.cycle_id == cycle_id, Invitation.is_completed.is_(True))
        )
        session.close()
    assert responses == completed, (responses, completed)
    return {"responses": int(responses or 0), "ratings": int(ratings or 0)}
