"""mat-review: a school trust's self-review cycle against the MAT Assurance Framework."""

from __future__ import annotations

from typing import Any

from flask import Flask

from survey.config import instance_path_from_env, load_config
from survey.templating import JINJA_OPTIONS, template_folder


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app: code defaults, then MAT_REVIEW_* variables, then `config`."""
    instance_path = (config or {}).get("INSTANCE_PATH") or instance_path_from_env()
    app = Flask(
        __name__,
        template_folder=str(template_folder()),
        instance_path=str(instance_path),
        instance_relative_config=True,
    )
    app.jinja_options = JINJA_OPTIONS  # before anything creates app.jinja_env
    load_config(app, config)

    from survey import extensions, security
    from survey.db import db

    db.init_app(app)
    extensions.init_app(app)
    security.init_app(app)

    from survey import admin, reports, respond, web

    web.init_app(app)
    reports.init_app(app)
    app.register_blueprint(respond.bp)
    app.register_blueprint(admin.bp)

    from survey.cli import register_commands

    register_commands(app)
    return app
