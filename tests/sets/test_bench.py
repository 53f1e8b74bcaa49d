"""The `sets` part of `make bench` runs, at a tiny scale (not a timed test): it loads stored
figures, builds the set's report and the benchmark, and reports both against their floors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_sets_bench_part_runs_at_a_tiny_scale() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sets_bench, json; "
            "r = sets_bench.sets_benchmark(trusts=24, responses=800, repeat=1); "
            "print(json.dumps(r))",
        ],
        cwd=BENCH,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["set"]["trusts"] == 8 and result["set"]["elements"] == 14
    assert result["set"]["movement_rows"] > 0  # two cycles each: movement is compiled
    assert result["benchmark"]["trusts"] >= 20
    for part in ("set", "benchmark"):
        assert result[part]["floor_seconds"] > 0 and result[part]["ratio_to_floor"] > 0
    assert result["load"]["trusts"] == 24


def test_run_py_offers_the_sets_part() -> None:
    done = subprocess.run(
        [sys.executable, "run.py", "--only", "nonsense"],
        cwd=BENCH,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2 and "unknown benchmark" in done.stderr
    assert '"sets"' in (BENCH / "run.py").read_text()
