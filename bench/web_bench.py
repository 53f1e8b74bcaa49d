"""Benchmarks 1 and 2: submitting a response and the survey form page, through gunicorn (two sync
workers) on PostgreSQL, driven by locust in headless mode, each against a floor served by the same
gunicorn setup and driven by the same locust user:

- the submit against bench/db_floor_app.py, a bare WSGI function that issues the submit's own SQL
  (the cycle read FOR SHARE, the invitation's conditional update, the insert of a ballot of the
  same stored size, the draft delete) with psycopg 3, on a fresh invitation of a database of its
  own for every POST;
- the form page against bench/bare_app.py, a bare Flask app that serves a fixed page.

Each is run twice: with the stated number of concurrent clients (the headline figures: they keep
the two workers saturated, so latency there includes the time a request waits in the queue) and
with as many clients as workers ("unqueued": the time one request takes when it does not wait).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from common import (
    APP_CONFIG,
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
from flask import Flask
from setup_data import create_cycle_with_people, write_links
from sqlalchemy import func, select

from survey.db import db
from survey.models import Ballot, Cycle, Group, Invitation, Response
from survey.sealbox import box_size
from survey.services import ballots
from survey.services.frameworks import get_cycle_framework, get_cycle_scope

WORKERS = 2


@dataclass(frozen=True)
class Shape:
    users: int
    seconds: int
    unqueued_seconds: int
    # Invitations for the submit runs: comfortably more than the fastest run can use up; the
    # floor's, in a database of its own, for its two runs (it is several times faster).
    submit_links: int
    floor_links: int


FULL = Shape(users=50, seconds=30, unqueued_seconds=10, submit_links=6000, floor_links=20000)
QUICK = Shape(users=10, seconds=5, unqueued_seconds=3, submit_links=1200, floor_links=4000)

# The submit before ballots, for the "within 80 % of today's": the committed
# bench/results.json of d2323db (a full run on this 2-CPU machine, 2026-11-22T17:38:04Z, when a
# submit still wrote a response and its 14 ratings).
PREVIOUS_SUBMIT_RATE = 118.9101
PREVIOUS_SUBMIT = {
    "requests_per_second": PREVIOUS_SUBMIT_RATE,
    "p95_ms": 208.3431,
    "unqueued_p95_ms": 11.6378,
    "source": "bench/results.json at commit d2323db (run 2026-11-22T17:38:04+00:00), before "
    "ballots: the submit wrote one response and its 14 ratings",
}
SUBMIT_TARGETS = {
    "p95_ms_below": 100.0,  # 50 clients (queueing included), kept from earlier runs
    "unqueued_p95_ms_below": 20.0,
    "ratio_to_previous_at_least": 0.8,
}
FORM_TARGETS = {"p95_ms_below": 50.0, "ratio_at_least": 0.4}
# How many stored ballots the post-run check opens with the app's key.
BALLOTS_OPENED = 10
# Before the submit's runs, each server (ours, the floor) gets a short unrecorded warm-up with
# the same user (first requests of a worker: imports, templates, keys, the connection), so that
# the unqueued run's percentiles are not a cold start's. Its submits are counted by the check.
WARMUP_SECONDS = 2
WARMUP_LINKS = 1000
SUBMIT_RUNS = ("submit_warmup", "submit_unqueued", "submit")
FLOOR_RUNS = ("submit_floor_warmup", "submit_floor_unqueued", "submit_floor")


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


def web_benchmarks(quick: bool, wanted: Collection[str] = ("submit", "form")) -> dict[str, Any]:
    """The benchmarks in `wanted` ("submit", "form"), each followed by its floor."""
    shape = QUICK if quick else FULL
    results: dict[str, Any] = {}
    with (
        scratch_database("web") as url,
        scratch_database("floor") as floor_url,
        tempfile.TemporaryDirectory() as folder,
    ):
        work = Path(folder)
        instance = work / "instance"
        prepare_database(url, instance)
        app = make_app(url, instance)
        form_links, submit_links = work / "form-links.txt", work / "submit-links.txt"
        light_links = work / "submit-light-links.txt"
        warm_links = work / "submit-warmup-links.txt"
        with app.app_context():
            session = db.session
            light = shape.submit_links // 4
            people = shape.users + WORKERS + 8 + WARMUP_LINKS + light + shape.submit_links
            cycle, invitations = create_cycle_with_people(session, people, title="Bench web")
            framework = get_cycle_framework(session, cycle)
            codes = [e.code for e in framework.elements_in_scope(get_cycle_scope(cycle))]
            scale = framework.scale.answer_keys
            first = shape.users + WORKERS + 8
            write_links(session, invitations[:first], form_links, BASE_URL)
            if "submit" in wanted:
                rest = invitations[first:]
                write_links(session, rest[:WARMUP_LINKS], warm_links, BASE_URL)
                rest = rest[WARMUP_LINKS:]
                write_links(session, rest[:light], light_links, BASE_URL)
                write_links(session, rest[light:], submit_links, BASE_URL)
            session.commit()
            cycle_id = cycle.id
        env = server_env(url, instance, BENCH_CODES=",".join(codes), BENCH_SCALE=",".join(scale))

        runs: dict[str, dict[str, dict[str, float]]] = {}
        with gunicorn("survey:create_app()", env, workers=WORKERS, config=APP_CONFIG) as host:
            if "form" in wanted:
                runs["form_unqueued"] = run_locust(
                    "FormUser", host, WORKERS, shape.unqueued_seconds, form_links, env
                )
                runs["form"] = run_locust(
                    "FormUser", host, shape.users, shape.seconds, form_links, env
                )
            if "submit" in wanted:
                runs["submit_warmup"] = run_locust(
                    "SubmitUser", host, WORKERS, WARMUP_SECONDS, warm_links, env
                )
                runs["submit_unqueued"] = run_locust(
                    "SubmitUser", host, WORKERS, shape.unqueued_seconds, light_links, env
                )
                runs["submit"] = run_locust(
                    "SubmitUser", host, shape.users, shape.seconds, submit_links, env
                )
        if "form" in wanted:
            with gunicorn("bare_app:app", env, workers=WORKERS, chdir=BENCH_DIR) as host:
                runs["form_floor"] = run_locust(
                    "FormUser", host, shape.users, shape.seconds, form_links, env
                )
            results["form"] = _form_result(runs, shape)
        if "submit" in wanted:
            stored = _stored(app, cycle_id)
            ballot_bytes = box_size(ballots.padded_size(len(codes)))
            floor_env, floor_cycle, floor_links = _prepare_floor(
                floor_url, work, shape, ballot_bytes, env
            )
            with gunicorn("db_floor_app:app", floor_env, workers=WORKERS, chdir=BENCH_DIR) as host:
                runs["submit_floor_warmup"] = run_locust(
                    "SubmitUser", host, WORKERS, WARMUP_SECONDS, floor_links[0], floor_env
                )
                runs["submit_floor_unqueued"] = run_locust(
                    "SubmitUser", host, WORKERS, shape.unqueued_seconds, floor_links[1], floor_env
                )
                runs["submit_floor"] = run_locust(
                    "SubmitUser", host, shape.users, shape.seconds, floor_links[2], floor_env
                )
            floor_stored = _floor_stored(floor_url, floor_cycle)
            results["submit"] = _submit_result(
                runs, shape, stored, floor_stored, ballot_bytes, len(codes)
            )
        with app.app_context():
            db.engine.dispose()
    return results


def _prepare_floor(
    url: str, work: Path, shape: Shape, ballot_bytes: int, env: dict[str, str]
) -> tuple[dict[str, str], int, tuple[Path, ...]]:
    """The floor's own database: the same schema, an open cycle like ours and its invitations;
    links `/s/<invitation id>` for the floor's runs (warm-up, unqueued, headline)."""
    instance = work / "floor-instance"
    prepare_database(url, instance)
    app = make_app(url, instance)
    with app.app_context():
        session = db.session
        people = WARMUP_LINKS + shape.floor_links
        cycle, invitations = create_cycle_with_people(session, people, title="Floor")
        session.commit()
        ids, cycle_id = [i.id for i in invitations], cycle.id
        db.engine.dispose()
    light = WARMUP_LINKS + shape.floor_links // 4
    chunks = {"warmup": ids[:WARMUP_LINKS], "light": ids[WARMUP_LINKS:light], "main": ids[light:]}
    paths = []
    for name, chunk in chunks.items():
        paths.append(work / f"floor-{name}-links.txt")
        paths[-1].write_text("".join(f"/s/{i}\n" for i in chunk))
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    floor_env = {
        **env,
        "BENCH_FLOOR_DSN": dsn,
        "BENCH_FLOOR_CYCLE": str(cycle_id),
        "BENCH_BALLOT_BYTES": str(ballot_bytes),
    }
    return floor_env, cycle_id, tuple(paths)


def _form_result(runs: dict[str, dict[str, dict[str, float]]], shape: Shape) -> dict[str, Any]:
    form: dict[str, Any] = {
        "measured": (
            "GET /survey with a valid session: the whole form (introduction, 14 elements with "
            "their questions and descriptors); each locust user opens one link, then asks for "
            "the form again and again."
        ),
        "users": shape.users,
        "seconds": shape.seconds,
        "gunicorn_workers": WORKERS,
        **_headline(runs["form"], "GET /survey"),
        "unqueued": {"users": WORKERS, **_headline(runs["form_unqueued"], "GET /survey")},
        "floor": {
            "measured": "bench/bare_app.py: a bare Flask app serving a fixed page",
            **_headline(runs["form_floor"], "GET /survey"),
        },
    }
    form["ratio_to_floor"] = form["requests_per_second"] / max(
        form["floor"]["requests_per_second"], 1e-9
    )
    form["targets"] = FORM_TARGETS
    form["met"] = {
        "p95": form["p95_ms"] < FORM_TARGETS["p95_ms_below"],
        "p95_unqueued": form["unqueued"]["p95_ms"] < FORM_TARGETS["p95_ms_below"],
        "ratio": form["ratio_to_floor"] >= FORM_TARGETS["ratio_at_least"],
    }
    return form


def _submit_result(
    runs: dict[str, dict[str, dict[str, float]]],
    shape: Shape,
    stored: dict[str, Any],
    floor_stored: dict[str, Any],
    ballot_bytes: int,
    elements: int,
) -> dict[str, Any]:
    post = "POST /survey"
    answered = sum(runs[k][post]["requests"] - runs[k][post]["failures"] for k in SUBMIT_RUNS)
    used = sum(runs[k][post]["requests"] for k in SUBMIT_RUNS)
    floor_answered = sum(runs[k][post]["requests"] - runs[k][post]["failures"] for k in FLOOR_RUNS)
    floor_used = sum(runs[k][post]["requests"] for k in FLOOR_RUNS)
    # Requests still in flight when a locust run stops are not counted by it, but may be stored.
    in_flight = shape.users + 2 * WORKERS
    problems = []
    if not answered <= stored["ballots"] <= used + in_flight:
        problems.append(f"{stored['ballots']} ballots for {answered} 303s ({used} POSTs)")
    if stored["completed_invitations"] != stored["ballots"]:
        problems.append(f"{stored['completed_invitations']} completed invitations")
    if stored["responses"]:
        problems.append(f"{stored['responses']} responses written before close")
    if stored["ballot_sizes"] != [ballot_bytes]:
        problems.append(f"ballot sizes {stored['ballot_sizes']}, expected [{ballot_bytes}]")
    opened = set(stored["opened_ratings"]) | set(stored["opened_rationales"])
    if stored["ballots"] and opened != {elements}:
        problems.append(
            f"opened ballots hold {stored['opened_ratings']} ratings and "
            f"{stored['opened_rationales']} rationales"
        )
    if not floor_answered <= floor_stored["ballots"] <= floor_used + in_flight:
        problems.append(f"the floor stored {floor_stored['ballots']} ballots for {floor_answered}")
    if floor_stored["completed_invitations"] != floor_stored["ballots"]:
        problems.append(f"the floor completed {floor_stored['completed_invitations']} invitations")
    if floor_stored["ballot_sizes"] not in ([ballot_bytes], []):
        problems.append(f"the floor's ballot sizes {floor_stored['ballot_sizes']}")
    submit: dict[str, Any] = {
        "measured": (
            "POST /survey with a rating and a rationale for all 14 elements (scope all), "
            "action=submit, 303 to /survey/done: one sealed ballot, in the transaction that "
            "completes the invitation. Each locust user does a respondent's whole path per "
            "iteration (personal link -> GET /survey -> POST) with a new invitation each time, "
            "and every step is timed on its own. Rate = submits answered per second."
        ),
        "users": shape.users,
        "seconds": shape.seconds,
        "gunicorn_workers": WORKERS,
        **_headline(runs["submit"], post),
        "steps": {name: runs["submit"][name] for name in ("GET /s/<token>", "GET /survey")},
        "unqueued": {"users": WORKERS, **_headline(runs["submit_unqueued"], post)},
        "floor": {
            "measured": (
                "bench/db_floor_app.py: a bare WSGI function issuing the submit's SQL with "
                "psycopg 3 in one transaction per POST (cycle FOR SHARE, the invitation's "
                "conditional update, the insert of a random ballot of the same stored size, "
                "the draft delete) on a fresh invitation of its own database; same gunicorn "
                "command, same locust user"
            ),
            **_headline(runs["submit_floor"], post),
            "unqueued": {"users": WORKERS, **_headline(runs["submit_floor_unqueued"], post)},
            "ballots": floor_stored["ballots"],
            "completed_invitations": floor_stored["completed_invitations"],
            "submits_answered_303": floor_answered,
            "invitations_left": WARMUP_LINKS + shape.floor_links - floor_used,
        },
        "previous": PREVIOUS_SUBMIT,
        "ballot_bytes": stored["ballot_sizes"][0] if stored["ballot_sizes"] else None,
        "ballot_bytes_on_disk": stored["ballot_bytes_on_disk"],
        "ballot_elements": elements,
        "stored_ballots": stored["ballots"],
        "completed_invitations": stored["completed_invitations"],
        "stored_responses": stored["responses"],
        "opened_ballots": len(stored["opened_ratings"]),
        "submits_answered_303": answered,
        "invitations_left": shape.submit_links - runs["submit"][post]["requests"],
        "check": (
            "every 303 is a stored ballot of one size, each completing one invitation; the "
            f"opened ones hold {elements} ratings; no response before close"
            if not problems
            else "MISMATCH: " + "; ".join(problems)
        ),
    }
    submit["ratio_to_floor"] = submit["requests_per_second"] / max(
        submit["floor"]["requests_per_second"], 1e-9
    )
    submit["ratio_to_previous"] = submit["requests_per_second"] / PREVIOUS_SUBMIT_RATE
    submit["targets"] = SUBMIT_TARGETS
    submit["met"] = {
        "p95": submit["p95_ms"] < SUBMIT_TARGETS["p95_ms_below"],
        "p95_unqueued": submit["unqueued"]["p95_ms"] < SUBMIT_TARGETS["unqueued_p95_ms_below"],
        "ratio_to_previous": submit["ratio_to_previous"]
        >= SUBMIT_TARGETS["ratio_to_previous_at_least"],
    }
    return submit


def _headline(stats: dict[str, dict[str, float]], name: str) -> dict[str, float]:
    figures = _figures(stats, name)
    return {k: figures[k] for k in ("requests_per_second", "p50_ms", "p95_ms", "p99_ms",
                                     "mean_ms", "requests", "failures")}  # fmt: skip


def _stored(app: Flask, cycle_id: int) -> dict[str, Any]:
    """What the submits left in our database: ballots (their stored sizes, read from PostgreSQL),
    completed invitations, responses (none before close), and a sample of ballots opened with the
    app's key."""
    with app.app_context():
        session = db.session
        cycle = session.get(Cycle, cycle_id)
        assert cycle is not None
        framework, scope = get_cycle_framework(session, cycle), get_cycle_scope(cycle)
        in_cycle = Ballot.cycle_id == cycle_id
        count = session.scalar(select(func.count()).select_from(Ballot).where(in_cycle))
        sizes = session.scalars(
            select(func.octet_length(Ballot.sealed)).where(in_cycle).distinct()
        ).all()
        on_disk = session.scalar(
            select(func.max(func.pg_column_size(Ballot.sealed))).where(in_cycle)
        )
        completed = session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.cycle_id == cycle_id, Invitation.is_completed.is_(True))
        )
        responses = session.scalar(
            select(func.count()).select_from(Response).where(Response.cycle_id == cycle_id)
        )
        groups = set(session.scalars(select(Group.id).where(Group.cycle_id == cycle_id)))
        ids = session.scalars(select(Ballot.id).where(in_cycle)).all()
        ring = ballots.keyring()
        ratings: list[int] = []
        rationales: list[int] = []
        for ballot_id in random.sample(list(ids), min(BALLOTS_OPENED, len(ids))):
            box = session.scalars(select(Ballot.sealed).where(Ballot.id == ballot_id)).one()
            opened = ballots.unseal(ring, ballots.BALLOT, cycle_id, box, framework, scope)
            assert opened.group_id in groups, opened.group_id
            ratings.append(len(opened.ratings))
            rationales.append(len(opened.rationales))
        session.close()
    return {
        "ballots": int(count or 0),
        "ballot_sizes": sorted(int(s) for s in sizes),
        "ballot_bytes_on_disk": int(on_disk or 0),
        "completed_invitations": int(completed or 0),
        "responses": int(responses or 0),
        "opened_ratings": ratings,
        "opened_rationales": rationales,
    }


def _floor_stored(url: str, cycle_id: int) -> dict[str, Any]:
    """What the floor's POSTs left in its database."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(
            select(func.count()).select_from(Ballot).where(Ballot.cycle_id == cycle_id)
        )
        sizes = conn.scalars(
            select(func.octet_length(Ballot.sealed)).where(Ballot.cycle_id == cycle_id).distinct()
        ).all()
        completed = conn.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.cycle_id == cycle_id, Invitation.is_completed.is_(True))
        )
    engine.dispose()
    return {
        "ballots": int(count or 0),
        "ballot_sizes": sorted(int(s) for s in sizes),
        "completed_invitations": int(completed or 0),
    }
