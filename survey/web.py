"""App-wide web pieces: template helpers and error pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, render_template, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from survey.timeutil import format_local


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local_time"] = format_local

    @app.get("/")
    def index() -> WerkzeugResponse:
        return redirect(url_for("admin.login"))

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", error=exc), exc.code or 500
