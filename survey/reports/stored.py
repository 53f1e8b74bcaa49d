"""Reading a report that was compiled and stored: the admin page and `report build` show the
files leadership received, byte for byte. This module never compiles (no pandas, no
matplotlib), so the web app can show a stored report without loading the compiler."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.models import Cycle, Report

# The stored report.html marks its body, so the admin page can embed exactly that part.
BODY_START, BODY_END = "<!--mat-report:body-->", "<!--/mat-report:body-->"


def get_report(session: Session, cycle: Cycle) -> Report | None:
    return session.scalar(select(Report).where(Report.cycle_id == cycle.id))


def write_stored_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write a stored report's files, byte for byte as leadership received them."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item in report.files:
        (folder / item.name).write_bytes(item.content)
        paths[item.name] = folder / item.name
    return paths


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
