"""The respondent's path: signed link, survey form, drafts, submission (SPEC section 6)."""

from flask import Blueprint

bp = Blueprint("respond", __name__)

from survey.respond import views  # noqa: E402,F401
