"""The form page's floor: a bare Flask app with the respondent's two GET routes and nothing else
(no database, no session, no templates, no CSRF), served by the same gunicorn setup as the real
app and driven by the same locust user (bench/locustfile.py `FormUser`).

The ratio of the two rates says how much of the stack's own capacity rendering the real form
leaves. The submit has a floor of its own that does the submit's database work:
bench/db_floor_app.py.
"""

from __future__ import annotations

from flask import Flask, redirect
from werkzeug.wrappers import Response

app = Flask(__name__)

FORM_PAGE = (
    "<!doctype html><title>Survey</title><form method=post>"
    '<input type="hidden" name="csrf_token" value="bare-token"></form>'
)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/s/<path:token>")
def landing(token: str) -> Response:
    return redirect("/survey", code=303)


@app.get("/survey")
def show_form() -> str:
    return FORM_PAGE
