"""Reading a report that was compiled and stored: the admin page and `report build` show the
files leadership received, byte for byte. This module never compiles (no pandas, no
matplotlib), so the web app can show a stored report without loading the compiler."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.models import Cycle, Report

# The stored report.html marks its body, so the admin page can embed exactly that part.
BODY_START, BODY_END = "<!--mat-report:body-->", "<!--/mat-report:body-->"


# The files a compiled report offers, as the pages name them, in the order they list them.
REPORT_FILES: dict[str, str] = {
    "report.pdf": "The board paper (PDF, A4)",
    "results.xlsx": "Spreadsheet: heat map, movement, one sheet per group, comments",
    "summary.csv": "Summary figures (CSV)",
    "heatmap.png": "Heat map image for slides (PNG)",
    "gaps.png": "Group means side by side, for slides (PNG)",
    "report.html": "The report as a web page, readable offline (HTML)",
}


def report_downloads(report: Report) -> list[tuple[str, str]]:
    """(file name, what the page calls it) for each file this report has, in REPORT_FILES order
    (a file not named there after them, by its name)."""
    names = sorted(
        (f.name for f in report.files),
        key=lambda name: (list(REPORT_FILES).index(name) if name in REPORT_FILES else 99, name),
    )
    return [(name, REPORT_FILES.get(name, name)) for name in names]


def get_report(session: Session, cycle: Cycle) -> Report | None:
    return session.scalar(select(Report).where(Report.cycle_id == cycle.id))


def write_stored_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write a stored report's files, byte for byte as leadership received them (all or none,
    as `write_files`)."""
    return write_files(out_dir, {item.name: item.content for item in report.files})


def write_files(out_dir: str | Path, files: Mapping[str, bytes]) -> dict[str, Path]:
    """Write `files` into `out_dir` (created if needed), all of them or none.

    Each file is written whole to a hidden temporary file beside its final name and synced;
    only when every one is written are they renamed into place. So nobody ever sees a truncated
    file, and a failure (a full disk, a folder that cannot be written) leaves the folder as it
    was and raises a one-line UserError naming the folder and the reason.
    """
    folder = Path(out_dir)
    staged: list[tuple[Path, Path]] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            staged.append((folder / f".{name}.{secrets.token_hex(6)}.tmp", folder / name))
            _write_synced(staged[-1][0], content)
        for temporary, final in staged:
            os.replace(temporary, final)
        _sync_directory(folder)
    except OSError as exc:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        reason = exc.strerror or str(exc)
        raise UserError(f"cannot write the report files to {folder}: {reason}") from None
    return {name: folder / name for name in files}


def _write_synced(path: Path, content: bytes) -> None:
    # O_EXCL: never write through a file (or link) that is already there; 0o666 less the umask,
    # as for any file the person creates.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_directory(folder: Path) -> None:
    """Make the renames durable (a crash right after leaves the new files, not none)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stored_report_html(row: Report, env: Environment, *, standalone: bool) -> Markup:
    """The stored report.html (standalone), or its body with the scoped styles for embedding.
    `env` is the Jinja environment that holds the report templates."""
    stored = row.file("report.html")
    if stored is None:
        raise UserError(f"report {row.id} has no report.html")
    html = stored.content.decode("utf-8")
    if standalone:
        return Markup(html)  # noqa: S704 -- our own escaped output, stored
    # The markers cannot occur inside user text: '<' in people's words is escaped as &lt;.
    start, end = html.index(BODY_START), html.index(BODY_END)
    styles = env.get_template("report/_styles.html").render(standalone=False)
    return Markup(styles + html[start : end + len(BODY_END)])  # noqa: S704
