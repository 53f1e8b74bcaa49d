"""Benchmark 3: compiling reports from PostgreSQL.

`load` fills a database with a season: 1,100 closed cycles (one of them the large cycle, 500
responses, whose previous cycle is also in the season), 35,000 responses and 490,000 ratings,
with invitations to match, bulk-loaded with COPY.

`measure` runs in a process of its own (so its peak memory is its own) and times, after a warm-up:
- `large`: the large cycle's figures (`compile_cycle`), the same plus all six files
  (`render_report_files`: HTML, PDF, XLSX, CSV, PNG), and the floor: the same ratings read by the
  same query into a DataFrame and reduced with a bare `groupby().mean()`;
- `season`: every cycle's figures one after another, and the floor for every cycle.
It prints one JSON object on stdout.

    python bench/compile_bench.py load --url URL [--quick]
    python bench/compile_bench.py measure --url URL --scenario large|season
"""

from __future__ import annotations

import argparse
import json
import math
import random
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from common import current_rss_mb, make_app, prepare_database, rss_mb
from sqlalchemy.orm import Session

import framework as fw
from survey.models import Cycle, CycleState, Group, Rating, Response, Trust
from survey.services.frameworks import get_current_version, get_framework
from survey.timeutil import utcnow

FULL = {"cycles": 1100, "responses": 35_000}
QUICK = {"cycles": 110, "responses": 3_500}
LARGE_RESPONSES = 500
PREVIOUS_RESPONSES = 450
GROUPS = (("executive", "Executive leaders and chair", 0.12),
          ("headteacher", "Headteachers", 0.38),
          ("middle-leader", "Middle leaders", 0.50))  # fmt: skip
COMMENT_SHARE = 0.3
DONT_KNOW_SHARE = 0.05
SENTENCES = (
    "The board minutes show this is discussed every term, but actions are not always followed up.",
    "Headteachers know the vision; middle leaders in two schools could not say what it means.",
    "Our central team is stretched: one person covers finance, estates and HR for nine schools.",
    "Evidence: the trust improvement plan, the annual review and the last two peer reviews.",
    "Moderation across schools is strong in English and mathematics, weaker in the foundation "
    "subjects.",
    "The scheme of delegation was rewritten last year and is now clear about who decides what.",
    "Risk register is reviewed by the audit and risk committee; school-level risks feed into it.",
    "We do not yet have a shared approach to curriculum; each school plans on its own.",
    "Recruitment of trustees with education expertise remains difficult in our area.",
    "Pupil outcomes have improved in six of eight schools; the other two have new headteachers.",
)


# -- loading ------------------------------------------------------------------------------------


def _sizes(cycles: int, responses: int, rng: random.Random) -> list[int]:
    """Responses per cycle: the large cycle, its previous cycle, then varied small cycles that
    together make up exactly `responses`."""
    rest = responses - LARGE_RESPONSES - PREVIOUS_RESPONSES
    weights = [rng.uniform(0.25, 1.75) for _ in range(cycles - 2)]
    scale = rest / sum(weights)
    sizes = [max(3, round(w * scale)) for w in weights]
    diff = rest - sum(sizes)
    i = 0
    while diff:
        step = 1 if diff > 0 else -1
        if sizes[i % len(sizes)] + step >= 3:
            sizes[i % len(sizes)] += step
            diff -= step
        i += 1
    return [LARGE_RESPONSES, PREVIOUS_RESPONSES, *sizes]


def _split(n: int) -> list[int]:
    counts = [math.floor(n * share) for _, _, share in GROUPS]
    counts[-1] += n - sum(counts)
    return counts


def load_season(url: str, *, quick: bool, seed: int = 20240901) -> dict[str, Any]:
    """Fill the (prepared, empty) database at `url` with a season; returns what was loaded."""
    shape = QUICK if quick else FULL
    rng = random.Random(seed)
    started = time.perf_counter()
    instance = Path(tempfile.mkdtemp(prefix="mat-review-bench-"))
    app = make_app(url, instance)
    with app.app_context():
        from survey.db import db

        session = db.session
        version = get_current_version(session, "mat-assurance")
        loaded = get_framework(session, version.key, version.version)
        codes = [e.code for e in loaded.elements_in_scope(fw.parse_scope("all"))]
        scale = loaded.scale
        sizes = _sizes(shape["cycles"], shape["responses"], rng)
        now = utcnow()
        closes, opens = now - timedelta(days=30), now - timedelta(days=60)

        trust_ids = list(
            session.scalars(
                sa.insert(Trust).returning(Trust.id, sort_by_parameter_order=True),
                [
                    {
                        "slug": f"trust-{i}",
                        "name": f"Trust {i}",
                        "timezone": "Europe/London",
                        "created_at": now,
                    }
                    for i in range(len(sizes) - 1)
                ],
            )
        )
        # Cycle 0 is the large cycle and cycle 1 its previous cycle, in the same trust.
        cycle_rows = []
        for i, _ in enumerate(sizes):
            is_previous = i == 1
            cycle_rows.append(
                {
                    "trust_id": trust_ids[0] if i <= 1 else trust_ids[i - 1],
                    "title": "Last year's review" if is_previous else f"Autumn review {i}",
                    "framework_key": version.key,
                    "framework_version": version.version,
                    "scope": "all",
                    "state": CycleState.REPORTED if is_previous else CycleState.CLOSED,
                    "opens_at": opens - timedelta(days=365 if is_previous else 0),
                    "closes_at": closes - timedelta(days=365 if is_previous else 0),
                    "min_group_size": 3,
                    "min_comment_group_size": 5,
                    "report_recipients": "ceo@trust.example",
                    "reminder_days": "7,2",
                    "remind_at_weekends": False,
                    "created_at": opens,
                    "launched_at": opens,
                    "opened_at": opens,
                    "closed_at": closes,
                    "sealed_at": closes,
                }
            )
        cycle_ids = list(
            session.scalars(
                sa.insert(Cycle).returning(Cycle.id, sort_by_parameter_order=True), cycle_rows
            )
        )
        session.execute(
            sa.update(Cycle).where(Cycle.id == cycle_ids[0]).values(previous_cycle_id=cycle_ids[1])
        )
        group_rows = [
            {"cycle_id": cycle_id, "key": key, "label": label, "is_open": False, "position": p}
            for cycle_id in cycle_ids
            for p, (key, label, _) in enumerate(GROUPS)
        ]
        group_ids = list(
            session.scalars(
                sa.insert(Group).returning(Group.id, sort_by_parameter_order=True), group_rows
            )
        )
        session.commit()

        invitations: list[tuple[Any, ...]] = []
        responses: list[tuple[str, int, int]] = []
        ratings: list[tuple[Any, ...]] = []
        for c, (cycle_id, size) in enumerate(zip(cycle_ids, sizes, strict=True)):
            for g, answered in enumerate(_split(size)):
                group_id = group_ids[c * len(GROUPS) + g]
                invited = answered + math.ceil(answered * 0.15) + 1
                for n in range(invited):
                    invitations.append(
                        (cycle_id, group_id, f"p{n}-g{g}@school{c}.example", f"Person {n}", None,
                         n < answered, n >= answered and n % 3 == 0, "sent", None, closes, 0,
                         False)
                    )  # fmt: skip
                # Each (group, element) leans towards its own level, so figures differ.
                leaning = {code: rng.uniform(1.2, 3.8) for code in codes}
                for _ in range(answered):
                    response_id = secrets.token_hex(16)
                    responses.append((response_id, cycle_id, group_id))
                    for code in codes:
                        if rng.random() < DONT_KNOW_SHARE:
                            key, score = fw.DONT_KNOW, None
                        else:
                            level = min(4, max(1, round(rng.gauss(leaning[code], 0.8))))
                            key, score = scale.keys[level - 1], level
                        text = rng.choice(SENTENCES) if rng.random() < COMMENT_SHARE else None
                        ratings.append((response_id, code, key, score, text))
        session.close()

    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cursor:
            for table, columns, rows in (
                ("invitations", "cycle_id, group_id, email, name, school, is_completed, "
                 "is_declined, delivery_status, delivery_error, sent_at, reminders_sent, "
                 "is_purged", invitations),
                ("responses", "id, cycle_id, group_id", responses),
                ("ratings", "response_id, element_code, scale_key, score, rationale", ratings),
            ):  # fmt: skip
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            cursor.execute("ANALYZE")
        conn.commit()
    finally:
        raw.close()
        engine.dispose()
    return {
        "cycles": len(cycle_ids),
        "responses": len(responses),
        "ratings": len(ratings),
        "invitations": len(invitations),
        "large_cycle_id": cycle_ids[0],
        "load_seconds": round(time.perf_counter() - started, 2),
    }


# -- measuring ----------------------------------------------------------------------------------


def floor_means(session: Session, cycle_id: int) -> pd.Series:
    """The floor: the ratings read by the same query the compile step uses (with the score
    instead of the key), into a DataFrame, then one bare groupby().mean()."""
    rows = session.execute(
        sa.select(Response.group_id, Rating.element_code, Rating.score)
        .join(Response, Rating.response_id == Response.id)
        .where(Response.cycle_id == cycle_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["group_id", "element_code", "score"])
    return frame.groupby(["group_id", "element_code"])["score"].mean()


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _peak_traced_mb(fn: Callable[[], object]) -> float:
    """Peak memory allocated while `fn` runs (tracemalloc; numpy and pandas report to it)."""
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (1024 * 1024)


def measure(url: str, scenario: str, repeat: int) -> dict[str, Any]:
    from survey.reports.compile import compile_cycle
    from survey.reports.outputs import render_report_files

    instance = Path(tempfile.mkdtemp(prefix="mat-review-bench-"))
    app = make_app(url, instance)
    new_session: Callable[[], Session] = app.extensions["mat_review_db"][1]
    with app.app_context():
        with new_session() as session:
            cycle_ids = list(session.scalars(sa.select(Cycle.id).order_by(Cycle.id)))
            large_id = cycle_ids[0]

        def figures(cycle_id: int) -> object:
            with new_session() as session:
                cycle = session.get(Cycle, cycle_id)
                assert cycle is not None
                return compile_cycle(session, cycle)

        def all_files(cycle_id: int) -> object:
            with new_session() as session:
                cycle = session.get(Cycle, cycle_id)
                assert cycle is not None
                return render_report_files(compile_cycle(session, cycle))

        def floor(cycle_id: int) -> object:
            with new_session() as session:
                return floor_means(session, cycle_id)

        # Warm-up on a small cycle: imports (WeasyPrint, matplotlib, openpyxl), the parsed
        # framework, the connection pool and the server's caches, as in a long-running scheduler.
        all_files(cycle_ids[-1])
        floor(cycle_ids[-1])
        rss_before = current_rss_mb()

        if scenario == "large":
            figure_times = [_timed(lambda: figures(large_id)) for _ in range(repeat)]
            floor_times = [_timed(lambda: floor(large_id)) for _ in range(repeat)]
            figures_traced = _peak_traced_mb(lambda: figures(large_id))
            floor_traced = _peak_traced_mb(lambda: floor(large_id))
            # The six files are measured last, by the growth of the process's peak RSS
            # (tracing every allocation of WeasyPrint would take minutes).
            peak_before_files = rss_mb()
            file_times = [_timed(lambda: all_files(large_id)) for _ in range(max(1, repeat - 1))]
            peak_rss = rss_mb()
            result = {
                "responses": _count(new_session, large_id, Response),
                "ratings": _rating_count(new_session, large_id),
                "figures_seconds": statistics.median(figure_times),
                "all_files_seconds": statistics.median(file_times),
                "floor_seconds": statistics.median(floor_times),
                "runs": repeat,
                "figures_peak_traced_mb": figures_traced,
                "floor_peak_traced_mb": floor_traced,
                "all_files_rss_growth_mb": max(0.0, peak_rss - max(peak_before_files, rss_before)),
            }
        else:
            started = time.perf_counter()
            for cycle_id in cycle_ids:
                figures(cycle_id)
            seconds = time.perf_counter() - started
            peak_rss = rss_mb()
            floor_seconds = _timed(lambda: [floor(cycle_id) for cycle_id in cycle_ids])
            result = {
                "cycles": len(cycle_ids),
                "responses": _count(new_session, None, Response),
                "ratings": _rating_count(new_session, None),
                "figures_seconds": seconds,
                "floor_seconds": floor_seconds,
            }
        result["rss_before_mb"] = rss_before
        result["peak_rss_mb"] = peak_rss
        result["rss_growth_mb"] = max(0.0, peak_rss - rss_before)
    return result


def _count(new_session: Callable[[], Session], cycle_id: int | None, model: Any) -> int:
    with new_session() as session:
        stmt = sa.select(sa.func.count()).select_from(model)
        if cycle_id is not None:
            stmt = stmt.where(model.cycle_id == cycle_id)
        return int(session.scalar(stmt) or 0)


def _rating_count(new_session: Callable[[], Session], cycle_id: int | None) -> int:
    with new_session() as session:
        stmt = sa.select(sa.func.count()).select_from(Rating)
        if cycle_id is not None:
            stmt = stmt.join(Response, Rating.response_id == Response.id).where(
                Response.cycle_id == cycle_id
            )
        return int(session.scalar(stmt) or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["load", "measure"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scenario", choices=["large", "season"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.command == "load":
        instance = Path(tempfile.mkdtemp(prefix="mat-review-bench-"))
        prepare_database(args.url, instance)
        output = load_season(args.url, quick=args.quick)
    else:
        if not args.scenario:
            parser.error("measure needs --scenario")
        output = measure(args.url, args.scenario, args.repeat)
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
