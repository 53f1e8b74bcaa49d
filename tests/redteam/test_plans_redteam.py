"""Red team, issue 18: an admin of one trust against another trust's plan, through real
requests on both databases (cycle ids and action ids guessed, IDOR)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.db import db
from survey.errors import UserError
from survey.mail.dispatch import dispatch
from survey.models import (
    ActionNote,
    AuditEvent,
    Cycle,
    FollowUp,
    MessageKind,
    OutboxMessage,
    PlanAction,
    Trust,
)
from survey.services import you_said
from tests.admin.helpers import Browser
from tests.plans.conftest import Reported
from tests.plans.test_plan_end_to_end import fill_in_the_plan, worksheet_form


def test_an_admin_of_another_trust_cannot_read_or_change_a_plan(
    session: Session,
    client: Any,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
) -> None:
    oak, elm = make_trust("Oak Learning Trust"), make_trust("Elm Trust")
    ceo_oak = make_admin("ceo@oak.example", oak)
    ceo_elm = make_admin("ceo@elm.example", elm)
    oak_cycle = reported(oak).cycle
    elm_cycle = reported(elm, title="Elm spring").cycle
    browser = Browser(client)
    browser.sign_in(ceo_oak.email)
    fill_in_the_plan(browser, oak_cycle.id)
    browser.post("/admin/logout", page="/admin/")
    action = session.scalars(select(PlanAction).where(PlanAction.cycle_id == oak_cycle.id)).first()
    assert action is not None
    before = session.scalar(select(func.count()).select_from(AuditEvent)) or 0

    assert browser.sign_in(ceo_elm.email).status_code == 303
    oak_base, elm_base = f"/admin/cycles/{oak_cycle.id}", f"/admin/cycles/{elm_cycle.id}"
    reads = [
        f"{oak_base}/plan",
        f"{oak_base}/plan/plan.pdf",
        f"{oak_base}/plan/plan.xlsx",
        f"{oak_base}/plan/actions/{action.id}",
        f"{oak_base}/you-said",
        # Oak's action under Elm's own cycle: the action id must belong to the cycle.
        f"{elm_base}/plan/actions/{action.id}",
    ]
    for url in reads:
        page = browser.get(url)
        assert page.status_code == 404, url
        assert "Agree one moderation calendar" not in page.get_data(as_text=True), url
    writes = [
        (f"{oak_base}/plan", worksheet_form({"1A": "red"}, set())),
        (f"{oak_base}/plan/actions/new?element=2A", {"what": "x", "status": "done"}),
        (f"{oak_base}/plan/actions/{action.id}", {"what": "changed", "status": "done"}),
        (f"{oak_base}/plan/actions/{action.id}/notes", {"note": "sneaky"}),
        (f"{elm_base}/plan/actions/{action.id}", {"what": "changed", "status": "done"}),
        (f"{elm_base}/plan/actions/{action.id}/notes", {"note": "sneaky"}),
        (f"{oak_base}/you-said", {"subject": "x", "opening": "{{ 7*7 }}", "closing": ""}),
        (f"{oak_base}/you-said/send", {}),
    ]
    for url, data in writes:
        assert browser.post(url, data, page="/admin/").status_code == 404, url
    session.expire_all()
    assert session.get(PlanAction, action.id).what == action.what  # type: ignore[union-attr]
    assert session.get(PlanAction, action.id).cycle_id == oak_cycle.id  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(ActionNote)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before + 1  # sign-in
    assert (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == MessageKind.FOLLOW_UP)
        )
        == 0
    )


def test_the_ceos_words_are_text_never_a_template_or_markup(
    app: Any,
    session: Session,
    client: Any,
    make_trust: Callable[..., Trust],
    make_admin: Callable[..., Any],
    reported: Callable[..., Reported],
    smtp: Any,
) -> None:
    """The editable "you said, we did" words and an action's text go out as they were typed:
    Jinja in them is not evaluated, markup is escaped in the page, the preview and the email."""
    trust = make_trust()
    ceo = make_admin("ceo@oak.example", trust)
    done = reported(trust)
    cycle = done.cycle
    browser = Browser(client)
    browser.sign_in(ceo.email)
    fill_in_the_plan(browser, cycle.id)
    sneaky = "{{ 7*7 }}{{ config.SECRET_KEY }}{% for x in range(3) %}X{% endfor %}"
    markup = '<script>alert("you said")</script><img src=x onerror=alert(1)>'
    url = f"/admin/cycles/{cycle.id}/you-said"
    saved = browser.post(
        url, {"subject": f"Hello {sneaky}", "opening": f"{sneaky} {markup}", "closing": markup}
    )
    assert saved.status_code == 303, saved.get_data(as_text=True)
    preview = browser.get(url).get_data(as_text=True)
    assert "{{ 7*7 }}" in preview and "XXX" not in preview
    assert "<script>alert(" not in preview and "<img src=x" not in preview
    assert app.config["SECRET_KEY"] not in preview
    assert browser.post(f"{url}/send", page=url).status_code == 303
    session.commit()
    dispatch(session)
    received = [r for r in smtp.snapshot() if "Hello" in r.message["Subject"]]
    assert len(received) == len(done.invitations)
    message = received[0].message
    assert " ".join(message["Subject"].split()) == f"Hello {sneaky}"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "{{ 7*7 }}" in text and "XXX" not in text and app.config["SECRET_KEY"] not in text
    assert markup in text  # plain text: as typed
    assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;" in html


def test_two_sends_at_once_queue_the_message_once(
    app: Any,
    session: Session,
    make_trust: Callable[..., Trust],
    reported: Callable[..., Reported],
) -> None:
    """Two presses (or a press and the command line) at the same moment, each in its own
    transaction: one queues the message to everyone, the other is refused."""
    trust = make_trust()
    done = reported(trust)
    cycle_id = done.cycle.id
    session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def press(who: str) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                cycle = db.session.get(Cycle, cycle_id)
                assert cycle is not None
                you_said.send(db.session, cycle, who)
                db.session.commit()
                outcomes.append("queued")
            except UserError as exc:
                db.session.rollback()
                outcomes.append(f"refused: {exc}")
            finally:
                db.session.close()

    threads = [threading.Thread(target=press, args=(f"{n}@oak.example",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    session.expire_all()
    assert sorted(o.split(":")[0] for o in outcomes) == ["queued", "refused"], outcomes
    rows = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.kind == MessageKind.FOLLOW_UP, OutboxMessage.cycle_id == cycle_id)
    )
    assert rows == len(done.invitations)
    assert session.get(FollowUp, cycle_id).queued_count == len(done.invitations)  # type: ignore[union-attr]
