"""Anonymity (SPEC section 5), tried as a motivated intruder would, on SQLite and PostgreSQL.

The intruder holds the database's files, from any moment, but not the secret key. They read
**every byte** the database holds: on PostgreSQL every page of every relation (live and dead
tuples through `pageinspect`, index pages, TOAST) and the write-ahead log itself (its raw bytes
through `pg_read_binary_file`, its records and transaction ids through `pg_walinspect`); on SQLite
the main file and the `-wal` file as raw bytes.

A cycle runs through the real routes in a known order: people save drafts and submit (each types
a rationale no one else types, so the intruder can recognise it), one declines after saving a
draft, two save drafts and never submit, and a reminder run goes out in between. Then:

- before the seal's transaction, nothing any respondent typed appears anywhere in readable form;
- every sealed ballot and every draft of the cycle has the same stored length;
- after sealing, answers exist only in rows written by the sealing transaction (PostgreSQL: their
  `xmin` is the seal's, and no transaction in the WAL touched both invitations and answers), in an
  order unrelated to the order of submission; drafts of people who never submitted are gone from
  every byte; the reminder bookkeeping that dated completions is gone;
- after a purge, names and email addresses have left every byte too.
"""

from __future__ import annotations

import bisect
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from survey.db import db
from survey.migrate import upgrade_database
from survey.models import Cycle, CycleState
from survey.services.cycles import close_cycle, purge_cycle
from survey.timeutil import utcnow

from .conftest import OpenCycle
from .helpers import answers_for, csrf_token, open_form

CODES = ["1A", "2B"]
ANSWER_TABLES = ("responses", "ratings")
PERSON_TABLES = {
    "invitations",
    "invitation_links",
    "drafts",
    "outbox",
    "audit_events",
    "admin_users",
    "trust_admins",
    "admin_sessions",
    "report_links",
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


# -- the schema, as migrated ------------------------------------------------------------------


def _rows(engine: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def test_the_migrated_schema_cannot_join_answers_to_invitations_or_people(
    fresh_database_url: str,
) -> None:
    """Read from a database built by the migrations, as deployments are: not from the models."""
    upgrade_database(fresh_database_url)
    engine = sa.create_engine(fresh_database_url)
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    assert tables >= {*ANSWER_TABLES, "ballots"} | PERSON_TABLES
    expected = {
        "responses": ["id", "cycle_id", "group_id"],
        "ratings": ["response_id", "element_code", "scale_key", "score", "rationale"],
        "ballots": ["id", "cycle_id", "sealed"],
    }
    for table, columns_expected in expected.items():
        columns = inspector.get_columns(table)
        names = [c["name"] for c in columns]
        assert names == columns_expected
        for column in columns:
            name = column["name"].lower()
            assert not any(word in name for word in TELLTALE), (
                f"{table}.{name} looks like it could identify a person or a moment"
            )
            assert not isinstance(column["type"], sa.DateTime | sa.Date | sa.Time)
            default = str(column.get("default") or "").lower()
            assert "nextval" not in default and "now" not in default and "current_" not in default
            assert not column.get("identity"), f"{table}.{name} is an identity column"
        for fk in inspector.get_foreign_keys(table):
            assert fk["referred_table"] in {"cycles", "groups", "responses"}, (table, fk)
        for index in inspector.get_indexes(table):
            assert not any("invitation" in str(c) for c in index["column_names"])
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        by_name = {c["name"]: c for c in columns}
        for column_name in pk:
            assert not isinstance(by_name[column_name]["type"], sa.Integer), (table, column_name)
    # A comment hidden from a held report: the rating's own key and the cycle, nothing else.
    hidden = inspector.get_columns("hidden_comments")
    assert [c["name"] for c in hidden] == ["response_id", "element_code", "cycle_id"]
    assert not any(isinstance(c["type"], sa.DateTime | sa.Date | sa.Time) for c in hidden)
    assert {fk["referred_table"] for fk in inspector.get_foreign_keys("hidden_comments")} == {
        "cycles",
        "ratings",
    }
    assert inspector.get_pk_constraint("hidden_comments")["constrained_columns"] == [
        "response_id",
        "element_code",
    ]
    # The draft holds nothing readable: its only content column is the sealed box.
    assert [c["name"] for c in inspector.get_columns("drafts")] == ["invitation_id", "sealed"]
    for table in PERSON_TABLES:
        for fk in inspector.get_foreign_keys(table):
            assert fk["referred_table"] not in {*ANSWER_TABLES, "ballots"}, (table, fk)
        for column in inspector.get_columns(table):
            assert "response" not in column["name"] and "rating" not in column["name"]
            assert "ballot" not in column["name"]
    if engine.dialect.name == "sqlite":
        for table in expected:
            sql = _rows(engine, "SELECT sql FROM sqlite_master WHERE name = :t", t=table)[0][0]
            assert "AUTOINCREMENT" not in sql.upper()
            assert "INTEGER PRIMARY KEY" not in " ".join(sql.upper().split())
    else:
        sequences = _rows(engine, "SELECT sequence_name FROM information_schema.sequences")
        assert not [s for s in sequences if any(t in s[0] for t in expected)]
        triggers = _rows(
            engine,
            "SELECT event_object_table FROM information_schema.triggers "
            "WHERE event_object_table IN ('responses', 'ratings', 'ballots')",
        )
        assert triggers == []
    engine.dispose()


# -- what the intruder reads ------------------------------------------------------------------


class SqliteFiles:
    """The main database file and its `-wal` file, as raw bytes."""

    def __init__(self, url: str) -> None:
        self.path = Path(url.removeprefix("sqlite:///"))

    def everything(self) -> bytes:
        wal = self.path.with_name(self.path.name + "-wal")
        return self.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    def wal_size(self) -> int:
        wal = self.path.with_name(self.path.name + "-wal")
        return wal.stat().st_size if wal.exists() else 0


WAL_PAGE = 8192


@dataclass(frozen=True)
class Tuple:
    relation: str
    block: int
    line: int
    xmin: int
    xmax: int
    data: bytes


class PostgresFiles:
    """Every page of every relation of the database, and the WAL, read through SQL as the
    superuser (pageinspect, pg_walinspect, pg_read_binary_file): what a copy of the cluster's
    files holds."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with self.engine.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            self.segment = int(
                conn.exec_driver_sql(
                    "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'"
                ).scalar_one()
            )

    def close(self) -> None:
        self.engine.dispose()

    def lsn(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn"
                ).scalar_one()
            )

    def _relations(self, conn: sa.Connection) -> list[tuple[str, str]]:
        """Our tables, their indexes, their TOAST tables and TOAST indexes."""
        return [
            (str(r[0]), str(r[1]))
            for r in conn.exec_driver_sql(
                """
                WITH ours AS (
                  SELECT c.oid, c.reltoastrelid FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'public' AND c.relkind = 'r'
                ), rels AS (
                  SELECT oid FROM ours
                  UNION SELECT reltoastrelid FROM ours WHERE reltoastrelid <> 0
                  UNION SELECT i.indexrelid FROM pg_index i
                    WHERE i.indrelid IN (SELECT oid FROM ours)
                       OR i.indrelid IN (SELECT reltoastrelid FROM ours)
                )
                SELECT c.oid::regclass::text, c.relkind FROM pg_class c
                WHERE c.oid IN (SELECT oid FROM rels) AND pg_relation_size(c.oid) > 0
                """
            )
        ]

    def pages_by_relation(self) -> dict[str, bytes]:
        """Every page of every relation, concatenated per relation."""
        found = {}
        with self.engine.connect() as conn:
            for name, _kind in self._relations(conn):
                blocks = conn.exec_driver_sql(
                    f"SELECT pg_relation_size('{name}') / 8192"
                ).scalar_one()
                found[name] = b"".join(
                    bytes(
                        conn.exec_driver_sql(f"SELECT get_raw_page('{name}', {block})").scalar_one()
                    )
                    for block in range(int(blocks))
                )
        return found

    def pages(self) -> bytes:
        """Every page of every relation, concatenated."""
        return b"".join(self.pages_by_relation().values())

    def tuples(self) -> list[Tuple]:
        """Every heap tuple, live or dead, of every table and TOAST table."""
        found = []
        with self.engine.connect() as conn:
            for name, kind in self._relations(conn):
                if kind not in ("r", "t"):
                    continue
                blocks = conn.exec_driver_sql(
                    f"SELECT pg_relation_size('{name}') / 8192"
                ).scalar_one()
                for block in range(int(blocks)):
                    for row in conn.exec_driver_sql(
                        "SELECT lp, t_xmin::text::bigint, t_xmax::text::bigint, t_data "
                        f"FROM heap_page_items(get_raw_page('{name}', {block})) "
                        "WHERE t_data IS NOT NULL"
                    ):
                        found.append(
                            Tuple(name, block, row[0], int(row[1]), int(row[2]), bytes(row[3]))
                        )
        return found

    def wal(self, start: int, end: int) -> tuple[bytes, list[tuple[int, int]]]:
        """The WAL's bytes from `start` to `end`, with page headers taken out so that no record
        is cut by one; and the (offset in those bytes, LSN) at which each kept run starts."""
        kept: list[bytes] = []
        runs: list[tuple[int, int]] = []
        total = 0
        with self.engine.connect() as conn:
            position = start
            while position < end:
                # At a segment boundary pg_walfile_name_offset names the *preceding* file:
                # ask for the next byte instead.
                at_boundary = position % self.segment == 0
                name, offset = conn.exec_driver_sql(
                    "SELECT file_name, file_offset FROM "
                    f"pg_walfile_name_offset('{_lsn(position + 1 if at_boundary else position)}')"
                ).one()
                offset = int(offset) - 1 if at_boundary else int(offset)
                segment_end = position - int(offset) + self.segment
                length = min(end, segment_end) - position
                data = bytes(
                    conn.exec_driver_sql(
                        f"SELECT pg_read_binary_file('pg_wal/{name}', {int(offset)}, {length})"
                    ).scalar_one()
                )
                for page_start in range(
                    position - position % WAL_PAGE, position + length, WAL_PAGE
                ):
                    header = 40 if page_start % self.segment == 0 else 24
                    if page_start >= position and page_start + 16 <= position + length:
                        # Every WAL page names its own address: proof this is the right file.
                        at = page_start - position
                        assert int.from_bytes(data[at + 8 : at + 16], "little") == page_start
                    lo = max(position, page_start + header)
                    hi = min(position + length, page_start + WAL_PAGE)
                    if lo < hi:
                        kept.append(data[lo - position : hi - position])
                        runs.append((total, lo))
                        total += hi - lo
                position += length
        return b"".join(kept), runs

    def records(self, start: int, end: int) -> list[tuple[int, int, int, str, str]]:
        """(start LSN, end LSN, xid, resource manager, block references) of each WAL record."""
        with self.engine.connect() as conn:
            return [
                (int(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4] or ""))
                for r in conn.exec_driver_sql(
                    "SELECT start_lsn - '0/0'::pg_lsn, end_lsn - '0/0'::pg_lsn, "
                    "xid::text::bigint, resource_manager, block_ref "
                    f"FROM pg_get_wal_records_info('{_lsn(start)}', '{_lsn(end)}')"
                )
            ]

    def filenodes(self, *tables: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {
                t: str(conn.exec_driver_sql(f"SELECT pg_relation_filenode('{t}')").scalar_one())
                for t in tables
            }


def _lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _occurrences(data: bytes, needle: bytes) -> Iterator[int]:
    start = data.find(needle)
    while start >= 0:
        yield start
        start = data.find(needle, start + 1)


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


# -- the cycle ----------------------------------------------------------------------------------


@dataclass
class Played:
    cycle: Cycle
    submitted: list[bytes]  # each submitter's marker, in the order they submitted
    unsubmitted: list[bytes]  # markers typed only into drafts (never submitted, or declined)
    names: list[bytes]
    emails: list[bytes]


SUBMITTERS = 20


def _marker(kind: str, position: int, salt: str) -> str:
    return f"Zq{salt}{kind}{position:02d}Xv"


def _post(browser: FlaskClient, token: str, data: dict[str, str], action: str) -> Any:
    return browser.post("/survey", data={**data, "action": action, "csrf_token": token})


def _play_cycle(app: Flask, oc: OpenCycle, session: Session, remind: Callable[[], int]) -> Played:
    salt = secrets.token_hex(4)
    submitted: list[str] = []
    unsubmitted: list[str] = []
    half = SUBMITTERS // 2
    for position in range(SUBMITTERS):
        if position == half:
            assert remind() > 0, "the reminder run reached nobody"
        browser = app.test_client()
        token = open_form(browser, oc.links[position])
        marker = _marker("s", position, salt)
        draft = _marker("d", position, salt)
        # A draft first (its own words), then the submit with the final words.
        saved = _post(browser, token, {"rating-1A": "red", "rationale-1A": draft}, "save")
        assert saved.status_code == 303
        unsubmitted.append(draft)
        rating = ["red", "amber-red", "amber-green", "green"][position % 4]
        data = answers_for(CODES, rating=rating, **{f"rationale-{c}": marker for c in CODES})
        response = _post(browser, token, data, "submit")
        assert response.status_code == 303, response.status_code
        submitted.append(marker)
    # Two people save drafts and never submit; one saves a draft, then declines.
    for offset in range(3):
        position = SUBMITTERS + offset
        browser = app.test_client()
        token = open_form(browser, oc.links[position])
        draft = _marker("n", position, salt)
        saved = _post(browser, token, {"rating-2B": "green", "rationale-2B": draft}, "save")
        assert saved.status_code == 303
        unsubmitted.append(draft)
        if offset == 2:
            page = browser.get("/survey").get_data(as_text=True)
            declined = browser.post("/survey/decline", data={"csrf_token": csrf_token(page)})
            assert declined.status_code == 200
    played = Played(
        cycle=oc.cycle,
        submitted=[m.encode() for m in submitted],
        unsubmitted=[m.encode() for m in unsubmitted],
        names=[str(i.name).encode() for i in oc.invitations if i.name],
        emails=[str(i.email).encode() for i in oc.invitations if i.email],
    )
    session.commit()  # on SQLite, reading those took the write lock
    return played


@pytest.fixture
def cycle_with_reminders(
    app: Flask, make_open_cycle: Callable[..., OpenCycle]
) -> Callable[[], tuple[OpenCycle, Callable[[], int]]]:
    """An open cycle of 24 headteachers, closing in 10 days, with a reminder 7 days before
    close; and a function that runs the reminder job and the dispatcher at that moment."""

    def make() -> tuple[OpenCycle, Callable[[], int]]:
        closes = utcnow().replace(microsecond=0) + timedelta(days=10)
        oc = make_open_cycle(
            counts={"headteacher": SUBMITTERS + 4},
            closes_at=closes,
            reminder_days="7",
            remind_at_weekends=True,
        )
        with app.app_context():
            from survey.mail.outbox import enqueue_invitations

            cycle = db.session.get(Cycle, oc.cycle.id)
            assert cycle is not None
            enqueue_invitations(db.session, cycle, now=utcnow())
            db.session.commit()

        def remind() -> int:
            from jobs.tasks import JobRun, dispatch_outbox, enqueue_due_reminders

            at = closes - timedelta(days=7) + timedelta(hours=12)
            with app.app_context():
                dispatch_outbox(db.session, JobRun(utcnow()))
                db.session.commit()
                enqueue_due_reminders(db.session, JobRun(at))
                db.session.commit()
                dispatch_outbox(db.session, JobRun(at))
                db.session.commit()
                return int(
                    db.session.scalar(
                        sa.text("SELECT count(*) FROM outbox WHERE kind = 'reminder'")
                    )
                    or 0
                )

        return oc, remind

    return make


def _close(app: Flask, cycle_id: int) -> int:
    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None
        sealed = close_cycle(db.session, cycle, "test")
        db.session.commit()
        return sealed


def _assert_unreadable(data: bytes, played: Played, where: str) -> None:
    readable = [m for m in played.submitted + played.unsubmitted if m in data]
    assert not readable, f"{readable} readable in {where}"


# -- SQLite --------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_files_never_hold_answers_beside_people(
    app: Flask,
    database_url: str,
    session: Session,
    cycle_with_reminders: Callable[[], tuple[OpenCycle, Callable[[], int]]],
    query: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = SqliteFiles(database_url)
    oc, remind = cycle_with_reminders()
    played = _play_cycle(app, oc, session, remind)

    # While the cycle is open: nothing typed is readable in the file or its WAL.
    assert files.wal_size() > 0, "the test must see the WAL as it was written"
    _assert_unreadable(files.everything(), played, "the SQLite files before sealing")
    sizes = {
        r[0]
        for r in query("SELECT length(sealed) FROM ballots UNION SELECT length(sealed) FROM drafts")
    }
    assert len(sizes) == 1, f"ballots and drafts differ in size: {sizes}"
    assert query("SELECT count(*) FROM ballots")[0][0] == SUBMITTERS
    assert query("SELECT count(*) FROM responses")[0][0] == 0

    assert _close(app, oc.cycle.id) == SUBMITTERS
    everything = files.everything()
    assert files.wal_size() == 0, "sealing leaves the WAL checkpointed and truncated"
    remains = [m for m in played.unsubmitted if m in everything]
    assert not remains, f"deleted drafts' words remain: {remains}"
    # The submitted words are now in `ratings`, in an order unrelated to submission.
    positions = [everything.find(m) for m in played.submitted]
    assert all(p >= 0 for p in positions)
    order = sorted(range(SUBMITTERS), key=lambda i: positions[i])
    assert _kendall_tau(order) < 0.8 and _kendall_tau(order) > -0.8, order
    rowid_order = [
        played.submitted.index(str(r[0]).encode())
        for r in query("SELECT rationale FROM ratings WHERE element_code = '1A' ORDER BY rowid")
    ]
    assert abs(_kendall_tau(rowid_order)) < 0.8, rowid_order
    assert query("SELECT count(*) FROM ballots")[0][0] == 0
    assert query("SELECT count(*) FROM drafts")[0][0] == 0
    assert query("SELECT count(*) FROM outbox WHERE kind = 'reminder'")[0][0] == 0
    assert query("SELECT max(reminders_sent) FROM invitations")[0][0] == 0
    assert not any(m.decode() in caplog.text for m in played.submitted + played.unsubmitted)

    _report_and_purge(app, oc.cycle.id)
    everything = files.everything()
    assert files.wal_size() == 0
    survivors = [v for v in played.names + played.emails if v in everything]
    assert not survivors, f"{survivors} survived the purge on disk"


def _report_and_purge(app: Flask, cycle_id: int) -> None:
    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None
        cycle.mark_reported()
        db.session.commit()
        purge_cycle(db.session, cycle, "test")
        db.session.commit()
        assert cycle.state == CycleState.REPORTED


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_pages_and_wal_never_pair_answers_with_people(
    app: Flask,
    database_url: str,
    session: Session,
    cycle_with_reminders: Callable[[], tuple[OpenCycle, Callable[[], int]]],
    query: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = PostgresFiles(database_url)
    try:
        start = files.lsn()
        oc, remind = cycle_with_reminders()
        played = _play_cycle(app, oc, session, remind)

        # While the cycle is open: nothing typed in any page, live or dead, nor in the WAL.
        before_close = files.lsn()
        _assert_unreadable(files.pages(), played, "PostgreSQL's pages before sealing")
        wal, _ = files.wal(start, before_close)
        assert len(wal) > 100_000, "the WAL read must cover the submits"
        _assert_unreadable(wal, played, "the WAL before sealing")
        sizes = {
            len(t.data)
            for t in files.tuples()
            if t.relation in ("ballots", "drafts") and len(t.data) > 40
        }
        stored = {
            r[0]
            for r in query(
                "SELECT octet_length(sealed) FROM ballots "
                "UNION SELECT octet_length(sealed) FROM drafts"
            )
        }
        assert len(stored) == 1, f"ballots and drafts differ in size: {stored}"
        assert len(sizes) <= 1, f"sealed rows differ in stored size: {sizes}"

        assert _close(app, oc.cycle.id) == SUBMITTERS
        after_close = files.lsn()

        # Every tuple, live or dead, that holds anything typed was written by the seal; so are
        # the live responses, ratings and the cycle's invitations.
        (seal_xid,) = {r[0] for r in query("SELECT xmin::text::bigint FROM responses")}
        tuples = files.tuples()
        for t in tuples:
            for marker in played.submitted:
                if marker in t.data:
                    assert t.xmin == seal_xid, (t.relation, t.xmin, marker)
            drafted = [m for m in played.unsubmitted if m in t.data]
            assert not drafted, f"drafts' words {drafted} are readable in {t.relation}"
        xmins = {
            r[0]
            for r in query(
                "SELECT xmin::text::bigint FROM ratings UNION "
                "SELECT xmin::text::bigint FROM invitations WHERE cycle_id = :c",
                c=oc.cycle.id,
            )
        }
        assert xmins == {seal_xid}
        # No transaction in the WAL wrote both an invitation and an answer.
        nodes = files.filenodes("invitations", "responses", "ratings")
        records = files.records(start, after_close)
        touched: dict[int, set[str]] = {}
        for _, _, xid, _, blocks in records:
            for table, node in nodes.items():
                if re.search(rf"rel \d+/\d+/{node}\b", blocks):
                    touched.setdefault(xid, set()).add(table)
        assert any("invitations" in t for t in touched.values())
        for xid, tables in touched.items():
            # xid 0: records of no transaction (pruning, vacuum, a checkpoint's page images).
            if xid not in (seal_xid, 0):
                assert not tables & {"responses", "ratings"}, (xid, tables, seal_xid)
        # In the WAL, what was typed first appears in the seal's records, never before.
        wal, runs = files.wal(start, after_close)
        starts = [r[0] for r in records]
        run_offsets = [offset for offset, _ in runs]
        for marker in played.submitted:
            hits = list(_occurrences(wal, marker))
            assert hits, f"{marker!r} should be in the seal's WAL records"
            for hit in hits:
                # Map the offset back to an LSN, then to the record holding it.
                offset, run_lsn = runs[bisect.bisect_right(run_offsets, hit) - 1]
                lsn = run_lsn + (hit - offset)
                assert lsn >= before_close
                record = records[bisect.bisect_right(starts, lsn) - 1]
                assert record[2] in (seal_xid, 0), (marker, record)
        in_wal = [m for m in played.unsubmitted if m in wal]
        assert not in_wal, f"drafts' words {in_wal} are readable in the WAL"
        # The physical order of the answers says nothing about the order of submission.
        by_ctid = [
            played.submitted.index(str(r[0]).encode())
            for r in query("SELECT rationale FROM ratings WHERE element_code = '1A' ORDER BY ctid")
        ]
        assert abs(_kendall_tau(by_ctid)) < 0.8, by_ctid
        assert query("SELECT count(*) FROM outbox WHERE kind = 'reminder'")[0][0] == 0
        assert query("SELECT max(reminders_sent) FROM invitations")[0][0] == 0
        assert not any(m.decode() in caplog.text for m in played.submitted + played.unsubmitted)

        # A purge: names and addresses leave every page of the database.
        _report_and_purge(app, oc.cycle.id)
        relations = files.pages_by_relation()
        survivors = {
            relation: [v for v in played.names + played.emails if v in pages]
            for relation, pages in relations.items()
        }
        survivors = {relation: found for relation, found in survivors.items() if found}
        assert not survivors, f"survived the purge in PostgreSQL's pages: {survivors}"
    finally:
        files.close()
