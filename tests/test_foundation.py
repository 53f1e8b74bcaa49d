"""The foundation: configuration, migrations agree with the models, cycle transitions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from survey import create_app
from survey.errors import IllegalTransition, UserError
from survey.migrate import head_revision, upgrade_database
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
