"""`mat-review report build` onto a full disk: one clear line, exit status 1, and nothing
half-written (each file is written to a temporary file and renamed into place only once all
six are whole). The disk is a tmpfs of a few pages, mounted for the test (the suite runs as
root, as CI does)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from survey.reports.outputs import CONTENT_TYPES
from survey.reports.store import store_report

from .conftest import Golden

BIN = Path(sys.executable).parent


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """small_disk("64k") -> an empty folder on a tmpfs of that size, unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk-{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"cannot mount a small tmpfs (run as root): {done.stderr}"
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


def build(app: Flask, cycle_id: int, out: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAT_REVIEW_DATABASE_URL": app.config["DATABASE_URL"],
        "MAT_REVIEW_SECRET_KEY": app.config["SECRET_KEY"],
        "MAT_REVIEW_INSTANCE_PATH": app.config["INSTANCE_PATH"],
    }
    return subprocess.run(
        [str(BIN / "mat-review"), "report", "build", str(cycle_id), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_full_disk(done: subprocess.CompletedProcess[str], out: Path) -> None:
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"Error: cannot write the report files to {out}: No space left on device"
    ]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(
    app: Flask, session: Session, golden: Golden, small_disk: Callable[[str], Path]
) -> None:
    # Room for a file or two of the six, not all of them.
    disk = small_disk("64k")
    out = disk / "report"
    done = build(app, golden.cycle.id, out)
    assert_one_line_full_disk(done, out)
    assert list(out.iterdir()) == []  # no truncated heatmap.png, no temporary file left behind


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_failed_build_leaves_the_previous_files_whole(
    app: Flask, session: Session, golden: Golden, small_disk: Callable[[str], Path]
) -> None:
    stored = store_report(session, golden.cycle)
    session.commit()
    expected = {item.name: item.content for item in stored.files}
    # Room for one copy of the report, not for a second one beside it.
    size = sum(len(content) for content in expected.values())
    disk = small_disk(f"{size * 3 // 2 // 1024 + 16}k")
    out = disk / "report"
    first = build(app, golden.cycle.id, out)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(CONTENT_TYPES)

    again = build(app, golden.cycle.id, out)
    assert_one_line_full_disk(again, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == expected
