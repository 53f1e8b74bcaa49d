"""The report email: an HTML summary (heat map table, top gaps, strengths, priorities) with a
plain-text twin. The PDF and the spreadsheet travel as attachments (the mail layer attaches
the Report's files); this module only writes the words."""

from __future__ import annotations

from survey.models import Cycle, Report
from survey.reports.compile import CycleReport
from survey.reports.outputs import cell_swatch, cell_words, get_template_env, report_context

# Mail clients drop <style> blocks, so the HTML email carries its styles inline, set here once.
# premailer (a <style> block inlined at render time) was tried and dropped: it costs 15 ms per
# report email and 13 MB in every web worker, and it removed the doctype (quirks mode: the tables
# lost their font size), so the hand-written version is both smaller and exact.
STYLES = {
    "body": "margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;font-size:15px;"
    "line-height:1.45;color:#111111;background:#ffffff;",
    "h1": "font-size:20px;margin:0 0 8px;",
    "h2": "font-size:17px;margin:22px 0 6px;border-bottom:2px solid #333333;",
    "p": "margin:0 0 10px;",
    "table": "border-collapse:collapse;font-size:13px;margin:6px 0 12px;",
    "th": "border:1px solid #999999;padding:4px 6px;text-align:left;background:#f0f0f0;",
    "rowth": "border:1px solid #999999;padding:4px 6px;text-align:left;font-weight:normal;",
    "heading": "border:1px solid #999999;padding:4px 6px;text-align:left;background:#333333;"
    "color:#ffffff;",
    "td": "border:1px solid #999999;padding:4px 6px;text-align:center;",
    "note": "font-size:12px;color:#444444;",
}


def render_report_email(
    cycle: Cycle, compiled: CycleReport, report_row: Report, *, report_url: str | None = None
) -> tuple[str, str, str]:
    """(subject, text, html) for the cycle's report recipients, from the report as compiled for
    its stored files (never compiled a second time). `report_url`, if given, is a link to the
    report page (built by the caller from the configured base URL)."""
    context = report_context(compiled)
    context.update(
        styles=STYLES,
        report_row=report_row,
        report_url=report_url,
        attachments=[f.name for f in report_row.files if f.name in ("report.pdf", "results.xlsx")],
        cell_words=cell_words,
        cell_swatch=lambda cell: cell_swatch(cell, compiled),
    )
    env = get_template_env()
    subject = env.get_template("email/report.subject.txt").render(**context)
    text = env.get_template("email/report.txt").render(**context)
    html = env.get_template("email/report.html").render(**context)
    return subject, text, html
