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

from jobs.schedule import SchedulerBusy, run_once, run_scheduler
from survey.errors import UserError
from survey.services.clockcheck import ClockDisagrees
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
@click.option(
    "--force",
    is_flag=True,
    help="Act as of --now even though it is far from the database's clock (closes, seals and "
    "reports cannot be undone).",
)
def run_once_command(now_text: str | None, force: bool) -> None:
    """Do everything that is due now, once, in order, and exit."""
    _configure_logging()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        now = parse_datetime(now_text, "UTC") if now_text else None
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        outcomes = run_once(app, now, force=force)
    except SchedulerBusy as exc:
        click.echo(f"skipped: {exc}", err=True)
        return
    except ClockDisagrees as exc:
        raise click.ClickException(
            f"refused: {exc}; add --force to act as of that time anyway"
        ) from None
    for outcome in outcomes:
        click.echo(f"{outcome.job.id}: {outcome.summary}", err=not outcome.ok)
    failed = [o.job.id for o in outcomes if not o.ok]
    if failed:
        raise click.ClickException(f"{len(failed)} job(s) failed: {', '.join(failed)}")
