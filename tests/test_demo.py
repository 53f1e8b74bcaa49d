"""`mat-review demo`: a whole cycle end to end in well under a minute, showing the gap between
headteachers and executives that the research describes."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def test_demo_prints_the_report_path_and_shows_the_heads_versus_executives_gap(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "mat-review"), "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": str(BIN), "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "instance")},
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert elapsed < 60
    lines = done.stdout.strip().splitlines()
    # Progress is shown as it goes, and the last word is the report's path.
    assert any("answered through the survey form" in line for line in lines)
    report_html = Path(lines[-1].split()[-1])
    assert report_html.name == "report.html" and report_html.exists()
    folder = report_html.parent
    for name in ("report.pdf", "results.xlsx", "summary.csv", "heatmap.png"):
        assert (folder / name).stat().st_size > 0, name
    # Invitations, the previous year's and this year's, went to the file outbox.
    assert len(list((tmp_path / "demo" / "outbox").glob("*.eml"))) >= 82

    with (folder / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    means: dict[str, list[float]] = {}
    for row in rows:
        if row["suppressed"] == "false" and row["mean"]:
            means.setdefault(row["group"], []).append(float(row["mean"]))
    executives = sum(means["executive"]) / len(means["executive"])
    heads = sum(means["headteacher"]) / len(means["headteacher"])
    assert executives - heads > 0.5
    html = report_html.read_text()
    assert "Executive leaders and chair rate this" in html and "higher than Headteachers" in html
    assert "Movement since the previous cycle" in html
