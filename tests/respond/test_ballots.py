"""The ballot box (SPEC section 5): sealed boxes, key rotation, a ballot that will not open, and
drafts saved by an earlier version sealed by the upgrade. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

import framework as fw
from survey import create_app
from survey.db import db
from survey.errors import UserError
from survey.migrate import alembic_config
from survey.models import Cycle, CycleState
from survey.sealbox import Keyring, SealError, box_size
from survey.services import ballots
from survey.services.ballots import RATIONALE_MAX, SealedAnswers
from survey.services.cycles import close_cycle

from .conftest import OpenCycle
from .helpers import answers_for, open_form

MAT = fw.load_builtin("mat-assurance")
ALL = fw.parse_scope("all")


# -- sealed boxes ---------------------------------------------------------------------------------

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=RATIONALE_MAX,
)


@settings(max_examples=60, deadline=None)
@given(
    ratings=st.dictionaries(
        st.sampled_from([e.code for e in MAT.elements_in_scope(ALL)]),
        st.sampled_from(MAT.scale.answer_keys),
    ),
    rationales=st.dictionaries(
        st.sampled_from([e.code for e in MAT.elements_in_scope(ALL)]), text, max_size=3
    ),
    group=st.integers(min_value=1, max_value=2**31),
)
def test_every_box_of_a_cycle_has_one_size_and_opens_to_what_was_sealed(
    ratings: dict[str, str], rationales: dict[str, str], group: int
) -> None:
    ring = Keyring("current-key")
    answers = SealedAnswers(ratings, {c: t for c, t in rationales.items() if t}, group)
    box = ballots.seal(ring, ballots.BALLOT, 7, answers, MAT, ALL)
    expected = box_size(ballots.padded_size(len(MAT.elements_in_scope(ALL))))
    assert len(box) == expected
    assert ballots.unseal(ring, ballots.BALLOT, 7, box, MAT, ALL) == answers


def test_the_largest_possible_answers_fit_and_size_nothing_apart() -> None:
    ring = Keyring("current-key")
    codes = [e.code for e in MAT.elements_in_scope(ALL)]
    widest = SealedAnswers(
        {c: MAT.scale.answer_keys[-1] for c in codes},
        {c: "\U0001f600" * RATIONALE_MAX for c in codes},
    )
    empty = SealedAnswers({}, {})
    assert len(ballots.seal(ring, ballots.BALLOT, 1, widest, MAT, ALL)) == len(
        ballots.seal(ring, ballots.BALLOT, 1, empty, MAT, ALL)
    )
    # 14 elements: the stored size of every ballot and draft of a full-scope cycle.
    assert len(codes) == 14
    assert len(ballots.seal(ring, ballots.BALLOT, 1, empty, MAT, ALL)) == 112_082


def test_a_box_opens_only_for_its_purpose_cycle_and_binding_and_not_when_changed() -> None:
    ring = Keyring("current-key")
    answers = SealedAnswers({"1A": "green"}, {"1A": "Clear vision"})
    draft = ballots.seal(ring, ballots.DRAFT, 3, answers, MAT, ALL, bound="41")
    assert b"Clear vision" not in draft
    assert ballots.unseal(ring, ballots.DRAFT, 3, draft, MAT, ALL, bound="41") == answers
    for purpose, cycle, bound in [
        (ballots.BALLOT, 3, "41"),  # a draft is not a ballot
        (ballots.DRAFT, 4, "41"),  # another cycle
        (ballots.DRAFT, 3, "42"),  # another invitation's draft row
    ]:
        with pytest.raises(SealError):
            ballots.unseal(ring, purpose, cycle, draft, MAT, ALL, bound=bound)
    tampered = bytearray(draft)
    tampered[100] ^= 1
    with pytest.raises(SealError):
        ballots.unseal(ring, ballots.DRAFT, 3, bytes(tampered), MAT, ALL, bound="41")
    with pytest.raises(SealError):
        ballots.unseal(Keyring("another-key"), ballots.DRAFT, 3, draft, MAT, ALL, bound="41")
    # A rotated key: the old one, kept as a fallback, still opens; new boxes use the new one.
    rotated = Keyring("new-key", ["current-key"])
    assert ballots.unseal(rotated, ballots.DRAFT, 3, draft, MAT, ALL, bound="41") == answers
    fresh = ballots.seal(rotated, ballots.DRAFT, 3, answers, MAT, ALL, bound="41")
    with pytest.raises(SealError):
        ballots.unseal(ring, ballots.DRAFT, 3, fresh, MAT, ALL, bound="41")


# -- key rotation and a ballot that will not open, through the real routes ------------------------


def _submit_all(app: Flask, oc: OpenCycle, count: int) -> None:
    for position in range(count):
        browser = app.test_client()
        token = open_form(browser, oc.links[position])
        data = answers_for(["1A", "2B"], rating="amber-green")
        response = browser.post("/survey", data={**data, "action": "submit", "csrf_token": token})
        assert response.status_code == 303


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


def _close(app: Flask, cycle_id: int) -> int:
    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None
        try:
            sealed = close_cycle(db.session, cycle, "test")
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        return sealed


def test_ballots_sealed_before_a_key_rotation_open_with_the_fallback(
    app: Flask,
    app_config: dict[str, Any],
    make_open_cycle: Callable[..., OpenCycle],
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle(counts={"headteacher": 3})
    _submit_all(app, oc, 3)
    old = app.config["SECRET_KEY"]
    rotated = create_app({**app_config, "SECRET_KEY": "a-new-key", "SECRET_KEY_FALLBACKS": old})
    assert _close(rotated, oc.cycle.id) == 3
    _dispose(rotated)
    rows = query("SELECT scale_key, count(*) FROM ratings GROUP BY scale_key")
    assert [tuple(r) for r in rows] == [("amber-green", 6)]


def test_a_ballot_no_key_opens_stops_the_seal_and_loses_nothing(
    app: Flask,
    app_config: dict[str, Any],
    make_open_cycle: Callable[..., OpenCycle],
    query: Callable[..., Any],
) -> None:
    oc = make_open_cycle(counts={"headteacher": 3})
    _submit_all(app, oc, 3)
    wrong = create_app({**app_config, "SECRET_KEY": "a-new-key-and-the-old-one-lost"})
    with pytest.raises(UserError, match="does not open with the secret key"):
        _close(wrong, oc.cycle.id)
    _dispose(wrong)
    assert query("SELECT state FROM cycles WHERE id = :c", c=oc.cycle.id)[0][0] == "open"
    assert query("SELECT count(*) FROM ballots")[0][0] == 3
    assert query("SELECT count(*) FROM responses")[0][0] == 0
    # With the right key (restored), the same cycle closes with all three.
    assert _close(app, oc.cycle.id) == 3
    assert query("SELECT state FROM cycles WHERE id = :c", c=oc.cycle.id)[0][0] == "closed"
    assert query("SELECT count(*) FROM ballots")[0][0] == 0


def test_a_damaged_ballot_is_named_and_the_seal_refused(
    app: Flask, make_open_cycle: Callable[..., OpenCycle], database_url: str
) -> None:
    oc = make_open_cycle(counts={"headteacher": 3})
    _submit_all(app, oc, 2)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ballots SET sealed = :b"), {"b": b"\x01" + bytes(40)})
    engine.dispose()
    with pytest.raises(UserError, match="Nothing was changed and no answer is lost"):
        _close(app, oc.cycle.id)
    with app.app_context():
        cycle = db.session.get(Cycle, oc.cycle.id)
        assert cycle is not None and cycle.state == CycleState.OPEN


# -- drafts from before the ballot box ------------------------------------------------------------


def test_the_upgrade_seals_drafts_saved_in_clear_by_the_earlier_version(
    fresh_database_url: str, tmp_path: Any
) -> None:
    from tests.conftest import TEST_SECRET

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": fresh_database_url,
            "SECRET_KEY": TEST_SECRET,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "MAIL_URL": f"file://{tmp_path / 'outbox'}",
        }
    )
    with app.app_context():
        command.upgrade(alembic_config(fresh_database_url), "0001")
        from survey.services.frameworks import get_current_version, sync_builtin_frameworks

        sync_builtin_frameworks(db.session)
        db.session.commit()
        version = get_current_version(db.session, "mat-assurance").version
        db.session.commit()  # SQLite: reading took the write lock
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO trusts (id, slug, name, timezone, created_at) "
                    "VALUES (1, 'oak', 'Oak', 'Europe/London', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO cycles (id, trust_id, title, framework_key, framework_version, "
                    "scope, state, opens_at, closes_at, min_group_size, min_comment_group_size, "
                    "report_recipients, reminder_days, remind_at_weekends, created_at) VALUES "
                    "(1, 1, 'Autumn', 'mat-assurance', :v, '1A,2B', 'open', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP, 3, 5, 'ceo@oak.example', '7,2', false, CURRENT_TIMESTAMP)"
                ),
                {"v": version},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO groups (id, cycle_id, key, label, is_open, position) "
                    "VALUES (1, 1, 'headteacher', 'Headteachers', false, 0)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO invitations (id, cycle_id, group_id, email, is_completed, "
                    "is_declined, delivery_status, reminders_sent, is_purged) "
                    "VALUES (5, 1, 1, 'a@oak.example', false, false, 'sent', 0, false)"
                )
            )
            conn.execute(
                sa.text("INSERT INTO drafts (invitation_id, answers) VALUES (5, :a)"),
                {"a": json.dumps({"rating-1A": "red", "rationale-1A": "Typed last week"})},
            )
        command.upgrade(alembic_config(fresh_database_url), "head")
        with db.engine.connect() as conn:
            (box,) = conn.execute(sa.text("SELECT sealed FROM drafts")).one()
        assert b"Typed last week" not in bytes(box)
        framework = MAT
        opened = ballots.unseal(
            ballots.keyring(),
            ballots.DRAFT,
            1,
            bytes(box),
            framework,
            fw.parse_scope("1A,2B"),
            bound="5",
        )
        assert dict(opened.ratings) == {"1A": "red"}
        assert dict(opened.rationales) == {"1A": "Typed last week"}
        db.engine.dispose()
