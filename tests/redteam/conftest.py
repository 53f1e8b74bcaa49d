"""The red team's tests reuse the set tests' world (four trusts, three sharing) and the plan
tests' reported cycles, admins and SMTP sink."""

from tests.plans.conftest import app_config, make_admin, reported, smtp
from tests.sets.conftest import world

__all__ = ["app_config", "make_admin", "reported", "smtp", "world"]
