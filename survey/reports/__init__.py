"""The follow-up report (SPEC section 8): compile a closed cycle, render and store its files.

- `compile.compile_cycle(session, cycle) -> CycleReport`: the figures, with SPEC section 5's
  suppression applied (pure apart from the queries; no request or app globals);
- `outputs.render_report_html(report, standalone=True)`: the report page (or its body fragment);
- `outputs.write_report_files(report, out_dir)`: report.html, report.pdf, results.xlsx,
  summary.csv, heatmap.png and gaps.png in a folder;
- `store.store_report(session, cycle) -> Report`: the same files kept in the database, once;
- `stored`: reading a stored report back (never compiles: the web app imports only this);
- `email.render_report_email(...)`: the report email, from the compiled report;
- `filters.init_app(app)`: the report filters, registered on the app's one Jinja environment,
  which renders every template (pages, emails, reports).

This package module imports nothing, so that importing `survey.reports.stored` does not load
pandas and matplotlib into a web worker.
"""
