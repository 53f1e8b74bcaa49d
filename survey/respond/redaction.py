"""Keep personal link tokens out of every log line.

A link `/s/<token>` is as good as the person's password to their survey until they submit, and
a request log that prints paths (werkzeug's development server, gunicorn's access log with its
request line and Referer, Flask's "Exception on <path>" message) would keep a copy of it. A
filter on those loggers rewrites `/s/<anything>` to `/s/[redacted]` before any handler sees it,
and likewise an admin's emailed sign-in, reset and invitation links, and a report recipient's
read-only link, `/r/<token>`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask

# The personal link's route; what the filter matches is derived from it.
LINK_RULE = "/s/<path:token>"
LINK_PREFIX = LINK_RULE.partition("<")[0]
# An admin's emailed single-use links (survey/admin/email_links.py) are as good as a password
# too, until used: a sign-in link, and a password reset or invitation link. A report recipient's
# read-only link, `/r/<token>` (survey/reader/views.py), is kept out too.
ADMIN_LINK_PREFIXES = ("/admin/sign-in/", "/admin/password/")
REPORT_LINK_PREFIX = "/r/"
TOKEN_IN_PATH = re.compile(
    "("
    + "|".join(re.escape(p) for p in (LINK_PREFIX, *ADMIN_LINK_PREFIXES, REPORT_LINK_PREFIX))
    + r")[^\s\"'?#/]+"
)


def _redacted(match: re.Match[str]) -> str:
    return match.group(1) + "[redacted]"


# Loggers that print request paths: werkzeug's server, gunicorn's access and error logs.
PATH_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return TOKEN_IN_PATH.sub(_redacted, value)
    if isinstance(value, bytes):
        return TOKEN_IN_PATH.sub(_redacted, value.decode("latin-1")).encode("latin-1")
    return value


class RedactLinkTokens(logging.Filter):
    """Rewrites the message and its arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: redact(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(arg) for arg in record.args)
        return True


_FILTER = RedactLinkTokens()


def install(app: Flask) -> None:
    """Attach the filter (once) to the request-logging loggers and to the app's own logger."""
    for logger in (*(logging.getLogger(name) for name in PATH_LOGGERS), app.logger):
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(_FILTER)
