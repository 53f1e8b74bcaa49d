"""mat-review: a school trust's self-review cycle against the MAT Assurance Framework."""

from __future__ import annotations

from typing import Any

from flask import Flask

from survey.config import instance_path_from_env, load_config
from survey.templating import JINJA_OPTIONS, template_folder


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app: code defaults, then MAT_REVIEW_* variables, then `config`.

    Only the web app: the command line (`survey.cli`) adds the commands, so a web worker never
    imports the scheduler, the report compiler or the demo.
    """
    instance_path = (config or {}).get("INSTANCE_PATH") or instance_path_from_env()
    app = Flask(
        __name__,
        template_folder=str(template_folder()),
        instance_path=str(instance_path),
        instance_relative_config=True,
    )
    app.jinja_options = JINJA_OPTIONS  # before anything creates app.jinja_env
    load_config(app, config)

    # Imported here, not at the top: every `import survey.<module>` (the scheduler, migrations,
    # the command line) runs this package's __init__ first, and should not load the web app.
    from survey import admin, extensions, reader, respond, security, sets, web
    from survey.db import db
    from survey.reports import filters as report_filters

    db.init_app(app)
    extensions.init_app(app)
    security.init_app(app)

    web.init_app(app)
    report_filters.init_app(app)
    app.register_blueprint(respond.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(reader.bp)
    app.register_blueprint(sets.bp)
    return app
