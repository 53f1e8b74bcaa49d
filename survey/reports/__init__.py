"""The follow-up report (SPEC section 8): compile a closed cycle, render and store its files.

- `compile_cycle(session, cycle) -> CycleReport`: the figures, with SPEC section 5's
  suppression applied (pure apart from the queries; no request or app globals);
- `render_report_html(report, standalone=True)`: the report page (or its body fragment);
- `write_report_files(report, out_dir)`: report.html, report.pdf, results.xlsx, summary.csv and
  heatmap.png in a folder;
- `store_report(session, cycle) -> Report`: the same five files kept in the database, once.
The report email is `survey.reports.email.render_report_email`. Every template renders through
the app's one Jinja environment; `init_app(app)` registers the report filters on it.
"""

from survey.reports.compile import CycleReport, build_report, compile_cycle, load_inputs
from survey.reports.filters import init_app
from survey.reports.outputs import (
    CONTENT_TYPES,
    FILE_NAMES,
    render_report_files,
    render_report_html,
    write_report_files,
)
from survey.reports.store import ensure_reportable, get_report, store_report, write_stored_report

__all__ = [
    "CONTENT_TYPES",
    "FILE_NAMES",
    "CycleReport",
    "build_report",
    "compile_cycle",
    "ensure_reportable",
    "get_report",
    "init_app",
    "load_inputs",
    "render_report_files",
    "render_report_html",
    "store_report",
    "write_report_files",
    "write_stored_report",
]
