"""The words of the invitation and the reminder, subjects included, come from templates/email/;
whatever an admin typed is escaped in the HTML and left as typed in the plain text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from survey.mail.messages import InvitationRenderer
from survey.models import Cycle

PURPOSE_END = "it is diagnostic, not a judgement of you, your school or anyone else."


def test_invitation_and_reminder_words_come_from_the_templates(
    session: Session,
    make_trust: Callable[..., Any],
    make_cycle: Callable[..., Cycle],
    add_people: Callable[..., list[Any]],
) -> None:
    trust = make_trust("Oak & <Elm> Trust")
    cycle = make_cycle(
        trust,
        title="Spring <b>2026</b>",
        opens_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        closes_at=datetime(2026, 3, 23, 17, tzinfo=UTC),
        groups=["staff:Staff & governors", "board:Board:open"],
        min_group_size=4,
    )
    staff, board = add_people(cycle, {"staff": 1, "board": 1})
    renderer = InvitationRenderer(session, cycle)

    invitation = renderer.invitation(staff)
    assert invitation.subject == (
        "Oak & <Elm> Trust asks for your view: Spring <b>2026</b> (closes Monday 23 March)"
    )
    assert invitation.text.startswith("Dear staff 1,\n\nOak & <Elm> Trust is asking")
    assert PURPOSE_END in invitation.text
    assert "results are shown only for groups of at least 4 people" in invitation.text
    assert "Spring &lt;b&gt;2026&lt;/b&gt;" in invitation.html and "<b>2026" not in invitation.html
    # The shared sentences are plain text, escaped like any other value in the HTML email.
    assert "the trust&#39;s capacity to support" in invitation.html
    assert "at least 4 people" in invitation.html

    reminder = renderer.reminder(board)
    assert reminder.subject == (
        "Reminder: Oak & <Elm> Trust's review Spring <b>2026</b> closes Monday 23 March"
    )
    assert "your group's ratings are shown as a group even though it is small" in reminder.text
    # An open group is not told it is "Anonymous" (its ratings are shown as a group).
    assert "\nYour answers: " in reminder.text and "Anonymous:" not in reminder.text
    assert "<strong>Your answers:</strong>" in reminder.html
    assert "\nAnonymous: " in invitation.text and "<strong>Anonymous:</strong>" in invitation.html
    assert "your group&#39;s ratings are shown as a group" in reminder.html
    assert PURPOSE_END in reminder.html
