"""Learning sets, peer reviews and the deployment benchmark (SPEC section 11): the pages of
coordinators and trust admins, signed in as on the admin pages."""

from survey.db import TransactionalBlueprint

# Every view is one unit of work, committed once it returns (survey.db.commit_when_returned).
bp = TransactionalBlueprint("sets", __name__, url_prefix="/sets")

from survey.sets import views  # noqa: E402,F401
