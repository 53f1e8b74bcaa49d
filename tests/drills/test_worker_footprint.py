"""A gunicorn worker that has served the respondent's whole path (the personal link, the form,
a submit, the thank-you page) has not imported the scheduler, the report compiler or the demo:
the web factory composes only the web app (the command line adds the rest, see survey/cli).
The worker runs as in production, with survey.gunicorn_config (forked from a preloaded master)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

import framework as fw
from survey.models import Cycle, Invitation

from .helpers import (
    Browser,
    Process,
    answers_for,
    mint_links,
    open_cycle_now,
    start_gunicorn,
    wait_until,
)

pytestmark = pytest.mark.slow
CODES = [e.code for e in fw.load_builtin("mat-assurance").elements_in_scope(fw.parse_scope("all"))]
HOOK = Path(__file__).with_name("gunicorn_report_footprint.py")
# Heavy or scheduler-only packages a web worker must never load.
NOT_IN_A_WORKER = ("pandas", "numpy", "matplotlib", "apscheduler", "weasyprint", "openpyxl")
NOT_OURS_IN_A_WORKER = ("jobs", "survey.cli", "survey.reports.compile", "survey.reports.outputs")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_worker_that_served_the_respondents_path_has_not_imported_pandas_or_the_scheduler(
    app: Flask,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
    server_env: dict[str, str],
    spawn: Callable[..., Process],
    tmp_path: Path,
) -> None:
    cycle = make_cycle(scope="all")
    invitations = add_people(cycle, {"headteacher": 3})
    open_cycle_now(session, cycle, len(invitations))
    [link, *_] = mint_links(app, session, invitations)
    footprint = tmp_path / "footprint.json"
    env = {**server_env, "MAT_REVIEW_TEST_FOOTPRINT": str(footprint)}
    _, base = start_gunicorn(spawn, env, "--config", str(HOOK), workers=1)

    browser = Browser(base)
    token = browser.open_form(link)
    answer = browser.post("/survey", answers_for(CODES, token))
    assert answer.status == 303 and answer.location.endswith("/survey/done")
    assert browser.get("/survey/done").status == 200

    # The hook writes after the response has gone out: wait for the last request's report.
    def reported() -> bool:
        return footprint.exists() and json.loads(footprint.read_text())["path"] == "/survey/done"

    wait_until(reported, 30, "the worker to report its modules")
    seen = json.loads(footprint.read_text())
    modules = set(seen["modules"])
    # The worker really ran the app: its views and the respondent's service are loaded.
    assert {"survey.respond.views", "survey.services.responses", "flask"} <= modules
    loaded = sorted(
        name
        for name in modules
        for banned in (*NOT_IN_A_WORKER, *NOT_OURS_IN_A_WORKER)
        if name == banned or name.startswith(banned + ".")
    )
    assert loaded == [], loaded
    # It was forked from a master that had loaded the app and frozen its objects (the shared,
    # copy-on-write pages of survey.gunicorn_config), not an app of its own.
    assert seen["app_loaded_before_fork"] is True
    assert seen["frozen_objects"] > 10_000, seen["frozen_objects"]
    # The master configured the ORM's mappers before forking, so no worker builds its own copy.
    assert seen["mappers_configured_before_fork"] is True
