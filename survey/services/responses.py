"""A respondent's answers: validation, drafts, the single-use anonymous submission, decline.

The anonymity rules of SPEC section 5 are kept here:
- a submit writes one sealed ballot (`survey.services.ballots`): the answers and the group,
  encrypted and padded to the cycle's one size, with a random id and no invitation id, time or
  order. Nothing readable is written: `responses` and `ratings` are written only by sealing at
  close, which opens the ballots and shuffles them;
- the invitation records only *that* it was completed, by a conditional UPDATE whose row count
  decides, inside the same transaction, whether this is the one submission that is stored;
- drafts are sealed the same way, bound to their invitation, and deleted in that transaction.

Every function flushes and never commits: the request commits once at its edge.

Concurrency: each writer first takes a shared lock on the cycle row (PostgreSQL `FOR SHARE`;
SQLite already serialises writers with `BEGIN IMMEDIATE`), so closing a cycle, which updates that
row, waits for submissions in flight and every later submission sees the cycle closed. Sealing
then sees every response that was stored.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

import framework as fw
from survey.models import (
    Ballot,
    Cycle,
    CycleState,
    Draft,
    Invitation,
    random_response_id,
)
from survey.sealbox import Keyring, SealError
from survey.services import ballots
from survey.services.ballots import RATIONALE_MAX, SealedAnswers
from survey.services.frameworks import get_framework
from survey.timeutil import as_utc, utcnow

RATING_PREFIX = "rating-"
RATIONALE_PREFIX = "rationale-"


class Standing(enum.StrEnum):
    """Where an invitation stands for its holder right now."""

    OPEN = "open"
    NOT_YET_OPEN = "not-yet-open"
    CLOSED = "closed"
    SUBMITTED = "submitted"
    DECLINED = "declined"


class Outcome(enum.StrEnum):
    RECORDED = "recorded"
    SAVED = "saved"
    DECLINED = "declined"
    ALREADY_SUBMITTED = "already-submitted"
    ALREADY_DECLINED = "already-declined"
    CLOSED = "closed"
    NOT_YET_OPEN = "not-yet-open"


def cycle_standing(state: CycleState, closes_at: datetime, now: datetime | None = None) -> Standing:
    """A cycle takes answers while it is open and its close date has not passed (the scheduler
    may close it a little later; answers are refused from the advertised moment)."""
    if state in (CycleState.CLOSED, CycleState.REPORTED):
        return Standing.CLOSED
    if state != CycleState.OPEN:
        return Standing.NOT_YET_OPEN
    if (now or utcnow()) >= as_utc(closes_at):
        return Standing.CLOSED
    return Standing.OPEN


def get_standing(invitation: Invitation, now: datetime | None = None) -> Standing:
    """Closed first (a link is refused once its cycle is closed), then completed or declined."""
    standing = cycle_standing(invitation.cycle.state, invitation.cycle.closes_at, now)
    if standing != Standing.OPEN:
        return standing
    if invitation.is_completed:
        return Standing.SUBMITTED
    if invitation.is_declined:
        return Standing.DECLINED
    return Standing.OPEN


# -- answers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Something wrong with the answers. `field` is the id of the input to link to."""

    message: str
    field: str
    code: str | None = None  # the element it belongs to, if it is in scope


@dataclass
class Answers:
    """Answers as typed, keyed by element code. Invalid values are not kept in `ratings` (they
    cannot be shown as a chosen radio) but are named in `problems`."""

    ratings: dict[str, str] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def problems_for(self, code: str) -> list[Problem]:
        return [p for p in self.problems if p.code == code]

    def as_fields(self) -> dict[str, str]:
        """The form fields these answers came from (the draft's JSON shape)."""
        data = {f"{RATING_PREFIX}{code}": key for code, key in self.ratings.items()}
        data.update({f"{RATIONALE_PREFIX}{code}": text for code, text in self.rationales.items()})
        return data

    def is_empty(self) -> bool:
        return not self.ratings and not any(t.strip() for t in self.rationales.values())


def first_radio_id(code: str, framework: fw.Framework) -> str:
    return f"{RATING_PREFIX}{code}-{framework.scale.answer_keys[0]}"


def normalise_rationale(text: str) -> str:
    """Browsers send line breaks as CRLF but count them as one character for `maxlength`."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_answers(
    fields: Iterable[tuple[str, str]], framework: fw.Framework, scope: fw.Scope
) -> Answers:
    """Read `rating-<CODE>` and `rationale-<CODE>` fields, checking each against the cycle's
    framework and scope. Other fields (csrf_token, action) are ignored."""
    elements = {e.code: e for e in framework.elements_in_scope(scope)}
    allowed = framework.scale.answer_keys
    answers = Answers()
    seen_ratings: dict[str, set[str]] = {}
    strays: list[str] = []
    for name, raw in fields:
        if name.startswith(RATING_PREFIX):
            code, value = name[len(RATING_PREFIX) :], raw.strip()
            if code not in elements:
                strays.append(code)
                continue
            if not value:
                continue
            seen_ratings.setdefault(code, set()).add(value)
        elif name.startswith(RATIONALE_PREFIX):
            code = name[len(RATIONALE_PREFIX) :]
            if code not in elements:
                if raw.strip():
                    strays.append(code)
                continue
            answers.rationales[code] = normalise_rationale(raw)
    for code, element in elements.items():
        values = seen_ratings.get(code, set())
        if len(values) > 1:
            answers.problems.append(
                Problem(
                    f"{code} {element.title}: choose only one rating",
                    first_radio_id(code, framework),
                    code,
                )
            )
        elif values:
            (value,) = values
            if value in allowed:
                answers.ratings[code] = value
            else:
                answers.problems.append(
                    Problem(
                        f"{code} {element.title}: “{value[:40]}” is not one of the ratings; "
                        "choose one of the options",
                        first_radio_id(code, framework),
                        code,
                    )
                )
        text = answers.rationales.get(code, "")
        if len(text) > RATIONALE_MAX:
            answers.problems.append(
                Problem(
                    f"{code} {element.title}: the rationale is {len(text):,} characters long; "
                    f"shorten it to {RATIONALE_MAX:,} characters or fewer",
                    f"{RATIONALE_PREFIX}{code}",
                    code,
                )
            )
    for code in dict.fromkeys(strays):
        answers.problems.append(
            Problem(
                f"“{code[:20]}” is not an element of this review; those answers cannot be kept",
                "answers",
            )
        )
    return answers


def missing_elements(
    answers: Answers, framework: fw.Framework, scope: fw.Scope
) -> list[fw.Element]:
    return [e for e in framework.elements_in_scope(scope) if e.code not in answers.ratings]


def require_complete(answers: Answers, framework: fw.Framework, scope: fw.Scope) -> None:
    """Add a problem for every element in scope without a rating (only when submitting)."""
    for element in missing_elements(answers, framework, scope):
        if answers.problems_for(element.code):
            continue
        answers.problems.append(
            Problem(
                f"{element.code} {element.title}: choose a rating "
                "(or “Don't know / not enough evidence”)",
                first_radio_id(element.code, framework),
                element.code,
            )
        )


# -- storing ------------------------------------------------------------------------------------


def _lock_cycle(session: Session, cycle_id: int) -> Standing:
    """Share-lock the cycle row and read its state afresh (not from the identity map)."""
    row = session.execute(
        select(Cycle.state, Cycle.closes_at).where(Cycle.id == cycle_id).with_for_update(read=True)
    ).one()
    return cycle_standing(row.state, row.closes_at)


def _invitation_flags(session: Session, invitation_id: int) -> tuple[bool, bool]:
    row = session.execute(
        select(Invitation.is_completed, Invitation.is_declined).where(
            Invitation.id == invitation_id
        )
    ).one()
    return bool(row.is_completed), bool(row.is_declined)


def _not_open_outcome(standing: Standing) -> Outcome:
    return Outcome.CLOSED if standing == Standing.CLOSED else Outcome.NOT_YET_OPEN


def _mark_invitation_once(session: Session, invitation: Invitation, **flag: bool) -> Outcome | None:
    """Share-lock the cycle, then set `flag` (completed or declined) on the invitation only if it
    is neither yet, deciding by row count whatever the concurrency. None when this call made the
    change; otherwise the outcome to show instead."""
    standing = _lock_cycle(session, invitation.cycle_id)
    if standing != Standing.OPEN:
        return _not_open_outcome(standing)
    result = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.is_completed.is_(False),
            Invitation.is_declined.is_(False),
        )
        .values(**flag)
    )
    if getattr(result, "rowcount", 0) == 1:
        return None
    is_completed, _ = _invitation_flags(session, invitation.id)
    return Outcome.ALREADY_SUBMITTED if is_completed else Outcome.ALREADY_DECLINED


def record_response(
    session: Session,
    invitation: Invitation,
    answers: Answers,
    framework: fw.Framework,
    keyring: Keyring | None = None,
) -> Outcome:
    """Store one sealed ballot for `invitation`, at most once whatever the concurrency.

    The caller has validated `answers` as complete. Returns RECORDED only when this call marked
    the invitation completed and wrote the ballot; the caller then commits.
    """
    cycle_id, group_id, invitation_id = invitation.cycle_id, invitation.group_id, invitation.id
    scope = fw.parse_scope(invitation.cycle.scope)
    # Sealed before anything is written: the transaction holds the row locks for less time.
    sealed = ballots.seal(
        keyring or ballots.keyring(),
        ballots.BALLOT,
        cycle_id,
        SealedAnswers(
            answers.ratings,
            {code: text.strip() for code, text in answers.rationales.items() if text.strip()},
            group_id,
        ),
        framework,
        scope,
    )
    refused = _mark_invitation_once(session, invitation, is_completed=True)
    if refused is not None:
        return refused
    # Plain inserts, not ORM objects: nothing that identifies the ballot stays in the session
    # or leaves this function (the caller learns only that it was recorded).
    session.execute(
        insert(Ballot).values(id=random_response_id(), cycle_id=cycle_id, sealed=sealed)
    )
    session.execute(delete(Draft).where(Draft.invitation_id == invitation_id))
    return Outcome.RECORDED


def _seal_draft(
    keyring: Keyring, invitation: Invitation, answers: Answers, framework: fw.Framework
) -> bytes:
    return ballots.seal(
        keyring,
        ballots.DRAFT,
        invitation.cycle_id,
        SealedAnswers(answers.ratings, answers.rationales),
        framework,
        fw.parse_scope(invitation.cycle.scope),
        bound=str(invitation.id),
    )


def save_draft(
    session: Session,
    invitation: Invitation,
    answers: Answers,
    framework: fw.Framework,
    keyring: Keyring | None = None,
) -> Outcome:
    """Keep the answers so far, sealed, against the invitation (replacing any earlier draft)."""
    sealed = _seal_draft(keyring or ballots.keyring(), invitation, answers, framework)
    refused = _lock_for_draft(session, invitation)
    if refused is not None:
        return refused
    _write_draft(session, invitation.id, sealed)
    return Outcome.SAVED


def save_draft_part(
    session: Session,
    invitation: Invitation,
    answers: Answers,
    codes: Iterable[str],
    framework: fw.Framework,
    keyring: Keyring | None = None,
) -> Outcome:
    """Replace the draft's answers for the elements `codes` (one page of the form) with
    `answers`, keeping every other element's answers as saved. The draft is read under the
    same locks as it is written, so two pages saved at once both stay."""
    ring = keyring or ballots.keyring()
    refused = _lock_for_draft(session, invitation)
    if refused is not None:
        return refused
    scope = fw.parse_scope(invitation.cycle.scope)
    merged = load_draft(session, invitation, framework, scope, ring) or Answers()
    for code in codes:
        merged.ratings.pop(code, None)
        merged.rationales.pop(code, None)
        if code in answers.ratings:
            merged.ratings[code] = answers.ratings[code]
        if answers.rationales.get(code, "").strip():
            merged.rationales[code] = answers.rationales[code]
    _write_draft(session, invitation.id, _seal_draft(ring, invitation, merged, framework))
    return Outcome.SAVED


def _lock_for_draft(session: Session, invitation: Invitation) -> Outcome | None:
    """Share-lock the cycle and lock the invitation row; None if a draft may be written now,
    otherwise the outcome to show instead."""
    standing = _lock_cycle(session, invitation.cycle_id)
    if standing != Standing.OPEN:
        return _not_open_outcome(standing)
    # Lock the invitation row: a submit of the same invitation in flight finishes first, and
    # then this save sees it completed instead of leaving a draft behind.
    row = session.execute(
        select(Invitation.is_completed, Invitation.is_declined)
        .where(Invitation.id == invitation.id)
        .with_for_update()
    ).one()
    if row.is_completed:
        return Outcome.ALREADY_SUBMITTED
    if row.is_declined:
        return Outcome.ALREADY_DECLINED
    return None


def _write_draft(session: Session, invitation_id: int, sealed: bytes) -> None:
    draft = session.get(Draft, invitation_id)
    if draft is None:
        session.add(Draft(invitation_id=invitation_id, sealed=sealed))
    else:
        draft.sealed = sealed
    session.flush()


def load_draft(
    session: Session,
    invitation: Invitation,
    framework: fw.Framework,
    scope: fw.Scope,
    keyring: Keyring | None = None,
) -> Answers | None:
    """The saved answers, checked again against the framework (anything no longer valid is
    dropped rather than shown as an error the person did not make). A draft that no key opens
    (the secret key was replaced without keeping the old one as a fallback) is treated as none."""
    box = session.scalar(select(Draft.sealed).where(Draft.invitation_id == invitation.id))
    if box is None:
        return None
    try:
        opened = ballots.unseal(
            keyring or ballots.keyring(),
            ballots.DRAFT,
            invitation.cycle_id,
            box,
            framework,
            scope,
            bound=str(invitation.id),
        )
    except SealError:
        return None
    fields = [(f"{RATING_PREFIX}{c}", k) for c, k in opened.ratings.items()]
    fields += [(f"{RATIONALE_PREFIX}{c}", t) for c, t in opened.rationales.items()]
    answers = parse_answers(fields, framework, scope)
    answers.problems = []
    return answers


def seal_legacy_draft(session: Session, invitation_id: int, payload: str) -> bytes | None:
    """Seal a draft saved in clear JSON by an earlier version (used by migration 0002); None
    when it holds nothing usable. Reads its cycle with plain SQL, not the models: it runs
    inside that migration, before later migrations add the models' newer columns."""
    found = session.execute(
        text(
            "SELECT c.id, c.framework_key, c.framework_version, c.scope FROM invitations i "
            "JOIN cycles c ON c.id = i.cycle_id WHERE i.id = :invitation"
        ),
        {"invitation": invitation_id},
    ).first()
    if found is None:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    cycle_id, framework_key, framework_version, scope_text = found
    framework = get_framework(session, framework_key, framework_version)
    scope = fw.parse_scope(scope_text)
    answers = parse_answers(
        ((str(k), str(v)) for k, v in data.items() if isinstance(v, str)), framework, scope
    )
    answers.rationales = {code: typed[:RATIONALE_MAX] for code, typed in answers.rationales.items()}
    return ballots.seal(
        ballots.keyring(),
        ballots.DRAFT,
        int(cycle_id),
        SealedAnswers(answers.ratings, answers.rationales),
        framework,
        scope,
        bound=str(invitation_id),
    )


def decline(session: Session, invitation: Invitation) -> Outcome:
    """Record "I will not take part": counted as declined, no more reminders, any draft deleted."""
    invitation_id = invitation.id
    refused = _mark_invitation_once(session, invitation, is_declined=True)
    if refused is not None:
        return refused
    session.execute(delete(Draft).where(Draft.invitation_id == invitation_id))
    session.flush()
    return Outcome.DECLINED
