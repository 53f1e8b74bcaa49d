"""The CEO's pages (SPEC section 9)."""

from survey.db import TransactionalBlueprint

# Every view is one unit of work, committed once it returns (survey.db.commit_when_returned).
bp = TransactionalBlueprint("admin", __name__, url_prefix="/admin")

from survey.admin import (  # noqa: E402,F401 - co-admins, emailed links, report access
    email_links,
    plans,
    report_access,
    team,
    views,
)
