"""The foundation: configuration, migrations agree with the models, cycle transitions."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from survey import create_app
from survey.config import SETTING_NAMES, ConfigError, Settings, get_settings, update_settings
from survey.db import make_engine
from survey.errors import IllegalTransition, UserError
from survey.migrate import alembic_config, head_revision, upgrade_database
from survey.models import Base, CycleState
from survey.timeutil import utcnow


def test_instance_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    config = {"INSTANCE_PATH": str(tmp_path / "inst"), "SECRET_KEY": None}
    first = create_app(config)
    second = create_app(config)
    key_file = tmp_path / "inst" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text()
    assert len(first.config["SECRET_KEY"]) >= 40
    assert first.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'inst' / 'mat-review.sqlite3'}"
    assert first.config["MAIL_URL"] == f"file://{tmp_path / 'inst' / 'outbox'}"


def test_environment_variables_override_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAT_REVIEW_BASE_URL", "https://review.example.org/")
    monkeypatch.setenv("MAT_REVIEW_MAIL_FROM", "reviews@trust.example")
    monkeypatch.setenv("MAT_REVIEW_SECRET_KEY_FALLBACKS", "old-key-1,old-key-2")
    monkeypatch.setenv("MAT_REVIEW_INSTANCE_PATH", str(tmp_path / "envinst"))
    app = create_app()
    assert app.config["BASE_URL"] == "https://review.example.org"
    assert app.config["MAIL_FROM"] == "reviews@trust.example"
    assert app.config["SECRET_KEY_FALLBACKS"] == ["old-key-1", "old-key-2"]
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.instance_path == str(tmp_path / "envinst")
    settings = get_settings(app)
    assert settings.secret_key_fallbacks == ("old-key-1", "old-key-2")
    assert settings.base_url == "https://review.example.org"


def test_settings_are_typed_once_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAT_REVIEW_MAIL_BATCH_SIZE", "20")
    monkeypatch.setenv("MAT_REVIEW_MAIL_RATE_PER_MINUTE", "0")
    monkeypatch.setenv("MAT_REVIEW_JOBS_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("MAT_REVIEW_SECRET_KEY", "1e5")  # text, even where it looks like JSON
    monkeypatch.setenv("MAT_REVIEW_BASE_URL", "https://review.example.org")
    monkeypatch.setenv("MAT_REVIEW_SESSION_COOKIE_SECURE", "false")  # explicit beats https
    monkeypatch.setenv("MAT_REVIEW_SESSION_HOURS", "2")
    monkeypatch.setenv("MAT_REVIEW_INVALID_LINK_RATE_LIMIT", "3/hour")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst"), "RATELIMIT_KEY_PREFIX": "oak"})
    settings = get_settings(app)
    assert settings.mail_batch_size == 20 and type(settings.mail_batch_size) is int
    assert settings.mail_rate_per_minute == 0.0
    assert settings.jobs_interval_seconds == 0.5
    assert settings.secret_key == app.config["SECRET_KEY"] == "1e5"
    assert settings.session_cookie_secure is False and app.config["SESSION_COOKIE_SECURE"] is False
    assert app.permanent_session_lifetime.total_seconds() == 2 * 3600
    assert settings.invalid_link_rate_limit == "3/hour"
    assert settings.ratelimit_key_prefix == app.config["RATELIMIT_KEY_PREFIX"] == "oak"
    assert settings.mail_max_attempts == 8  # the default, declared once
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.mail_batch_size = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MAIL_BATCH_SIZE", "abc", "is not a whole number"),
        ("MAIL_BATCH_SIZE", "0", "must be at least 1"),
        ("MAIL_BATCH_SIZE", "2.5", "is not a whole number"),
        ("JOBS_INTERVAL_SECONDS", "-5", "must be more than 0"),
        ("MAIL_RATE_PER_MINUTE", "-1", "must be at least 0"),
        ("MAIL_TIMEOUT", "soon", "is not a number"),
        ("SESSION_COOKIE_SECURE", "maybe", "is not true or false"),
        ("SESSION_COOKIE_SAMESITE", "Loose", "must be one of Lax, Strict, None"),
        ("INVALID_LINK_RATE_LIMIT", "lots", "must be a rate limit"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"MAT_REVIEW_{variable}", value)
    with pytest.raises(ConfigError) as caught:
        create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    message = str(caught.value)
    assert message.startswith(f"MAT_REVIEW_{variable}: {value!r} {problem}")
    assert "\n" not in message


def test_the_command_line_refuses_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MAT_REVIEW_INSTANCE_PATH": str(tmp_path / "inst"),
        "MAT_REVIEW_MAIL_BATCH_SIZE": "abc",
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mat-review")), "jobs", "run-once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr == "Error: MAT_REVIEW_MAIL_BATCH_SIZE: 'abc' is not a whole number\n"
    assert not (tmp_path / "inst" / "mat-review.sqlite3").exists()  # nothing was done


def test_update_settings_coerces_and_refuses_unknown_names(tmp_path: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    assert update_settings(app, MAIL_BATCH_SIZE="5").mail_batch_size == 5
    assert get_settings(app).mail_batch_size == app.config["MAIL_BATCH_SIZE"] == 5
    with pytest.raises(ConfigError, match="MAIL_RUN_SECONDS: 0 must be more than 0"):
        update_settings(app, MAIL_RUN_SECONDS=0)
    with pytest.raises(ConfigError, match="no such setting: MAIL_BATCH"):
        update_settings(app, MAIL_BATCH=5)


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `MAT_REVIEW_([A-Z_]+)` \| (.+?) \|", section, re.MULTILINE)
    documented = dict(rows)
    # Read outside the settings: where the instance is, and create-admin's password.
    assert set(documented) == {*SETTING_NAMES, "INSTANCE_PATH", "ADMIN_PASSWORD"}
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, int | float):
            shown = str(int(value)) if float(value).is_integer() else str(value)
        elif isinstance(value, str) and value:
            shown = value
        else:
            continue  # derived at start-up (the instance's files) or none: said in words
        assert documented[f.name.upper()].startswith(f"`{shown}`"), f.name


def test_latest_migration_matches_the_models(fresh_database_url: str) -> None:
    upgrade_database(fresh_database_url)
    engine = sa.create_engine(fresh_database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == head_revision()
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_is_idempotent(fresh_database_url: str) -> None:
    assert upgrade_database(fresh_database_url) == head_revision()
    assert upgrade_database(fresh_database_url) == head_revision()


def test_cycle_transitions_refuse_illegal_moves(session, make_cycle) -> None:
    cycle = make_cycle()
    with pytest.raises(UserError, match="no invitations"):
        cycle.launch(invitation_count=0)
    with pytest.raises(IllegalTransition, match="cannot close"):
        cycle.close()
    with pytest.raises(IllegalTransition, match="cannot open"):
        cycle.open()
    cycle.launch(invitation_count=3)
    assert cycle.state == CycleState.SCHEDULED
    with pytest.raises(IllegalTransition, match="cannot launch"):
        cycle.launch(invitation_count=3)
    with pytest.raises(IllegalTransition, match="cannot edit"):
        cycle.ensure_editable()
    cycle.open()
    with pytest.raises(UserError, match="not later"):
        cycle.extend(cycle.closes_at - timedelta(hours=1))
    cycle.extend(cycle.closes_at + timedelta(days=2))
    cycle.close()
    assert cycle.state == CycleState.CLOSED
    with pytest.raises(IllegalTransition):
        cycle.extend(utcnow() + timedelta(days=30))
    cycle.mark_reported()
    assert cycle.state == CycleState.REPORTED
    session.rollback()


def test_min_group_size_below_three_is_refused_by_the_database(session, make_cycle) -> None:
    cycle = make_cycle()
    cycle.min_group_size = 2
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()
    session.rollback()


def _secret_key_of_a_new_app(instance: str) -> str:
    return str(create_app({"INSTANCE_PATH": instance, "SECRET_KEY": None}).config["SECRET_KEY"])


def test_workers_starting_together_share_one_complete_secret_key(tmp_path: Path) -> None:
    """Gunicorn's workers are processes started together: so are these. (Threads would also hit
    CPython 3.11.7's bug in concurrent `ast` use, which has nothing to do with the key.)"""
    import concurrent.futures
    import multiprocessing

    instance = str(tmp_path / "together")
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=8, mp_context=context) as pool:
        keys = set(pool.map(_secret_key_of_a_new_app, [instance] * 16))
    assert len(keys) == 1
    (key,) = keys
    assert len(key) >= 40
    assert [p.name for p in (tmp_path / "together").iterdir()] == ["secret_key"]


def test_upgrading_a_database_in_use_keeps_every_row(fresh_database_url: str) -> None:
    """Later migrations rebuild tables on SQLite (batch mode: copy, drop, rename). With foreign
    keys on, dropping the old `cycles` cascaded and deleted every invitation and draft: an
    upgrade must keep a live database's rows."""
    command.upgrade(alembic_config(fresh_database_url), "0005_drop_scheduler_leases")
    engine = make_engine(fresh_database_url)
    rows = {
        "trusts": "INSERT INTO trusts (id, slug, name, timezone, created_at) "
        "VALUES (1, 'oak', 'Oak', 'Europe/London', CURRENT_TIMESTAMP)",
        "cycles": "INSERT INTO cycles (id, trust_id, title, framework_key, framework_version, "
        "scope, state, opens_at, closes_at, min_group_size, min_comment_group_size, "
        "report_recipients, reminder_days, remind_at_weekends, created_at) VALUES (1, 1, 'A', "
        "'mat-assurance', 'v', 'all', 'open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 3, 5, "
        "'ceo@oak.example', '7,2', false, CURRENT_TIMESTAMP)",
        "groups": "INSERT INTO groups (id, cycle_id, key, label, is_open, position) "
        "VALUES (1, 1, 'head', 'Heads', false, 0)",
        "invitations": "INSERT INTO invitations (id, cycle_id, group_id, email, is_completed, "
        "is_declined, delivery_status, reminders_sent, is_purged) "
        "VALUES (1, 1, 1, 'a@oak.example', false, false, 'sent', 0, false)",
        "drafts": "INSERT INTO drafts (invitation_id, sealed) VALUES (1, X'00')",
        "audit_events": "INSERT INTO audit_events (occurred_at, actor, action, cycle_id, detail) "
        "VALUES (CURRENT_TIMESTAMP, 'cli', 'cycle.create', 1, '')",
    }
    with engine.begin() as conn:
        for statement in rows.values():
            sql = statement
            if engine.dialect.name == "postgresql":
                sql = sql.replace("X'00'", "'\\x00'::bytea")
            conn.exec_driver_sql(sql)
    engine.dispose()
    upgrade_database(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with engine.connect() as conn:
        for table in rows:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one() == 1, table
    engine.dispose()
