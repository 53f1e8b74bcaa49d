"""The report email: an HTML summary (heat map table, top gaps, strengths, priorities) with a
plain-text twin. The PDF and the spreadsheet travel as attachments (the mail layer attaches
the Report's files); this module only writes the words."""

from __future__ import annotations

from sqlalchemy.orm import Session

from survey.models import Cycle, Report
from survey.reports.compile import CycleReport, compile_cycle
from survey.reports.outputs import cell_swatch, cell_words, get_template_env, report_context

# Mail clients drop <style> blocks, so the HTML email carries its styles inline.
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
    session: Session,
    cycle: Cycle,
    report_row: Report,
    *,
    report_url: str | None = None,
    compiled: CycleReport | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) for the cycle's report recipients. `report_url`, if given, is a
    link to the report page (built by the caller from the configured base URL); `compiled`,
    the figures the report was rendered from (compiled again if not given)."""
    compiled = compiled or compile_cycle(session, cycle)
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
    subject = f"Follow-up report: {cycle.title} ({cycle.trust.name})"
    text = env.get_template("email/report.txt").render(**context)
    html = env.get_template("email/report.html").render(**context)
    return subject, text, html
