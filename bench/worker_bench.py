"""The memory of one gunicorn worker of the real app after it has served the respondent's path
(the personal link, the form, submits) for a while: its resident set size, and whether it has
loaded modules a web worker never needs (the scheduler, the report compiler)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from common import BASE_URL, gunicorn, make_app, prepare_database, scratch_database, server_env
from setup_data import create_cycle_with_people, write_links
from web_bench import run_locust

from survey.db import db
from survey.services.frameworks import get_cycle_framework, get_cycle_scope

TARGET_RSS_MB = 70.0


def _worker_pids(master: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{master}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no VmRSS for process {pid}")


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
        with gunicorn("survey:create_app()", env, workers=1, pid_file=pid_file) as host:
            stats = run_locust("SubmitUser", host, 1, seconds, links, env)
            [worker] = _worker_pids(int(pid_file.read_text()))
            rss = _rss_mb(worker)
        with app.app_context():
            db.engine.dispose()
    served = {name: int(figures["requests"]) for name, figures in stats.items()}
    return {
        "seconds": seconds,
        "served": served,
        "worker_rss_mb": rss,
        "target": {"rss_mb_below": TARGET_RSS_MB},
        "met": {"rss": rss < TARGET_RSS_MB},
    }
