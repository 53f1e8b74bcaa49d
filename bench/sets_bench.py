"""Benchmark: a learning set's report and the deployment benchmark, from stored figures.

A season's published figures (1,100 trusts, 35,000 responses: for each trust's reported cycle,
the `report_figures` rows its report stores, 14 elements by its shown groups and 'all') are
inserted directly into a SQLite database (the embedded default). Then, each in a new session:
- `set`: a learning set of 8 trusts, two shared cycles each (so movement too): every figure of
  its report (`build_set_report`), target under 1 s;
- `benchmark`: the deployment benchmark over every opted-in trust (`build_benchmark`, then each
  trust's quarter per element), target under 10 s.
Each beside a floor: pandas reading the same stored rows and computing the same figures
(each trust's 'all' means by element; the quartiles per element) with bare groupby/quantile.

    python bench/sets_bench.py [--trusts N] [--responses N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from common import make_app, prepare_database

import framework as fw
from survey.db import db
from survey.models import (
    BenchmarkOptIn,
    Cycle,
    CycleState,
    Group,
    LearningSet,
    MembershipState,
    Report,
    ReportFigure,
    SetMembership,
    SetShare,
    Trust,
)
from survey.reports import set_figures
from survey.services.frameworks import get_current_version
from survey.timeutil import utcnow

FULL = {"trusts": 1100, "responses": 35_000}
SET_SIZE = 8
GROUPS = (
    ("executive", "Executive leaders and chair", 0.12),
    ("headteacher", "Headteachers", 0.38),
    ("middle-leader", "Middle leaders", 0.50),
)
MIN_GROUP = 3


def _median_seconds(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def load(app: Any, trusts: int, responses: int, seed: int = 19) -> dict[str, Any]:
    """Insert the season's stored figures, the opt-ins and one set of 8 (fast bulk inserts)."""
    rng = random.Random(seed)
    framework = fw.load_builtin("mat-assurance")
    codes = [e.code for e in framework.elements]
    keys = framework.scale.keys
    with app.app_context():
        version = get_current_version(db.session, "mat-assurance").version
        conn = db.session.connection()
        now = utcnow()
        conn.execute(
            sa.insert(Trust),
            [
                {
                    "id": i,
                    "slug": f"trust-{i}",
                    "name": f"Trust {i}",
                    "timezone": "Europe/London",
                    "created_at": now,
                }
                for i in range(1, trusts + 1)
            ],
        )
        # Each trust one reported cycle; the set's trusts one more a year before (movement).
        set_trusts = rng.sample(range(1, trusts + 1), SET_SIZE)
        cycles: list[dict[str, Any]] = []
        for trust_id in range(1, trusts + 1):
            years = (1, 0) if trust_id in set_trusts else (0,)
            for back in years:
                closes = now - timedelta(days=30 + 365 * back)
                cycles.append(
                    {
                        "id": len(cycles) + 1,
                        "trust_id": trust_id,
                        "title": f"Review {back}",
                        "framework_key": "mat-assurance",
                        "framework_version": version,
                        "scope": "all",
                        "state": CycleState.REPORTED.value,
                        "opens_at": closes - timedelta(days=21),
                        "closes_at": closes,
                        "min_group_size": 3,
                        "min_comment_group_size": 5,
                        "report_recipients": "",
                        "reminder_days": "7,2",
                        "remind_at_weekends": False,
                        "is_report_held": False,
                        "comment_review_version": 0,
                        "created_at": now,
                    }
                )
        conn.execute(sa.insert(Cycle), cycles)
        conn.execute(
            sa.insert(Group),
            [
                {
                    "cycle_id": c["id"],
                    "key": key,
                    "label": label,
                    "is_open": False,
                    "position": p,
                }
                for c in cycles
                for p, (key, label, _) in enumerate(GROUPS)
            ],
        )
        conn.execute(
            sa.insert(Report),
            [{"id": c["id"], "cycle_id": c["id"], "compiled_at": now} for c in cycles],
        )
        per_cycle = responses / len(cycles)
        figures: list[dict[str, Any]] = []
        total_responses = 0
        for c in cycles:
            size = max(4, round(rng.gauss(per_cycle, per_cycle / 3)))
            sizes = [max(1, round(size * share)) for _, _, share in GROUPS]
            total_responses += sum(sizes)
            shown = [(g, n) for g, n in zip(GROUPS, sizes, strict=True) if n >= MIN_GROUP]
            lean = rng.uniform(-0.8, 0.8)
            for code in codes:
                totals = dict.fromkeys(keys, 0)
                dont_total, responses_total = 0, 0
                for (key, label, _), n in shown:
                    counts = dict.fromkeys(keys, 0)
                    dont = 0
                    for _ in range(n):
                        if rng.random() < 0.05:
                            dont += 1
                            continue
                        score = min(4, max(1, round(rng.gauss(2.6 + lean, 0.8))))
                        counts[keys[score - 1]] += 1
                    figures.append(_figure(c["id"], code, key, label, n, counts, dont))
                    for k in keys:
                        totals[k] += counts[k]
                    dont_total += dont
                    responses_total += n
                if shown:
                    figures.append(
                        _figure(
                            c["id"],
                            code,
                            "all",
                            "All shown groups",
                            responses_total,
                            totals,
                            dont_total,
                        )
                    )
        for start in range(0, len(figures), 20_000):
            conn.execute(sa.insert(ReportFigure), figures[start : start + 20_000])
        conn.execute(
            sa.insert(BenchmarkOptIn),
            [
                {"trust_id": i, "framework_key": "mat-assurance", "opted_in_at": now}
                for i in range(1, trusts + 1)
            ],
        )
        lset = LearningSet(name="Bench set", framework_key="mat-assurance")
        db.session.add(lset)
        db.session.flush()
        letters = rng.sample("ABCDEFGHIJKLMNOPQRSTUVWXYZ", SET_SIZE)
        conn.execute(
            sa.insert(SetMembership),
            [
                {
                    "set_id": lset.id,
                    "trust_id": t,
                    "state": MembershipState.ACCEPTED.value,
                    "letter": letter,
                    "invited_email": f"ceo@trust-{t}.example",
                    "invited_at": now,
                }
                for t, letter in zip(set_trusts, letters, strict=True)
            ],
        )
        conn.execute(
            sa.insert(SetShare),
            [
                {
                    "set_id": lset.id,
                    "trust_id": c["trust_id"],
                    "cycle_id": c["id"],
                    "as_name": c["trust_id"] % 2 == 0,
                    "shared_at": now,
                }
                for c in cycles
                if c["trust_id"] in set_trusts
            ],
        )
        db.session.commit()
        return {
            "trusts": trusts,
            "cycles": len(cycles),
            "responses": total_responses,
            "figures": len(figures),
            "set_id": lset.id,
            "set_report_ids": [c["id"] for c in cycles if c["trust_id"] in set_trusts],
        }


def _figure(
    report_id: int, code: str, key: str, label: str, n: int, counts: dict[str, int], dont: int
) -> dict[str, Any]:
    rated = sum(counts.values())
    total = sum(i * v for i, v in enumerate(counts.values(), start=1))
    return {
        "report_id": report_id,
        "element_code": code,
        "group_key": key,
        "group_label": label,
        "responses": n,
        "rated": rated,
        "score_total": total,
        "dont_know": dont,
        "counts": ",".join(f"{k}={v}" for k, v in counts.items()),
        "mean": f"{total / rated:.2f}" if rated else "",
    }


def measure(app: Any, loaded: dict[str, Any], repeat: int) -> dict[str, Any]:
    with app.app_context():
        engine = db.engine

        def set_report() -> set_figures.SetReport:
            db.session.rollback()
            db.session.expunge_all()
            lset = db.session.get(LearningSet, loaded["set_id"])
            assert lset is not None
            report = set_figures.build_set_report(db.session, lset)
            db.session.rollback()
            return report

        def deployment() -> dict[int, dict[str, int]]:
            db.session.rollback()
            db.session.expunge_all()
            table = set_figures.build_benchmark(db.session, "mat-assurance")
            db.session.rollback()
            return set_figures.all_positions(table)

        ids = ",".join(str(i) for i in loaded["set_report_ids"])

        def set_floor() -> pd.DataFrame:
            with engine.connect() as conn:
                frame = pd.read_sql_query(
                    sa.text(
                        "SELECT report_id, element_code, group_key, mean FROM report_figures "
                        f"WHERE report_id IN ({ids})"
                    ),
                    conn,
                )
            frame["mean"] = pd.to_numeric(frame["mean"])
            trust_means = frame[frame.group_key == "all"].pivot_table(
                index="element_code", columns="report_id", values="mean"
            )
            groups = frame[frame.group_key != "all"].groupby(["group_key", "element_code"])
            return pd.concat([trust_means.mean(axis=1), groups["mean"].mean()])

        def benchmark_floor() -> pd.DataFrame:
            with engine.connect() as conn:
                frame = pd.read_sql_query(
                    sa.text(
                        "SELECT c.trust_id, f.element_code, f.mean FROM report_figures f "
                        "JOIN reports r ON r.id = f.report_id JOIN cycles c ON c.id = r.cycle_id "
                        "JOIN benchmark_opt_ins o ON o.trust_id = c.trust_id "
                        "WHERE f.group_key = 'all' AND c.closes_at = (SELECT max(c2.closes_at) "
                        "FROM cycles c2 WHERE c2.trust_id = c.trust_id)"
                    ),
                    conn,
                )
            frame["mean"] = pd.to_numeric(frame["mean"])
            cuts = frame.groupby("element_code")["mean"].quantile([0.25, 0.5, 0.75]).unstack()
            joined = frame.join(cuts, on="element_code")
            joined["quarter"] = (
                1
                + (joined["mean"] >= joined[0.25]).astype(int)
                + (joined["mean"] >= joined[0.5]).astype(int)
                + (joined["mean"] >= joined[0.75]).astype(int)
            )
            return joined

        set_report()  # warm-up: imports, the framework cache, the statement cache
        deployment()
        set_seconds, report = _median_seconds(set_report, repeat)
        set_floor_seconds, _ = _median_seconds(set_floor, repeat)
        bench_seconds, positions = _median_seconds(deployment, repeat)
        bench_floor_seconds, _ = _median_seconds(benchmark_floor, repeat)
    return {
        "set": {
            "trusts": len(report.trusts),
            "elements": len(report.elements),
            "movement_rows": len(report.movement),
            "seconds": set_seconds,
            "floor_seconds": set_floor_seconds,
            "ratio_to_floor": set_seconds / set_floor_seconds,
            "target_seconds_below": 1.0,
            "met": set_seconds < 1.0,
        },
        "benchmark": {
            "trusts": len(positions),
            "seconds": bench_seconds,
            "floor_seconds": bench_floor_seconds,
            "ratio_to_floor": bench_seconds / bench_floor_seconds,
            "target_seconds_below": 10.0,
            "met": bench_seconds < 10.0,
        },
    }


def sets_benchmark(
    trusts: int = FULL["trusts"], responses: int = FULL["responses"], repeat: int = 3
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mat-review-sets-bench-") as folder:
        instance = Path(folder)
        url = f"sqlite:///{instance / 'sets.sqlite3'}"
        prepare_database(url, instance)
        app = make_app(url, instance)
        started = time.perf_counter()
        loaded = load(app, trusts, responses)
        loaded["load_seconds"] = time.perf_counter() - started
        result = measure(app, loaded, repeat)
        with app.app_context():
            db.engine.dispose()
    loaded.pop("set_report_ids")
    result["load"] = loaded
    result["database"] = "sqlite (the embedded default)"
    result["floor"] = (
        "pandas: read_sql of the same stored rows, then pivot/groupby means (set) and groupby "
        "quantiles with each trust's quarter (benchmark)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trusts", type=int, default=FULL["trusts"])
    parser.add_argument("--responses", type=int, default=FULL["responses"])
    args = parser.parse_args()
    print(json.dumps(sets_benchmark(args.trusts, args.responses)))


if __name__ == "__main__":
    main()
