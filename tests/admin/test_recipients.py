"""Recipients: upload or paste, a preview flagging every bad row, nothing saved until confirmed;
one person added; the invitation list (delivery only, never completion); resending."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.models import (
    AdminUser,
    AuditEvent,
    Cycle,
    CycleState,
    Group,
    Invitation,
    OutboxMessage,
    Trust,
)
from survey.services.cycles import launch_cycle, purge_cycle
from survey.services.recipients import read_recipients
from survey.timeutil import format_local
from tests.admin.helpers import Browser

SignedIn = tuple[Browser, AdminUser, Trust]

GOOD = (
    "email,name,group,school\n"
    "ceo@oak.example,Ada Ceo,executive,\n"
    "head1@oak.example,Ben Head,headteacher,Oak Primary\n"
    "head2@oak.example,Cara Head,headteacher,Elm Primary\n"
    "ml1@oak.example,Dev Lead,middle-leader,Oak Primary\n"
)
BAD = (
    GOOD
    + "not-an-email,Eve,headteacher,\n"
    + "head1@oak.example,Ben Again,headteacher,\n"
    + "x@oak.example,Fay,governor,\n"
)


def invitations_of(session: Session, cycle: Cycle) -> int:
    count = session.scalar(
        select(func.count()).select_from(Invitation).where(Invitation.cycle_id == cycle.id)
    )
    return int(count or 0)


def pending_token(html: str) -> str:
    match = re.search(r'name="pending" value="([^"]+)"', html)
    assert match, "no confirm form on the page"
    return match.group(1)


def test_bad_rows_are_each_flagged_and_nothing_is_saved(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    response = browser.post(f"/admin/cycles/{cycle.id}/recipients", {"rows": BAD})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "nothing has been saved" in page
    assert "3 of 7 rows need correcting" in page
    assert 'href="#row-6">Line 6: &#39;not-an-email&#39; is not a valid email address' in page
    assert "Line 7: head1@oak.example appears twice (also on line 3)" in page
    assert "Line 8: unknown group &#39;governor&#39;" in page
    # Every row is in the preview, the bad ones marked.
    assert len(re.findall(r'<tr id="row-\d+"', page)) == 7
    assert len(re.findall(r'class="row-bad"', page)) == 3
    assert 'name="pending"' not in page  # no way to confirm a file with bad rows
    assert "x@oak.example,Fay,governor" in page  # kept in the box for correcting
    assert invitations_of(session, cycle) == 0


def test_a_clean_file_is_previewed_then_saved_only_on_confirmation(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, admin, trust = signed_in
    cycle = make_cycle(trust)
    upload: dict[str, Any] = {"file": (io.BytesIO(("\ufeff" + GOOD).encode()), "people.csv")}
    response = browser.post(
        f"/admin/cycles/{cycle.id}/recipients", upload, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Everything checks out" in page
    assert "1 executive, 2 headteacher, 1 middle-leader" in page
    assert invitations_of(session, cycle) == 0
    confirm = browser.post(
        f"/admin/cycles/{cycle.id}/recipients/confirm",
        {"pending": pending_token(page)},
        page=f"/admin/cycles/{cycle.id}",
    )
    assert confirm.status_code == 303
    assert confirm.location == f"/admin/cycles/{cycle.id}/invitations"
    assert invitations_of(session, cycle) == 4
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "recipients.add"))
    assert event is not None and event.actor == admin.email and event.detail == "4 people"
    # Confirming the same preview again finds the people already invited: nothing is doubled.
    again = browser.post(
        f"/admin/cycles/{cycle.id}/recipients/confirm",
        {"pending": pending_token(page)},
        page=f"/admin/cycles/{cycle.id}",
    )
    assert again.status_code == 422
    assert "is already invited to this cycle" in again.get_data(as_text=True)
    assert invitations_of(session, cycle) == 4


def test_a_forged_or_borrowed_preview_is_refused(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    first, second = make_cycle(trust), make_cycle(trust, title="Other")
    page = browser.post(f"/admin/cycles/{first.id}/recipients", {"rows": GOOD})
    token = pending_token(page.get_data(as_text=True))
    for cycle_id, value in ((second.id, token), (first.id, token[:-2] + "xx")):
        response = browser.post(
            f"/admin/cycles/{cycle_id}/recipients/confirm", {"pending": value}, page="/admin/"
        )
        assert response.status_code == 303
        assert response.location == f"/admin/cycles/{cycle_id}/recipients"
    assert invitations_of(session, first) == invitations_of(session, second) == 0


def test_a_file_that_cannot_be_read_says_why(
    signed_in: SignedIn, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    url = f"/admin/cycles/{cycle.id}/recipients"
    no_header = browser.post(url, {"rows": "ceo@oak.example,Ada,executive\n"})
    assert no_header.status_code == 422
    assert "the header must name the columns email,name,group" in no_header.get_data(as_text=True)
    empty = browser.post(url, {"rows": "  "})
    assert "Choose a CSV file or paste the rows" in empty.get_data(as_text=True)


def test_one_person_can_be_added_by_the_same_rules(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    url = f"/admin/cycles/{cycle.id}/recipients/add"
    person = {"email": "gus@oak.example", "name": "Gus", "group": "headteacher", "school": "Ash"}
    response = browser.post(url, person, page=f"/admin/cycles/{cycle.id}/invitations")
    assert response.status_code == 303
    page = browser.get(response.location).get_data(as_text=True)
    assert "gus@oak.example added" in page
    assert invitations_of(session, cycle) == 1
    twice = browser.post(url, person, page="/admin/")
    assert twice.status_code == 422
    assert "already invited" in twice.get_data(as_text=True)
    bad = browser.post(url, {**person, "email": "gus at oak"}, page="/admin/")
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "is not a valid email address" in page
    assert 'value="gus at oak"' in page and 'value="Ash"' in page  # what was typed is kept
    assert invitations_of(session, cycle) == 1


def _strip_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


def test_the_invitation_list_never_shows_who_has_answered_or_declined(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    people = add_people(cycle, {"headteacher": 3, "executive": 1})
    cycle.state, cycle.opened_at = CycleState.OPEN, cycle.opens_at
    session.commit()
    url = f"/admin/cycles/{cycle.id}/invitations"
    before = _strip_tokens(browser.get(url).get_data(as_text=True))
    assert "headteacher1@school.example" in before and "Not sent yet" in before
    people[0].is_completed = True
    people[1].is_declined = True
    people[2].reminders_sent = 2
    session.commit()
    after = _strip_tokens(browser.get(url).get_data(as_text=True))
    assert after == before


def test_resend_queues_a_new_invitation_and_says_the_same_for_everyone(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, admin, trust = signed_in
    cycle = make_cycle(trust)
    waiting, answered = add_people(cycle, {"headteacher": 2})
    answered.is_completed = True
    cycle.state, cycle.opened_at = CycleState.OPEN, cycle.opens_at
    session.commit()

    def resend(invitation: Invitation) -> str:
        url = f"/admin/cycles/{cycle.id}/invitations/{invitation.id}/resend"
        response = browser.post(url, page=f"/admin/cycles/{cycle.id}/invitations")
        assert response.status_code == 303
        message = re.search(
            r'class="flash[^"]*"[^>]*>([^<]+)<',
            browser.get(response.location).get_data(as_text=True),
        )
        assert message
        return message.group(1).replace(invitation.email or "", "EMAIL")

    assert resend(waiting) == resend(answered)
    recipients = session.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.cycle_id == cycle.id)
    ).all()
    assert recipients == [waiting.email]
    actors = session.scalars(
        select(AuditEvent.actor).where(AuditEvent.action == "invitation.resend")
    ).all()
    assert actors == [admin.email, admin.email]
    other = make_cycle(trust, title="Other")
    stray = f"/admin/cycles/{other.id}/invitations/{waiting.id}/resend"
    assert browser.post(stray, page="/admin/").status_code == 404


def test_addresses_that_reach_the_same_mailbox_are_duplicates_naming_both(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    url = f"/admin/cycles/{cycle.id}/recipients"
    rows = (
        "email,name,group\n"
        "ann@oak.example,Ann,headteacher\n"
        "Ann+review@Oak.example,Ann again,headteacher\n"
        "ANN@OAK.EXAMPLE,Ann shouting,executive\n"
        "annie@oak.example,Annie,headteacher\n"
    )
    response = browser.post(url, {"rows": rows})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "2 of 4 rows need correcting" in page
    assert (
        "Line 3: Ann+review@oak.example reaches the same mailbox as ann@oak.example on line 2"
    ) in page
    assert "Line 4: ANN@oak.example reaches the same mailbox as ann@oak.example on line 2" in page
    assert invitations_of(session, cycle) == 0

    # A clean file: the address is stored as it was typed (the domain in lower case).
    clean = browser.post(
        url, {"rows": "email,name,group\nAnn.Lee+Review@Oak.example,Ann,headteacher\n"}
    )
    confirm = browser.post(
        f"{url}/confirm",
        {"pending": pending_token(clean.get_data(as_text=True))},
        page=f"/admin/cycles/{cycle.id}",
    )
    assert confirm.status_code == 303
    stored = session.scalars(select(Invitation.email).where(Invitation.cycle_id == cycle.id)).all()
    assert stored == ["Ann.Lee+Review@oak.example"]

    # One person, checked by the same rule.
    person = {"email": "ann.lee@oak.example", "name": "Ann", "group": "executive", "school": ""}
    added = browser.post(f"{url}/add", person, page=f"/admin/cycles/{cycle.id}/invitations")
    assert added.status_code == 422  # the page again, with the error beside the field
    shown = html.unescape(added.get_data(as_text=True))
    assert (
        "Not added: ann.lee@oak.example reaches the same mailbox as "
        "Ann.Lee+Review@oak.example, who is already invited to this cycle"
    ) in " ".join(shown.split())
    assert invitations_of(session, cycle) == 1


def test_people_added_after_launch_are_named_in_the_audit_log_and_on_the_cycle_page(
    signed_in: SignedIn,
    session: Session,
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Invitation]],
) -> None:
    browser, admin, trust = signed_in
    cycle = make_cycle(trust)
    add_people(cycle, {"headteacher": 3})  # before launch: not listed
    launch_cycle(session, cycle, admin.email)
    session.commit()
    assert cycle.state == CycleState.OPEN
    page = browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert 'id="added-after-launch"' not in page

    url = f"/admin/cycles/{cycle.id}/recipients"
    person = {"email": "pat@oak.example", "name": "Pat Late", "group": "headteacher", "school": ""}
    browser.post(f"{url}/add", person, page=f"/admin/cycles/{cycle.id}/invitations")
    file = (
        "email,name,group\nquinn@oak.example,Quinn Late,executive\nrae@oak.example,,headteacher\n"
    )
    preview = browser.post(url, {"rows": file})
    browser.post(
        f"{url}/confirm",
        {"pending": pending_token(preview.get_data(as_text=True))},
        page=f"/admin/cycles/{cycle.id}",
    )
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "invitation.add-after-launch")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.actor, e.detail) for e in events] == [
        (admin.email, "Pat Late <pat@oak.example> to Headteachers"),
        (admin.email, "Quinn Late <quinn@oak.example> to Executive leaders and chair"),
        (admin.email, "rae@oak.example to Headteachers"),
    ]
    page = html.unescape(browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True))
    listed = page[page.index('id="added-after-launch"') :]
    listed = " ".join(listed[: listed.index("</div>")].split())
    when = format_local(events[0].occurred_at, trust.timezone)
    assert (
        f"<li>Pat Late <pat@oak.example> to Headteachers, {when}, by {admin.email}</li>" in listed
    )
    assert "Quinn Late <quinn@oak.example> to Executive leaders and chair" in listed
    assert "rae@oak.example to Headteachers" in listed
    audit = html.unescape(browser.get(f"/admin/trusts/{trust.slug}/audit").get_data(as_text=True))
    assert "Pat Late <pat@oak.example> to Headteachers" in audit

    # After the report, a purge leaves the record with the names and addresses removed.
    cycle.state = CycleState.REPORTED
    session.commit()
    purge_cycle(session, cycle, admin.email)
    session.commit()
    page = html.unescape(browser.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True))
    assert "[removed] <[removed]> to Headteachers" in page
    assert "Pat Late" not in page and "pat@oak.example" not in page


# A CSV as Excel on Windows saves it: Windows-1252, CRLF, and the `sep=,` line Excel writes when
# asked to keep the delimiter (and reads back as the delimiter).
EXCEL_ROWS = [
    ("zoe@oak.example", "Zoë Brontë", "headteacher", "Église £ Primary"),
    ("jose@oak.example", "José Núñez", "middle-leader", "Øakfield"),
    ("ceo@oak.example", "Siân O\u2019Brien", "executive", ""),
]


EXCEL_CP1252 = (
    "sep=,\r\nemail,name,group,school\r\n" + "".join(",".join(row) + "\r\n" for row in EXCEL_ROWS)
).encode("cp1252")


def test_a_windows_excel_file_is_saved_exactly_as_previewed(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    upload: dict[str, Any] = {"file": (io.BytesIO(EXCEL_CP1252), "people.csv")}
    preview = browser.post(
        f"/admin/cycles/{cycle.id}/recipients", upload, content_type="multipart/form-data"
    )
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200, page
    assert "Everything checks out" in page
    for _, name, _, school in EXCEL_ROWS:
        assert name in page and school in page
    # Line numbers are the file's own: the sep= line is line 1, the header line 2.
    assert '<tr id="row-3">' in page and '<tr id="row-5">' in page
    confirm = browser.post(
        f"/admin/cycles/{cycle.id}/recipients/confirm",
        {"pending": pending_token(page)},
        page=f"/admin/cycles/{cycle.id}",
    )
    assert confirm.status_code == 303
    stored = session.execute(
        select(Invitation.email, Invitation.name, Group.key, Invitation.school)
        .join(Group, Group.id == Invitation.group_id)
        .where(Invitation.cycle_id == cycle.id)
        .order_by(Invitation.email)
    ).all()
    assert [tuple(r) for r in stored] == sorted(
        (email, name, group, school or None) for email, name, group, school in EXCEL_ROWS
    )
    assert not any("\ufffd" in f"{name}{school}" for _, name, _, school in stored)


def test_a_file_that_is_not_text_is_refused_with_the_reason(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    # 0x81 is neither UTF-8 here nor a Windows-1252 character.
    upload: dict[str, Any] = {"file": (io.BytesIO(b"email,name,group\r\n\x81\x8d\x90"), "x.csv")}
    response = browser.post(
        f"/admin/cycles/{cycle.id}/recipients", upload, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "The file is not text" in response.get_data(as_text=True)
    assert 'name="pending"' not in response.get_data(as_text=True)
    assert invitations_of(session, cycle) == 0


@pytest.mark.parametrize(
    ("first_line", "delimiter"),
    [("sep=,", ","), ("sep=;", ";"), ('"sep=;"', ";"), ("SEP=,,,", ","), ("sep=\t", "\t")],
)
def test_excels_sep_line_names_the_delimiter(first_line: str, delimiter: str) -> None:
    rows = [["email", "name", "group", "school"], ["a@oak.example", "Ann, Lady", "executive", "X"]]
    body = "".join(
        delimiter.join(f'"{c}"' if delimiter in c or "," in c else c for c in row) + "\r\n"
        for row in rows
    )
    sheet = read_recipients(f"\ufeff{first_line}\r\n{body}", ["executive"])
    assert sheet.problems == []
    assert [(r.line, r.email, r.name, r.school) for r in sheet.rows] == [
        (3, "a@oak.example", "Ann, Lady", "X")
    ]


def test_a_bad_header_after_a_sep_line_names_its_own_line() -> None:
    with pytest.raises(UserError, match=r"^line 2: .*missing: group"):
        read_recipients("sep=;\nemail;name\n", ["executive"])


def test_one_row_is_counted_in_the_singular(
    signed_in: SignedIn, session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    rows = "email,name,group\nhead9@oak.example,Nia,headteacher\n"
    page = browser.post(f"/admin/cycles/{cycle.id}/recipients", {"rows": rows})
    text = page.get_data(as_text=True)
    assert "1 person will be added" in text and "Add this person" in text
    assert "1 people" not in text and "these 1" not in text
    confirmed = browser.post(
        f"/admin/cycles/{cycle.id}/recipients/confirm",
        {"pending": pending_token(text)},
        page=f"/admin/cycles/{cycle.id}",
    )
    assert "1 person added to the cycle." in browser.get(confirmed.location).get_data(as_text=True)
