"""Migration 0010 backfills each stored report's published figures from its summary.csv: the
shown groups' rows and 'all', never a suppressed (hidden) row."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from survey.db import make_engine
from survey.migrate import alembic_config, upgrade_database

SUMMARY = (
    "element,heading,group,responses,red,amber_red,amber_green,green,dont_know,mean,suppressed\r\n"
    "1A,1,executive,2,,,,,,,true\r\n"
    "1A,1,headteacher,4,0,1,2,1,0,3.00,false\r\n"
    "1A,1,all,4,0,1,2,1,0,3.00,false\r\n"
    "2A,1,executive,2,,,,,,,true\r\n"
    "2A,1,headteacher,4,1,0,0,2,1,3.00,false\r\n"
    "2A,1,all,4,1,0,0,2,1,3.00,false\r\n"
)


def test_upgrading_backfills_the_figures_of_stored_reports(fresh_database_url: str) -> None:
    command.upgrade(alembic_config(fresh_database_url), "0009_plans")
    engine = make_engine(fresh_database_url)
    statements = [
        "INSERT INTO trusts (id, slug, name, timezone, created_at) "
        "VALUES (1, 'oak', 'Oak', 'Europe/London', CURRENT_TIMESTAMP)",
        "INSERT INTO cycles (id, trust_id, title, framework_key, framework_version, scope, state, "
        "opens_at, closes_at, min_group_size, min_comment_group_size, report_recipients, "
        "reminder_days, remind_at_weekends, is_report_held, comment_review_version, created_at) "
        "VALUES (1, 1, 'A', 'mat-assurance', 'v', 'all', 'reported', CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP, 3, 5, '', '7,2', false, false, 0, CURRENT_TIMESTAMP)",
        "INSERT INTO groups (id, cycle_id, key, label, is_open, position) VALUES "
        "(1, 1, 'executive', 'Executive leaders', false, 0), "
        "(2, 1, 'headteacher', 'Headteachers', false, 1)",
        "INSERT INTO reports (id, cycle_id, compiled_at) VALUES (1, 1, CURRENT_TIMESTAMP)",
    ]
    with engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)
        conn.exec_driver_sql(
            "INSERT INTO report_files (report_id, name, content_type, content) "
            "VALUES (1, 'summary.csv', 'text/csv', %s)"
            if engine.dialect.name == "postgresql"
            else "INSERT INTO report_files (report_id, name, content_type, content) "
            "VALUES (1, 'summary.csv', 'text/csv', ?)",
            (SUMMARY.encode(),),
        )
    engine.dispose()
    upgrade_database(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT element_code, group_key, group_label, responses, rated, score_total, "
            "dont_know, counts, mean FROM report_figures ORDER BY element_code, group_key"
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("1A", "all", "All shown groups", 4, 4, 12, 0,
         "red=0,amber-red=1,amber-green=2,green=1", "3.00"),
        ("1A", "headteacher", "Headteachers", 4, 4, 12, 0,
         "red=0,amber-red=1,amber-green=2,green=1", "3.00"),
        ("2A", "all", "All shown groups", 4, 3, 9, 1, "red=1,amber-red=0,amber-green=0,green=2",
         "3.00"),
        ("2A", "headteacher", "Headteachers", 4, 3, 9, 1,
         "red=1,amber-red=0,amber-green=0,green=2", "3.00"),
    ]  # fmt: skip


def test_the_migration_downgrades_and_upgrades_again(fresh_database_url: str) -> None:
    upgrade_database(fresh_database_url)
    command.downgrade(alembic_config(fresh_database_url), "0009_plans")
    engine = make_engine(fresh_database_url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert "report_figures" not in tables and "learning_sets" not in tables
    upgrade_database(fresh_database_url)
