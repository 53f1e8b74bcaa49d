"""App-wide web pieces: template helpers and error pages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from flask import Request as FlaskRequest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as PageNotFound
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response as WerkzeugResponse

from survey.db import forget_failed_transaction
from survey.errors import NotFound
from survey.services.limits import MAX_ID
from survey.templating import counted
from survey.timeutil import format_local

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


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
    app.jinja_env.filters["counted"] = counted

    @app.get("/")
    def index() -> WerkzeugResponse:
        return redirect(url_for("admin.login"))

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", error=exc), exc.code or 500

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> tuple[str, int]:
        """Something named in the address does not exist: the same page as an unknown address."""
        return render_template("error.html", error=PageNotFound()), 404

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeoutError)
    def _database_unavailable(exc: Exception) -> tuple[str, int, dict[str, str]]:
        """The database cannot be reached (a restart, a failover): a page saying so, 503 with
        Retry-After, instead of a bare 500. The respondent's pages have their own (they show
        the form again with everything posted)."""
        forget_failed_transaction(exc)
        page = render_template("unavailable.html", was_post=request.method == "POST")
        return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
