"""The `mat-review` command line: a Flask CLI group (`flask --app survey` serves the web app).

This package is the composition root of the command line. The web factory (`create_app`)
registers no commands, so a web worker never imports the scheduler (`jobs`), the report
compiler (pandas, matplotlib) or the demo: `make_cli()` adds them here, and only here.

Exit status: 0 on success, 1 on a user error with a one-line message on stderr, 2 on bad usage.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from jobs.cli import jobs_group
from survey import create_app
from survey.cli.admins import admin_group, create_admin_command
from survey.cli.cycles import cycle_group
from survey.cli.demo import demo_command
from survey.cli.frameworks import framework_group
from survey.cli.plans import plan_group
from survey.cli.reports import report_group
from survey.cli.server import init_command, serve_command
from survey.cli.sets import set_group
from survey.cli.trusts import trust_group
from survey.config import ConfigError

COMMANDS: tuple[click.Command, ...] = (
    init_command,
    create_admin_command,
    admin_group,
    serve_command,
    trust_group,
    framework_group,
    cycle_group,
    report_group,
    plan_group,
    set_group,
    jobs_group,
    demo_command,
)


def _create_app() -> Flask:
    try:
        return create_app()
    except ConfigError as exc:  # a bad setting: one line naming it, exit status 1
        raise click.ClickException(str(exc)) from None


def make_cli() -> FlaskGroup:
    """The `mat-review` group with every command (tests invoke it with their own app)."""
    cli = FlaskGroup(
        name="mat-review",
        create_app=_create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="mat-review: run a trust's self-review cycle against the MAT Assurance Framework.",
    )
    for command in COMMANDS:
        cli.add_command(command)
    return cli


def main() -> None:
    """The `mat-review` console script."""
    make_cli().main(prog_name="mat-review")
