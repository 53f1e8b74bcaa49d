"""Anonymity (SPEC section 5), proved on the real databases (SQLite and PostgreSQL):

1. the schema itself: nothing on `responses`/`ratings` can join them to an invitation or a person,
   and they carry no time and no sequence;
2. sealing: after close, the physical order (SQLite rowid, PostgreSQL ctid) and the write history
   (PostgreSQL xmin) of the rows no longer follow the order in which people submitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from survey.services.cycles import close_cycle

from .conftest import OpenCycle
from .helpers import answers_for, csrf_token, open_form

ANSWER_TABLES = ("responses", "ratings")
PERSON_TABLES = {
    "invitations",
    "invitation_links",
    "drafts",
    "outbox",
    "audit_events",
    "admin_users",
    "trust_admins",
}
# Words that would betray a person, a link or a moment if they appeared in a column name.
TELLTALE = (
    "invitation",
    "email",
    "name",
    "school",
    "nonce",
    "token",
    "link",
    "draft",
    "agent",
    "referrer",
    "referer",
    "user",
    "admin",
    "session",
    "seq",
    "order",
    "_at",
    "time",
    "date",
    "created",
    "updated",
    "submitted",
)


def _rows(engine: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def test_the_schema_cannot_join_answers_to_invitations_or_people(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    assert tables >= set(ANSWER_TABLES) | PERSON_TABLES
    for table in ANSWER_TABLES:
        columns = inspector.get_columns(table)
        names = [c["name"] for c in columns]
        for column in columns:
            name = column["name"].lower()
            assert not any(word in name for word in TELLTALE), (
                f"{table}.{name} looks like it could identify a person or a moment"
            )
            assert not name.endswith("_ip") and name != "ip"
            assert not isinstance(column["type"], sa.DateTime | sa.Date | sa.Time), (
                f"{table}.{name} is a date/time column"
            )
            default = str(column.get("default") or "").lower()
            assert "nextval" not in default and "now" not in default and "current_" not in default
            assert not column.get("identity"), f"{table}.{name} is an identity column"
        for fk in inspector.get_foreign_keys(table):
            assert fk["referred_table"] not in PERSON_TABLES, (table, fk)
            assert fk["referred_table"] in {"cycles", "groups", "responses"}, (table, fk)
        for index in inspector.get_indexes(table):
            assert not set(index["column_names"]) - set(names)
            assert not any("invitation" in str(c) for c in index["column_names"])
        for unique in inspector.get_unique_constraints(table):
            assert not any("invitation" in c for c in unique["column_names"])
        # The key is random text (responses) or a composite of it (ratings): never a sequence.
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        by_name = {c["name"]: c for c in columns}
        for column_name in pk:
            assert not isinstance(by_name[column_name]["type"], sa.Integer), (table, column_name)
        assert names == (
            ["id", "cycle_id", "group_id"]
            if table == "responses"
            else ["response_id", "element_code", "scale_key", "score", "rationale"]
        )
    # ...and nothing about a person points at the answers either.
    for table in PERSON_TABLES:
        for fk in inspector.get_foreign_keys(table):
            assert fk["referred_table"] not in ANSWER_TABLES, (table, fk)
        for column in inspector.get_columns(table):
            assert "response" not in column["name"] and "rating" not in column["name"]
    if engine.dialect.name == "sqlite":
        for table in ANSWER_TABLES:
            sql = _rows(engine, "SELECT sql FROM sqlite_master WHERE name = :t", t=table)[0][0]
            assert "AUTOINCREMENT" not in sql.upper()
            assert "INTEGER PRIMARY KEY" not in " ".join(sql.upper().split())
    else:
        sequences = _rows(
            engine,
            "SELECT sequence_name FROM information_schema.sequences",
        )
        assert not [s for s in sequences if any(t in s[0] for t in ANSWER_TABLES)]
        triggers = _rows(
            engine,
            "SELECT event_object_table FROM information_schema.triggers "
            "WHERE event_object_table IN ('responses', 'ratings')",
        )
        assert triggers == []
    engine.dispose()


def _kendall_tau(order: list[int]) -> float:
    """+1 when `order` is the submission order, -1 when reversed, about 0 when unrelated."""
    n = len(order)
    concordant = discordant = 0
    for i in range(n):
        for j in range(i + 1, n):
            if order[i] < order[j]:
                concordant += 1
            elif order[i] > order[j]:
                discordant += 1
    return (concordant - discordant) / (n * (n - 1) / 2)


def _is_submission_order(order: list[int]) -> bool:
    return order == sorted(order)


def test_sealing_at_close_scrambles_row_order_and_write_history(
    app: Flask,
    database_url: str,
    make_open_cycle: Callable[..., OpenCycle],
    session: Session,
    query: Callable[..., Any],
) -> None:
    count = 20
    oc = make_open_cycle(counts={"headteacher": count + 1})
    codes = ["1A", "2B"]
    # Twenty people submit, one after another, through the form; each can be recognised by
    # the rationale they typed. A twenty-first saves a draft and never submits.
    for position in range(count):
        browser = app.test_client()
        token = open_form(browser, oc.links[position])
        data = answers_for(codes, **{f"rationale-{c}": f"submission-{position:02d}" for c in codes})
        response = browser.post("/survey", data={**data, "action": "submit", "csrf_token": token})
        assert response.status_code == 303
    drafter = app.test_client()
    token = open_form(drafter, oc.links[count])
    drafter.post("/survey", data={"rating-1A": "red", "action": "save", "csrf_token": token})
    assert query("SELECT count(*) FROM drafts")[0][0] == 1

    position_of = {
        response_id: int(rationale.split("-")[1])
        for response_id, rationale in query(
            "SELECT response_id, rationale FROM ratings WHERE element_code = '1A'"
        )
    }
    postgres = database_url.startswith("postgresql")
    content_before = sorted(tuple(r) for r in query("SELECT * FROM ratings"))

    def order_of(table: str, by: str) -> list[int]:
        key = "id" if table == "responses" else "response_id"
        return [position_of[r[0]] for r in query(f"SELECT {key} FROM {table} ORDER BY {by}")]

    # Before sealing, the database does betray the order: this is what sealing must undo.
    if postgres:
        assert _is_submission_order(order_of("responses", "xmin::text::bigint"))
        assert _is_submission_order(order_of("ratings", "xmin::text::bigint"))
        assert _is_submission_order(order_of("responses", "ctid"))
        # A response and its invitation's update were written in one transaction.
        invitation_xmins = {
            r[0]
            for r in query(
                "SELECT xmin::text FROM invitations WHERE cycle_id = :c AND is_completed",
                c=oc.cycle.id,
            )
        }
        response_xmins = {r[0] for r in query("SELECT xmin::text FROM responses")}
        assert response_xmins == invitation_xmins and len(response_xmins) == count
    else:
        assert _is_submission_order(order_of("responses", "rowid"))
        assert _is_submission_order(order_of("ratings", "rowid"))

    close_cycle(session, oc.cycle, "test")
    session.commit()

    assert sorted(tuple(r) for r in query("SELECT * FROM ratings")) == content_before
    assert query("SELECT count(*) FROM drafts")[0][0] == 0
    orders = (
        [order_of(t, "ctid") for t in ANSWER_TABLES]
        + [order_of(t, "xmin::text::bigint, ctid") for t in ANSWER_TABLES]
        if postgres
        else [order_of(t, "rowid") for t in ANSWER_TABLES]
    )
    for order in orders:
        assert sorted(set(order)) == list(range(count))
        # The chance that a shuffle of 20 reproduces the order is 1/20!; of it being nearly
        # sorted (tau >= 0.8), below one in a billion.
        assert not _is_submission_order(order)
        assert _kendall_tau(order) < 0.8, order
    if postgres:
        sealed = {
            r[0]
            for r in query(
                "SELECT xmin::text FROM responses UNION ALL SELECT xmin::text FROM ratings "
                "UNION ALL SELECT xmin::text FROM invitations WHERE cycle_id = :c",
                c=oc.cycle.id,
            )
        }
        assert len(sealed) == 1, "every sealed row of the cycle shares the sealing transaction"
        assert sealed.isdisjoint(response_xmins)


def test_a_submitted_form_leaves_nothing_in_the_session_or_response_that_names_the_person(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], query: Callable[..., Any]
) -> None:
    oc = make_open_cycle()
    browser = app.test_client()
    token = open_form(browser, oc.links[0])
    page = browser.get("/survey").get_data(as_text=True)
    assert csrf_token(page)
    email = oc.invitations[0].email
    assert email and email not in page and "headteacher 1" not in page
    browser.post(
        "/survey", data={**answers_for(["1A", "2B"]), "action": "submit", "csrf_token": token}
    )
    (response_id,) = query("SELECT id FROM responses")[0]
    with browser.session_transaction() as stored:
        assert set(stored) == {"has_submitted"}
    assert response_id not in browser.get("/survey/done").get_data(as_text=True)
    values = [str(v) for row in query("SELECT * FROM responses") for v in row]
    values += [str(v) for row in query("SELECT * FROM ratings") for v in row]
    for secret in (oc.invitations[0].email or "", oc.links[0].removeprefix("/s/")):
        assert not any(secret in value for value in values)
