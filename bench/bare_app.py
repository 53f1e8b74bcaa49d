"""The floor: a bare Flask app with the respondent's three routes and nothing else (no database,
no session, no templates, no CSRF), served by the same gunicorn setup as the real app.

Each benchmark runs the same locust user against this app and against mat-review, so the ratio
of the two rates says how much of the stack's own capacity the real work leaves.
"""

from __future__ import annotations

from flask import Flask, redirect, request
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


@app.post("/survey")
def submit_form() -> Response:
    # Read the body as the real handler does, so the floor includes parsing the form.
    request.form.to_dict()
    return redirect("/survey/done", code=303)
