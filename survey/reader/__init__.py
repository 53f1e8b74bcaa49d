"""Report recipients' read-only pages: the web report and its files, opened with a personal
link (`/r/<token>`) and no account (SPEC sections 7 and 9)."""

from survey.db import TransactionalBlueprint

# Each view is one unit of work (the use of a link, audited), committed once it returns.
bp = TransactionalBlueprint("reader", __name__)

from survey.reader import views  # noqa: E402,F401
