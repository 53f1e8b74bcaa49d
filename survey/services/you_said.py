""" "You said, we did" (issue 18): one email to everyone invited to a cycle, answered or not, with
the response rates, the report's main findings in its own words, and the agreed priorities with
their actions.

- The same message goes to every invitation: nothing in it, and nothing about who gets it, says
  whether a person answered. Response rates follow the live page's rule: a group that is not
  open and has fewer than the minimum group size of completed responses says "fewer than N".
- The findings are the stored report's (its report.html), never recomputed here.
- The CEO edits the subject, the opening and the closing words (`FollowUp`), previews the whole
  email, and sends it once: `FollowUp.queued_at` is set once, and each invitation's outbox row has
  a key of its own (`survey.mail.outbox.follow_up_key`), so neither a second press nor any number
  of dispatcher runs sends it twice.
- It can be sent only once the report has been compiled, and not after a purge (the addresses
  are gone; rows still waiting at a purge lose their address and are cancelled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from survey.errors import UserError
from survey.mail import outbox
from survey.mail.messages import RenderedEmail, render_email
from survey.models import (
    Cycle,
    CycleState,
    FollowUp,
    Invitation,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
    Report,
    ReportFile,
)
from survey.queries import GroupCounts, group_counts, has_report, total_counts
from survey.services import plans
from survey.services.audit import record_event
from survey.timeutil import utcnow

SUBJECT_MAX = 200
WORDS_MAX = 4000
DEFAULT_OPENING = (
    "Thank you to everyone we asked to take part in our review. Here is what you told us, what "
    "we found, and what we have agreed to do about it."
)
DEFAULT_CLOSING = (
    "We will review progress during the year and ask for your view again next year, to see "
    "what has moved. If you have a question about the plan, reply to this email."
)


def default_subject(cycle: Cycle) -> str:
    return f"You said, we did: {cycle.title}"


# -- the report's findings, from the stored report.html -----------------------------------------


@dataclass
class StoredFinding:
    title: str
    sentences: list[str] = field(default_factory=list)


class _FindingsReader(HTMLParser):
    """Reads `<div class="findings">`: each `<h4>` a finding's title, each `<li>` a sentence."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[StoredFinding] = []
        self._inside = False
        self._tag: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div" and ("class", "findings") in attrs:
            self._inside = True
        elif self._inside and tag in ("h4", "li"):
            self._tag, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if not self._inside:
            return
        if tag == "div":
            self._inside = False
        elif tag == self._tag:
            text = " ".join("".join(self._text).split())
            if tag == "h4":
                self.findings.append(StoredFinding(text))
            elif self.findings:
                self.findings[-1].sentences.append(text)
            self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag is not None:
            self._text.append(data)


def stored_findings(session: Session, cycle: Cycle) -> list[StoredFinding]:
    """The findings exactly as the stored report words them (empty without a report)."""
    content = session.scalar(
        select(ReportFile.content)
        .join(Report, ReportFile.report_id == Report.id)
        .where(Report.cycle_id == cycle.id, ReportFile.name == "report.html")
    )
    if content is None:
        return []
    reader = _FindingsReader()
    reader.feed(content.decode("utf-8"))
    return reader.findings


# -- the message ----------------------------------------------------------------------------------


def get_follow_up(session: Session, cycle: Cycle) -> FollowUp:
    """The cycle's message words: the saved ones, or the defaults (not added to the session)."""
    saved = session.get(FollowUp, cycle.id)
    if saved is not None:
        return saved
    return FollowUp(
        cycle_id=cycle.id,
        subject=default_subject(cycle),
        opening=DEFAULT_OPENING,
        closing=DEFAULT_CLOSING,
        queued_count=0,
    )


def save_words(
    session: Session, cycle: Cycle, subject: str, opening: str, closing: str, actor: str
) -> FollowUp:
    """Keep the CEO's words for the message (refused once it has been sent)."""
    row = session.get(FollowUp, cycle.id)
    if row is not None and row.queued_at is not None:
        raise UserError("the message has been sent: its words can no longer change")
    subject = " ".join(subject.split())
    if not subject:
        raise UserError("give the email a subject", field="subject")
    if len(subject) > SUBJECT_MAX:
        raise UserError(f"the subject is longer than {SUBJECT_MAX} characters", field="subject")
    for name, value in (("opening", opening), ("closing", closing)):
        if len(value) > WORDS_MAX:
            raise UserError(f"the {name} is longer than {WORDS_MAX:,} characters", field=name)
    if row is None:
        row = FollowUp(cycle_id=cycle.id, queued_count=0)
        session.add(row)
    row.subject, row.opening, row.closing = subject, opening.strip(), closing.strip()
    row.updated_by, row.updated_at = actor, utcnow()
    record_event(session, actor, "you-said.edit", cycle=cycle, detail=subject)
    session.flush()
    return row


@dataclass(frozen=True)
class Rates:
    groups: list[GroupCounts]  # masked as on the live page
    invited: int
    completed: int | None  # None when a masked group would let the total reveal it
    threshold: int


def response_rates(session: Session, cycle: Cycle) -> Rates:
    counts = [c.masked(cycle.min_group_size) for c in group_counts(session, cycle)]
    totals = total_counts(counts)
    return Rates(
        groups=counts,
        invited=totals.invited,
        completed=None if totals.is_partial else totals.completed,
        threshold=cycle.min_group_size,
    )


def render_message(session: Session, cycle: Cycle) -> RenderedEmail:
    """The one email everyone invited gets (no name, no link, nothing per person)."""
    words = get_follow_up(session, cycle)
    plan = plans.load_plan(session, cycle)
    return render_email(
        "follow-up",
        subject=words.subject,
        opening=words.opening,
        closing=words.closing,
        trust_name=cycle.trust.name,
        cycle_title=cycle.title,
        framework_title=plan.framework.title,
        rates=response_rates(session, cycle),
        findings=stored_findings(session, cycle),
        priorities=plan.priorities,
        status_label=plans.status_label,
        due_text=plans.due_text,
        sender_name=cycle.sender_name or "",
        sender_role=cycle.sender_role or "",
    )


def refusal(session: Session, cycle: Cycle) -> str | None:
    """Why the message cannot be sent now, if it cannot."""
    row = session.get(FollowUp, cycle.id)
    if row is not None and row.queued_at is not None:
        return "the message has already been sent to everyone invited; it is sent only once"
    if cycle.purged_at is not None:
        return (
            "the names and email addresses of the people invited have been removed: "
            "there is nobody left to send it to"
        )
    if not has_report(session, cycle) or cycle.state != CycleState.REPORTED:
        return "it can be sent once the cycle's report has been compiled and sent"
    return None


def send(session: Session, cycle: Cycle, actor: str, *, now: datetime | None = None) -> int:
    """Queue the message to every invitation whose address is held, once; returns how many."""
    # Lock the cycle's row so that two presses at once queue it once.
    session.execute(select(Cycle.id).where(Cycle.id == cycle.id).with_for_update()).all()
    session.refresh(cycle)
    reason = refusal(session, cycle)
    if reason is not None:
        raise UserError(f"cannot send “you said, we did”: {reason}")
    rendered = render_message(session, cycle)
    row = session.get(FollowUp, cycle.id)
    if row is None:
        row = get_follow_up(session, cycle)
        row.updated_by, row.updated_at = actor, utcnow()
        session.add(row)
    queued = outbox.enqueue_follow_ups(session, cycle, rendered, now=now)
    row.queued_at, row.queued_by, row.queued_count = now or utcnow(), actor, queued
    record_event(
        session, actor, "you-said.send", cycle=cycle, detail=f"queued to {queued} invitations"
    )
    session.flush()
    return queued


@dataclass(frozen=True)
class Status:
    queued_at: datetime | None
    queued_by: str | None
    sent: int
    waiting: int
    failed: int
    cancelled: int

    @property
    def is_queued(self) -> bool:
        return self.queued_at is not None


def status(session: Session, cycle: Cycle) -> Status:
    """Whether the message was sent, and how its emails fared (counts only)."""
    row = session.get(FollowUp, cycle.id)
    by_status = dict(
        session.execute(
            select(OutboxMessage.status, func.count())
            .where(
                OutboxMessage.cycle_id == cycle.id,
                OutboxMessage.kind == MessageKind.FOLLOW_UP,
            )
            .group_by(OutboxMessage.status)
        ).all()
    )
    return Status(
        queued_at=row.queued_at if row else None,
        queued_by=row.queued_by if row else None,
        sent=int(by_status.get(OutboxStatus.SENT, 0)),
        waiting=int(by_status.get(OutboxStatus.PENDING, 0)),
        failed=int(by_status.get(OutboxStatus.FAILED, 0)),
        cancelled=int(by_status.get(OutboxStatus.CANCELLED, 0)),
    )


def addressable_count(session: Session, cycle: Cycle) -> int:
    """How many invitations the message would go to now (everyone whose address is held)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(
                Invitation.cycle_id == cycle.id,
                Invitation.is_purged.is_(False),
                Invitation.email.is_not(None),
            )
        )
        or 0
    )
