"""`mat-review jobs run` (the scheduler process) and `mat-review jobs run-once`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from jobs.schedule import run_once, run_scheduler
from survey.errors import UserError
from survey.timeutil import parse_datetime

jobs_group = AppGroup("jobs", help="The scheduler: open, remind, close, compile, send.")


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    # APScheduler logs every run at INFO; our own lines say what each job did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@jobs_group.command("run")
def run_command() -> None:
    """Run the jobs on their schedule until stopped (one per deployment; a second one waits)."""
    _configure_logging()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("jobs").info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_scheduler(app, stop)


@jobs_group.command("run-once")
@click.option(
    "--now", "now_text", help="Run as of this ISO date-time (UTC unless it has an offset)."
)
def run_once_command(now_text: str | None) -> None:
    """Do everything that is due now, once, in order, and exit."""
    _configure_logging()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        now = parse_datetime(now_text, "UTC") if now_text else None
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    outcomes = run_once(app, now)
    for outcome in outcomes:
        click.echo(f"{outcome.job.id}: {outcome.summary}", err=not outcome.ok)
    failed = [o.job.id for o in outcomes if not o.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} job(s) failed: {', '.join(failed)}")


def register(app: Flask) -> None:
    app.cli.add_command(jobs_group)
