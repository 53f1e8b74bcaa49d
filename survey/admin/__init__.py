"""The CEO's pages (SPEC section 9)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from survey.admin import report_access, views  # noqa: E402,F401
