"""A normal `pip install .` (not -e) ships the top-level templates/ tree: the installed package
renders a page, an email and a report from it, through the app's one Jinja environment.

The package is installed without its dependencies into a fresh virtualenv that borrows this
environment's site-packages (as a plain path, so the editable install here is not seen), and
the check runs from a folder outside the checkout, so `survey` can only come from the install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a build needs from a checkout; tests, caches and the local venv stay behind.
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "tests", "bench", "docs", "instance", "build", "dist", "*.egg-info",
    "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
)  # fmt: skip

CHECK = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    import pandas as pd

    import framework as fw
    import survey
    from survey import create_app
    from survey.reports.compile import build_report
    from survey.reports.outputs import render_report_html
    from survey.reports.compile import CycleInfo, CycleInputs, GroupInfo

    venv, instance = Path(sys.argv[1]), Path(sys.argv[2])
    assert Path(survey.__file__).is_relative_to(venv), survey.__file__
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{instance / 'db.sqlite3'}",
            "SECRET_KEY": "a packaging test key, long enough to sign with",
        }
    )
    assert Path(app.jinja_loader.searchpath[0]).is_relative_to(venv), app.jinja_loader.searchpath

    page = app.test_client().get("/admin/login")
    assert page.status_code == 200, page.status_code
    print("PAGE", page.get_data(as_text=True).count("<form"))
    with app.test_request_context():
        error = app.jinja_env.get_template("error.html").render(
            error=type("E", (), {"code": 404, "name": "Not Found", "description": "gone"})()
        )
        print("ERROR", "Not Found" in error)

    framework = fw.load_builtin("mat-assurance")
    when = datetime(2026, 1, 5, tzinfo=UTC)
    ratings = [(1, code, "green") for code in ("1A", "2A") for _ in range(4)]
    inputs = CycleInputs(
        info=CycleInfo(
            id=1, title="Packaged cycle", trust_name="Wheel Trust", timezone="Europe/London",
            state="closed", opens_at=when, closes_at=when, closed_at=when, framework=framework,
            scope=fw.parse_scope("1A,2A"), min_group_size=3, min_comment_group_size=5,
        ),
        groups=[GroupInfo(1, "staff", "Staff", False)],
        responses={1: 4},
        ratings=pd.DataFrame(ratings, columns=["group_id", "element_code", "scale_key"]),
        comments=pd.DataFrame([], columns=["group_id", "element_code", "rationale"]),
    )
    with app.app_context():
        html = str(render_report_html(build_report(inputs)))
    print("REPORT", "Packaged cycle" in html and "Wheel Trust" in html and "</html>" in html)
    """
)


@pytest.mark.slow
def test_a_normal_install_renders_pages_emails_and_reports_from_its_templates(
    tmp_path: Path,
) -> None:
    source, dist, venv = tmp_path / "src", tmp_path / "dist", tmp_path / "venv"
    instance = tmp_path / "instance"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    # `pip install .`, not -e: pip builds a wheel from the tree and installs it (no network:
    # the build uses this environment's setuptools; the dependencies come from here below).
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", dist, "."],
        cwd=source, check=True,
    )  # fmt: skip
    (wheel,) = dist.glob("mat_review-*.whl")
    subprocess.run(
        [*pip, "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
        check=True,
    )  # fmt: skip
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = Path(purelib, "survey", "templates")
    assert (installed / "report" / "report.html").is_file()
    assert (installed / "email" / "invitation.txt").is_file()

    shutil.rmtree(source)  # the install must not lean on the tree it was built from
    result = subprocess.run(
        [python, "-c", CHECK, venv, instance],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["PAGE 1", "ERROR True", "REPORT True"]
