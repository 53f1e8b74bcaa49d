"""Email content: rendering the templates and building `EmailMessage`s.

A personal link must never be stored (SPEC section 6: the database keeps only a hash of each
link's nonce), so the outbox holds invitation and reminder bodies with `LINK_PLACEHOLDER` where
the link goes; the dispatcher mints a fresh link at send time and puts it in with `fill_link`.

The HTML templates carry their styles inline (mail clients drop `<style>` blocks), so no CSS
inliner runs per message.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from survey.models import Cycle, Group, Invitation
from survey.services.frameworks import get_cycle_framework, get_cycle_scope
from survey.timeutil import as_utc, format_local, get_zone, utcnow

# Stands for the personal link in stored bodies; survives HTML escaping and URL contexts as is.
LINK_PLACEHOLDER = "__MAT_REVIEW_PERSONAL_LINK__"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


def one_line(value: str, limit: int = 400) -> str:
    """A header value: no line breaks (no header injection), at most `limit` characters."""
    return " ".join(value.split())[:limit]


def new_message_id(sender: str) -> str:
    """A globally unique Message-ID in the sender's domain, fixed when a row is enqueued."""
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] or "mat-review.localhost"
    return make_msgid(idstring="mat-review", domain=domain)


# -- invitations and reminders ------------------------------------------------------------------


class InvitationRenderer:
    """Renders one cycle's invitations or reminders; the per-cycle facts are looked up once."""

    def __init__(self, session: Session, cycle: Cycle):
        framework = get_cycle_framework(session, cycle)
        closes_local = as_utc(cycle.closes_at).astimezone(get_zone(cycle.trust.timezone))
        self.cycle = cycle
        self.groups: dict[int, Group] = {g.id: g for g in cycle.groups}
        self.sentences: Any = current_app.jinja_env.get_template("email/_sentences.txt").module
        self.base: dict[str, Any] = {
            "trust_name": cycle.trust.name,
            "cycle_title": cycle.title,
            "framework_title": framework.title,
            "closes_at": format_local(cycle.closes_at, cycle.trust.timezone),
            # The short form for subjects: the day, without the zone (the body has it in full).
            "closes_on": f"{closes_local:%A} {closes_local.day} {closes_local:%B}",
            "min_group_size": cycle.min_group_size,
            # The same estimate as the survey's landing page (framework.TimeEstimate).
            "takes": framework.time_estimate(get_cycle_scope(cycle)).words,
            "link": LINK_PLACEHOLDER,
            # Who asks (SPEC 7): "Jane Smith, Chief Executive" and their note, if named.
            "sender_name": cycle.sender_name or "",
            "sender_role": cycle.sender_role or "",
            "sender": ", ".join(p for p in (cycle.sender_name, cycle.sender_role) if p),
            "reply_to": cycle.reply_to or "",
            "note": cycle.invitation_note or "",
        }

    def _context(self, invitation: Invitation) -> dict[str, Any]:
        group = self.groups.get(invitation.group_id) or invitation.group
        return {
            **self.base,
            "name": (invitation.name or "").strip(),
            "group_label": group.label,
            # Plain text (a macro called from Python returns str): the HTML email escapes it.
            "purpose": self.sentences.purpose(self.base["framework_title"]),
            "promise": self.sentences.promise(self.cycle.min_group_size, group.is_open),
            # An open group's answers are shown as a group even though it is small: its email
            # must not lead with "Anonymous" (issue 16).
            "promise_label": "Your answers" if group.is_open else "Anonymous",
        }

    def invitation(self, invitation: Invitation) -> RenderedEmail:
        return render_email("invitation", **self._context(invitation))

    def reminder(self, invitation: Invitation) -> RenderedEmail:
        return render_email("reminder", **self._context(invitation))


def render_email(kind: str, /, **context: Any) -> RenderedEmail:
    """email/<kind>.subject.txt, .txt and .html, rendered by the app's Jinja environment: the
    words of every email, its subject included, live in the templates."""
    env = current_app.jinja_env
    return RenderedEmail(
        subject=one_line(env.get_template(f"email/{kind}.subject.txt").render(**context)),
        text=env.get_template(f"email/{kind}.txt").render(**context),
        html=env.get_template(f"email/{kind}.html").render(**context),
    )


def fill_link(text_body: str, html_body: str, link: str) -> tuple[str, str]:
    """Put the freshly minted personal link into the stored bodies."""
    if LINK_PLACEHOLDER not in text_body or LINK_PLACEHOLDER not in html_body:
        raise ValueError("the stored message has no place for the personal link")
    return (
        text_body.replace(LINK_PLACEHOLDER, link),
        html_body.replace(LINK_PLACEHOLDER, html.escape(link, quote=True)),
    )


# -- building the message -----------------------------------------------------------------------


def sender_header(service_sender: str, display_name: str = "") -> str:
    """The From header: the service's own address (it is the one allowed to send), shown under
    a person's name when the email comes from one (SPEC 7)."""
    if not display_name:
        return service_sender
    address = parseaddr(service_sender)[1] or service_sender
    return formataddr((one_line(display_name, 200), address))


def build_email(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html_body: str,
    message_id: str,
    reply_to: str = "",
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """A multipart/alternative (text + HTML) message, inside multipart/mixed if it has files."""
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = one_line(reply_to, 320)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    # Asks auto-responders (out-of-office replies) not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        message.add_attachment(
            item.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
        )
    return message
