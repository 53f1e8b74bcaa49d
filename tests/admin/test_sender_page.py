"""The page that names who a cycle's invitations come from (issue 17)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from survey.models import Cycle
from tests.admin.helpers import Browser

NOTE = "Last year your views shaped our plan.\nThis year I would like to hear from you again."


def test_the_sender_page_saves_and_previews(
    signed_in: tuple[Browser, Any, Any], session: Session, make_cycle: Callable[..., Cycle]
) -> None:
    browser, _, trust = signed_in
    cycle = make_cycle(trust)
    url = f"/admin/cycles/{cycle.id}/sender"
    refused = browser.post(url, {"sender_name": "Jane", "reply_to": "jane@"})
    assert refused.status_code == 422
    assert 'id="reply_to-error"' in refused.get_data(as_text=True)
    saved = browser.post(
        url,
        {
            "sender_name": "Jane Smith",
            "sender_role": "Chief Executive",
            "reply_to": "jane@oak.example",
            "invitation_note": NOTE,
        },
    )
    assert saved.status_code == 303
    page = browser.get(url).get_data(as_text=True)
    assert "<dd>Jane Smith (Oak Learning Trust) &lt;mat-review@localhost&gt;</dd>" in page
    assert "Jane Smith, Chief Executive, is asking for your view" in page
    assert "Dear Sam Jones" in page
