"""`GET /r/<token>`: the report page; `GET /r/<token>/<name>`: one of its files.

A token opens its own cycle's stored report and nothing else: the cycle comes from the link's
row, never from the address. A tampered, unknown, revoked or expired token, or a file the report
does not have, answers 404 "This link is not valid". Every use, and every refused use of a link
that exists, is audited. Tokens are kept out of logs (survey/respond/redaction.py), out of
Referer headers (`no-referrer`) and out of caches (`no-store`).
"""

from __future__ import annotations

from flask import Response, current_app, render_template
from flask.typing import ResponseReturnValue

from survey.db import db, writes_on_get
from survey.models import Report, ReportLink
from survey.reader import bp
from survey.reports.stored import get_report, report_downloads, stored_report_html
from survey.services.audit import record_event
from survey.services.report_links import record_use, resolve_report_token

READER_RULE = "/r/<token>"

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _not_valid() -> tuple[str, int, dict[str, str]]:
    return render_template("reader/invalid.html"), 404, PRIVATE_HEADERS


def _open(token: str, what: str, name: str | None = None) -> tuple[ReportLink, Report] | None:
    """The link and its cycle's report (holding file `name`, if given), with the use audited;
    None (audited if the link exists) when the link does not work."""
    check = resolve_report_token(db.session, token)
    link = check.link
    if link is None:
        return None
    report = get_report(db.session, link.cycle) if check.is_ok else None
    if report is not None and name is not None and report.file(name) is None:
        return None  # no such file: nothing was used
    if report is None:
        reason = check.reason if not check.is_ok else "no report"
        record_event(
            db.session,
            f"link {link.id} ({link.recipient})",
            "report-link.refused",
            cycle=link.cycle,
            detail=f"{what}: {reason}",
        )
        return None  # the refusal is audited: the 404 page is returned, so it is committed
    record_use(db.session, link, what)
    return link, report


@bp.get(READER_RULE)
@writes_on_get  # every use is audited
def report(token: str) -> ResponseReturnValue:
    opened = _open(token, "the report page")
    if opened is None:
        return _not_valid()
    link, found = opened
    cycle = link.cycle
    page = render_template(
        "reader/report.html",
        cycle=cycle,
        trust=cycle.trust,
        link=link,
        token=token,
        report=found,
        files=report_downloads(found),
        body=stored_report_html(found, current_app.jinja_env, standalone=False),
    )
    return page, 200, PRIVATE_HEADERS


@bp.get(READER_RULE + "/<name>")
@writes_on_get
def download(token: str, name: str) -> ResponseReturnValue:
    opened = _open(token, name, name)
    if opened is None:
        return _not_valid()
    link, found = opened
    stored = found.file(name)
    assert stored is not None
    response = Response(stored.content, mimetype=stored.content_type, headers=PRIVATE_HEADERS)
    filename = f"{link.cycle.trust.slug}-cycle-{link.cycle_id}-{name}"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
