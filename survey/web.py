"""App-wide web pieces: template helpers and error pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect, render_template, url_for
from flask import Request as FlaskRequest
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response as WerkzeugResponse

from survey.services.limits import MAX_ID
from survey.timeutil import format_local


def _strip_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class NulFreeMultiDict(ImmutableMultiDict[str, Any]):
    """Form and query values without NUL characters: nobody types one, and PostgreSQL text
    cannot hold one (a stray NUL would otherwise turn a submission into a server error)."""

    def __init__(self, mapping: Any = None) -> None:
        if isinstance(mapping, MultiDict):
            pairs: Any = mapping.items(multi=True)
        elif isinstance(mapping, Mapping):
            pairs = mapping.items()
        else:
            pairs = mapping or []
        super().__init__([(_strip_nul(key), _strip_nul(value)) for key, value in pairs])


class Request(FlaskRequest):
    parameter_storage_class = NulFreeMultiDict


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: a number no larger than an id column holds, so that an address
    with an over-large number is a 404 page and never reaches the database (SQLite cannot even
    bind such a number)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Call before registering the blueprints: their routes use the `int` converter set here."""
    app.request_class = Request
    app.url_map.converters["int"] = IdConverter
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
