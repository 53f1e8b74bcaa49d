"""The memory of one gunicorn worker of the real app after it has served the respondent's path
(the personal link, the form, submits) for a while: its resident set size, and whether it has
loaded modules a web worker never needs (the scheduler, the report compiler)."""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from common import (
    APP_CONFIG,
    BASE_URL,
    gunicorn,
    make_app,
    prepare_database,
    scratch_database,
    server_env,
)
from setup_data import create_cycle_with_people, write_links
from web_bench import run_locust

from survey.db import db
from survey.services.frameworks import get_cycle_framework, get_cycle_scope

TARGET_RSS_MB = 70.0
# The floor app is preloaded in gunicorn's master like the real one (survey.gunicorn_config), but
# has no database engine to dispose of after the fork.
FLOOR_CONFIG = str(Path(__file__).with_name("gunicorn_floor_config.py"))


def _worker_pids(master: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{master}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def memory_mb(pid: int) -> dict[str, float]:
    """A process's memory from /proc/PID/smaps_rollup, in MB: `rss` counts every resident page
    it maps (shared library and copy-on-write pages included, in full); `pss` divides each page
    by the processes sharing it; `uss` is the pages this process alone holds (what ending it
    would free); `anon` its private heap and stack."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)  # kB
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return {
        "rss": fields["Rss"] / 1024,
        "pss": fields["Pss"] / 1024,
        "uss": uss / 1024,
        "anon": fields["Anonymous"] / 1024,
    }


def memory_by_mapping(pid: int, top: int = 12) -> list[tuple[str, float, float]]:
    """The mappings that hold most of a process's resident memory: (name, RSS MB, PSS MB)."""
    totals: dict[str, list[float]] = {}
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anonymous]"
        elif head[0] in ("Rss:", "Pss:"):
            slot = totals.setdefault(name, [0.0, 0.0])
            slot[head[0] == "Pss:"] += int(head[1]) / 1024
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    return [(name, round(rss, 1), round(pss, 1)) for name, (rss, pss) in ranked]


def libraries_floor(env: dict[str, str], work: Path, app: str = "app") -> dict[str, float]:
    """The memory of a gunicorn worker (same settings, same preloading) whose app uses only the
    third-party libraries mat-review's worker needs (bench/libs_floor_app.py: `app` imports
    them, `working_app` also makes them do the respondent path's library work), after it has
    served a few requests."""
    pid_file = work / f"floor-{app}.pid"
    with gunicorn(
        f"libs_floor_app:{app}",
        env,
        workers=1,
        chdir=Path(__file__).parent,
        pid_file=pid_file,
        config=FLOOR_CONFIG,
        health_path="/",
    ) as host:
        for _ in range(20):
            with urllib.request.urlopen(host + "/s/x") as reply:
                reply.read()
        [worker] = _worker_pids(int(pid_file.read_text()))
        return memory_mb(worker)


def worker_benchmark(quick: bool) -> dict[str, Any]:
    seconds = 5 if quick else 20
    with scratch_database("worker") as url, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        instance = work / "instance"
        prepare_database(url, instance)
        app = make_app(url, instance)
        links = work / "links.txt"
        with app.app_context():
            session = db.session
            cycle, invitations = create_cycle_with_people(session, 400, title="Bench worker")
            framework = get_cycle_framework(session, cycle)
            codes = [e.code for e in framework.elements_in_scope(get_cycle_scope(cycle))]
            scale = framework.scale.answer_keys
            write_links(session, invitations, links, BASE_URL)
            session.commit()
        env = server_env(url, instance, BENCH_CODES=",".join(codes), BENCH_SCALE=",".join(scale))
        pid_file = work / "gunicorn.pid"
        with gunicorn(
            "survey:create_app()", env, workers=1, pid_file=pid_file, config=APP_CONFIG
        ) as host:
            stats = run_locust("SubmitUser", host, 1, seconds, links, env)
            [worker] = _worker_pids(int(pid_file.read_text()))
            memory = memory_mb(worker)
            mappings = memory_by_mapping(worker)
            master = memory_mb(int(pid_file.read_text()))
        with app.app_context():
            db.engine.dispose()
        floor = libraries_floor(env, work)
        working = libraries_floor(env, work, "working_app")
    served = {name: int(figures["requests"]) for name, figures in stats.items()}
    return {
        "seconds": seconds,
        "served": served,
        "worker_rss_mb": memory["rss"],
        "worker_pss_mb": memory["pss"],
        "worker_uss_mb": memory["uss"],
        "worker_anon_mb": memory["anon"],
        "master_pss_mb": master["pss"],
        "master_uss_mb": master["uss"],
        "largest_mappings": mappings,
        "libraries_floor_rss_mb": floor["rss"],
        "libraries_floor_pss_mb": floor["pss"],
        "ratio_to_floor": memory["rss"] / floor["rss"],
        "working_floor_rss_mb": working["rss"],
        "working_floor_pss_mb": working["pss"],
        "working_floor_uss_mb": working["uss"],
        "ratio_to_working_floor": memory["rss"] / working["rss"],
        "target": {"rss_mb_below": TARGET_RSS_MB},
        "met": {"rss": memory["rss"] < TARGET_RSS_MB},
    }
