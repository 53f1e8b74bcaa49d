"""The people invited to a cycle: checking them (a CSV file, or one person from a form, by the
same row rules), saving them, and sending one of them the invitation again.

A file has the header `email,name,group`, optional `school`.

All or nothing: every bad row is reported with its line number and nothing is saved if any is bad.
Excel exports are read as they come: UTF-8 with or without a BOM, or Windows-1252 ("CSV" as
Excel on Windows saves it); `;` as the delimiter; Excel's `sep=,` or `sep=;` first line, which
names the delimiter; Windows line endings.

A file's bytes are decoded exactly once, by `decode`: the web pages carry that text from the
preview to the confirmation, so what is saved is what was previewed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from survey.errors import NotFound, UserError
from survey.mail.outbox import (
    enqueue_invitations,
    enqueue_resend,
    forget_links_and_waiting_mail,
)
from survey.models import Cycle, DeliveryStatus, Invitation
from survey.queries import ADDED_AFTER_LAUNCH, list_invited_emails
from survey.services.audit import record_event
from survey.services.limits import length_problem

REQUIRED_COLUMNS = ("email", "name", "group")
OPTIONAL_COLUMNS = ("school",)
MAX_ROWS = 5000


@dataclass(frozen=True)
class RecipientRow:
    line: int
    email: str
    name: str
    group: str
    school: str


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str
    raw: dict[str, str] = field(default_factory=dict)
    # The column the first complaint is about (the one-person form shows it beside that field).
    column: str = "email"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class RecipientSheet:
    rows: list[RecipientRow]
    problems: list[RowProblem]

    @property
    def is_valid(self) -> bool:
        return not self.problems


class RecipientErrors(UserError):
    """The file has bad rows; nothing was saved."""

    def __init__(self, problems: list[RowProblem]):
        self.problems = problems
        lines = ", ".join(str(p.line) for p in problems)
        super().__init__(
            f"{len(problems)} bad row(s), nothing saved (lines {lines}): "
            + "; ".join(str(p) for p in problems)
        )


# Excel's delimiter hint: a first line `sep=,` (or `sep=;`, `sep=|`, a tab), sometimes quoted.
SEP_LINE = re.compile(r'"?sep=([^"\r\n])"?[,;\t|]*', re.IGNORECASE)
FIRST_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")


def decode(data: bytes | str) -> str:
    """The file's text: UTF-8 (with or without a BOM), else Windows-1252. Text is returned as it
    is, less a leading BOM."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UserError("the file is not text (save it from your spreadsheet as CSV UTF-8)")


def normalise_email(value: str) -> str:
    """The address as it will be stored and compared (domain lower-cased, syntax checked)."""
    result = validate_email(value.strip(), check_deliverability=False)
    return str(result.normalized)


def mailbox_key(address: str) -> str:
    """The same key for two addresses that reach the same mailbox: letters in any case, and a
    `+tag` after the local part (Ann+x@School.org reaches ann@school.org). One person invited
    twice would answer twice, and would then know another member's answers in a small group."""
    local, _, domain = address.rpartition("@")
    base = local.split("+", 1)[0] or local
    return f"{base}@{domain}".casefold()


def _delimiter(text: str) -> tuple[str, int, str]:
    """(delimiter, lines skipped, the text from the header on). Excel's `sep=` line names the
    delimiter; otherwise `;` when the header has more of them than commas."""
    found = FIRST_LINE.match(text)
    first_line = found.group(1) if found else ""
    hint = SEP_LINE.fullmatch(first_line.strip(" "))
    if hint is not None and found is not None:
        return hint.group(1), 1, text[found.end() :]
    return (";" if first_line.count(";") > first_line.count(",") else ","), 0, text


@dataclass
class InvitedSoFar:
    """The mailboxes already taken: by the cycle's invitations (`existing`, mailbox key ->
    address) and by earlier rows of the same file (`seen`, mailbox key -> (line, address))."""

    existing: dict[str, str]
    seen: dict[str, tuple[int, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, emails: Iterable[str]) -> InvitedSoFar:
        return cls({mailbox_key(e): e for e in emails})

    def problem(self, email: str, line: int) -> str | None:
        """Why `email` cannot be invited (it, or its mailbox, is taken); else None, and it is
        taken from now on by `line`."""
        key = mailbox_key(email)
        if key in self.seen:
            seen_line, seen_email = self.seen[key]
            if seen_email == email:
                return f"{email} appears twice (also on line {seen_line})"
            return f"{email} reaches the same mailbox as {seen_email} on line {seen_line}"
        if key in self.existing:
            if self.existing[key] == email:
                return f"{email} is already invited to this cycle"
            return (
                f"{email} reaches the same mailbox as {self.existing[key]}, who is already "
                "invited to this cycle"
            )
        self.seen[key] = (line, email)
        return None


def group_choices(groups: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    """The cycle's groups as key -> label (a plain list of keys is its own labels)."""
    if isinstance(groups, Mapping):
        return dict(groups)
    return {key: key for key in groups}


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def _group_key(value: str, groups: Mapping[str, str]) -> str | None:
    """The key of the group `value` names, by its key or its label, in any letter case."""
    wanted = _folded(value)
    for key, label in groups.items():
        if wanted in (_folded(key), _folded(label)):
            return key
    return None


def check_recipient_row(
    cells: Sequence[str],
    line: int,
    group_list: Mapping[str, str] | Iterable[str],
    known: InvitedSoFar,
    header: Sequence[str] = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS),
) -> RecipientRow | RowProblem:
    """Check one person, as a row of a file (`cells` under `header`) or from the one-person
    form: the same rules either way. A good address is added to `known`. The group may be
    given by its key or its label, in any letter case."""
    groups = group_choices(group_list)
    issues: list[tuple[str, str]] = []  # (column, complaint)
    if any("\x00" in cell for cell in cells):
        issues.append(("email", "contains a NUL character (is this really a CSV file?)"))
        cells = [cell.replace("\x00", "") for cell in cells]
    raw = {
        name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header) if name
    }
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        issues.append(("email", f"more cells than the header has columns ({len(cells)})"))
    email = raw.get("email", "")
    if not email:
        issues.append(("email", "email is empty"))
    else:
        try:
            email = normalise_email(email)
        except EmailNotValidError as exc:
            issues.append(("email", f"{email!r} is not a valid email address ({exc})"))
        else:
            taken = known.problem(email, line)
            if taken:
                issues.append(("email", taken))
    for column, attribute in (("name", Invitation.name), ("school", Invitation.school)):
        problem = length_problem(raw.get(column, ""), attribute, column)
        if problem:
            issues.append((column, problem))
    group = raw.get("group", "").strip()
    if not group:
        issues.append(("group", "group is empty"))
    elif _group_key(group, groups) is None:
        issues.append(
            (
                "group",
                f"unknown group {group!r} (this cycle's groups: "
                + ", ".join(
                    key if label == key else f"{key} ({label})" for key, label in groups.items()
                )
                + ")",
            )
        )
    if issues:
        return RowProblem(line, "; ".join(m for _, m in issues), raw, issues[0][0])
    group = _group_key(group, groups) or group
    return RecipientRow(line, email, raw.get("name", ""), group, raw.get("school", ""))


def read_recipients(
    data: bytes | str,
    groups: Mapping[str, str] | Iterable[str],
    invited_emails: Iterable[str] = (),
) -> RecipientSheet:
    """Check the whole file and return every good row and every problem with its line number.

    `invited_emails` are the addresses already invited to the cycle. Addresses are kept as
    typed; duplicates are found by `mailbox_key`, and a problem names both addresses."""
    text = decode(data)
    if not text.strip():
        raise UserError("the file is empty (expected a header line: email,name,group)")
    delimiter, skipped, text = _delimiter(text)
    if not text.strip():
        raise UserError("the file has nothing after its sep= line (expected email,name,group)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    at = f"line {1 + skipped}"
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise UserError(f"{at}: the header cannot be read as CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UserError(
            f"{at}: the header must name the columns email,name,group (optional school); "
            f"missing: {', '.join(missing)}"
        )
    unknown = [c for c in header if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise UserError(f"{at}: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        raise UserError(f"{at}: a column is named twice")

    known = InvitedSoFar.of(invited_emails)
    rows: list[RecipientRow] = []
    problems: list[RowProblem] = []
    try:
        for cells in reader:
            line = reader.line_num + skipped
            if not any(c.strip() for c in cells):
                continue  # blank lines (common at the end of exports)
            if len(rows) + len(problems) >= MAX_ROWS:
                raise UserError(f"the file has more than {MAX_ROWS} rows; split it")
            checked = check_recipient_row(cells, line, groups, known, header)
            if isinstance(checked, RowProblem):
                problems.append(checked)
            else:
                rows.append(checked)
    except csv.Error as exc:
        problems.append(
            RowProblem(reader.line_num + skipped, f"the row cannot be read as CSV ({exc})")
        )
    if not rows and not problems:
        raise UserError("the file has a header but no people")
    return RecipientSheet(rows, problems)


# -- saving and changing invitations --------------------------------------------------------------


def add_invitations(
    session: Session, cycle: Cycle, rows: list[RecipientRow], actor: str
) -> list[Invitation]:
    """Create invitations for checked rows. While a cycle is open, new people are invited at once
    (the dispatcher picks them up); in a draft they wait for the cycle to open."""
    cycle.ensure_accepts_invitations()
    groups = {g.key: g for g in cycle.groups}
    invitations = [
        Invitation(
            cycle_id=cycle.id,
            group_id=groups[row.group].id,
            email=row.email,
            name=row.name or None,
            school=row.school or None,
        )
        for row in rows
    ]
    session.add_all(invitations)
    session.flush()
    enqueue_invitations(session, cycle)  # none unless the cycle is open
    record_event(session, actor, "recipients.add", cycle=cycle, detail=f"{len(rows)} people")
    if cycle.is_under_way:
        # Each person added after launch is named, so that nobody can quietly add addresses
        # they control to a group (the cycle page lists these too). Plain name and address:
        # a purge replaces them with "[removed]".
        labels = {g.key: g.label for g in cycle.groups}
        for row in rows:
            person = f"{row.name} <{row.email}>" if row.name else row.email
            record_event(
                session,
                actor,
                ADDED_AFTER_LAUNCH,
                cycle=cycle,
                detail=f"{person} to {labels[row.group]}",
            )
    return invitations


def check_recipients(session: Session, cycle: Cycle, data: bytes | str) -> RecipientSheet:
    """Check a file against the cycle's groups and invitations, without saving anything."""
    cycle.ensure_accepts_invitations()
    return read_recipients(data, cycle_groups(cycle), list_invited_emails(session, cycle))


def cycle_groups(cycle: Cycle) -> dict[str, str]:
    return {g.key: g.label for g in cycle.groups}


def import_recipients(
    session: Session, cycle: Cycle, data: bytes | str, actor: str
) -> list[Invitation]:
    """All or nothing: raises RecipientErrors listing every bad row if any row is bad."""
    sheet = check_recipients(session, cycle, data)
    if sheet.problems:
        raise RecipientErrors(sheet.problems)
    return add_invitations(session, cycle, sheet.rows, actor)


def add_one_person(
    session: Session,
    cycle: Cycle,
    *,
    email: str,
    name: str,
    group: str,
    school: str,
    actor: str,
) -> Invitation:
    """Invite one more person, checked by exactly the rules a file's row is checked by."""
    cycle.ensure_accepts_invitations()
    known = InvitedSoFar.of(list_invited_emails(session, cycle))
    checked = check_recipient_row([email, name, group, school], 1, cycle_groups(cycle), known)
    if isinstance(checked, RowProblem):
        # "Not added:" first, so that the message never starts with the address (the page
        # capitalises a message's first letter, which would change the address shown).
        raise UserError(f"not added: {checked.message}", field=checked.column)
    (invitation,) = add_invitations(session, cycle, [checked], actor)
    return invitation


# The audit actions that name a person invited to a cycle; a purge blanks their details.
INVITATION_EDIT = "invitation.edit"
INVITATION_REMOVE = "invitation.remove"


def _changeable(session: Session, cycle: Cycle, invitation_id: int) -> Invitation:
    """The invitation, if it may still be corrected or removed: the cycle takes invitations and
    the person has neither answered nor declined (an answer is already counted under its group,
    so the invitation behind it stays as it is)."""
    cycle.ensure_accepts_invitations()
    invitation = get_cycle_invitation(session, cycle, invitation_id)
    session.refresh(invitation, with_for_update=True)  # no submit slips in meanwhile
    if invitation.is_completed or invitation.is_declined:
        raise UserError(
            "this person has already answered or said they will not take part, so their "
            "invitation can no longer be changed or removed: an answer stays counted under the "
            "group it was given in"
        )
    if invitation.is_purged or not invitation.email:
        raise UserError("this invitation's personal data has been removed")
    return invitation


def _who(invitation: Invitation) -> str:
    return f"{invitation.name} <{invitation.email}>" if invitation.name else str(invitation.email)


def correct_invitation(
    session: Session,
    cycle: Cycle,
    invitation_id: int,
    *,
    email: str,
    name: str,
    group: str,
    school: str,
    actor: str,
) -> Invitation:
    """Correct one person's name, email, group or school, by the rules a new row is checked by.
    A new address gets a fresh invitation (if the cycle is open) and the links sent to the old
    one stop working; emails still waiting for the old address are not sent."""
    invitation = _changeable(session, cycle, invitation_id)
    others = [e for e in list_invited_emails(session, cycle) if e != invitation.email]
    checked = check_recipient_row(
        [email, name, group, school], 1, cycle_groups(cycle), InvitedSoFar.of(others)
    )
    if isinstance(checked, RowProblem):
        raise UserError(f"not changed: {checked.message}", field=checked.column)
    before = _who(invitation)
    groups = {g.key: g for g in cycle.groups}
    changes = []
    if checked.email != invitation.email:
        changes.append(f"email {invitation.email} → {checked.email}")
    if (checked.name or None) != invitation.name:
        changes.append(f"name {invitation.name or '(none)'} → {checked.name or '(none)'}")
    if groups[checked.group].id != invitation.group_id:
        changes.append(f"group {invitation.group.label} → {groups[checked.group].label}")
    if (checked.school or None) != invitation.school:
        changes.append(f"school {invitation.school or '(none)'} → {checked.school or '(none)'}")
    if not changes:
        return invitation
    new_address = checked.email != invitation.email
    invitation.email, invitation.name = checked.email, checked.name or None
    invitation.group_id, invitation.school = groups[checked.group].id, checked.school or None
    session.flush()
    session.expire(invitation, ["group"])
    if new_address:
        forget_links_and_waiting_mail(session, invitation, "the address was corrected")
        invitation.delivery_status, invitation.delivery_error = DeliveryStatus.PENDING, None
        if cycle.is_open and invitation.sent_at is not None:
            invitation.sent_at = None
            session.flush()
            enqueue_resend(session, invitation)
        else:
            invitation.sent_at = None
    record_event(
        session, actor, INVITATION_EDIT, cycle=cycle, detail=f"{before}: {'; '.join(changes)}"
    )
    session.flush()
    return invitation


def remove_invitation(session: Session, cycle: Cycle, invitation_id: int, actor: str) -> str:
    """Remove one person who has not answered: their links stop working, nothing more is sent
    to them, and they leave the counts. Returns who it was, for the page to say."""
    invitation = _changeable(session, cycle, invitation_id)
    who, label = _who(invitation), invitation.group.label
    session.execute(delete(Invitation).where(Invitation.id == invitation.id))
    session.expunge(invitation)
    record_event(session, actor, INVITATION_REMOVE, cycle=cycle, detail=f"{who} from {label}")
    session.flush()
    return who


def get_cycle_invitation(session: Session, cycle: Cycle, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.cycle_id != cycle.id:
        raise NotFound(f"no invitation {invitation_id} in cycle {cycle.id}")
    return invitation


def resend_invitation(session: Session, cycle: Cycle, invitation_id: int, actor: str) -> Invitation:
    """Queue a fresh invitation email for one person (a new link; the old ones keep working).

    Someone who has already answered or declined is quietly not emailed (enqueue_resend sees to
    it), and the caller is told nothing different: whether a resend "worked" must not reveal
    whether that person answered.
    """
    invitation = get_cycle_invitation(session, cycle, invitation_id)
    enqueue_resend(session, invitation)
    record_event(session, actor, "invitation.resend", cycle=cycle, detail=str(invitation.email))
    session.flush()
    return invitation


def find_invitation(session: Session, cycle: Cycle, email: str) -> Invitation:
    """The cycle's invitation to `email` (the same mailbox, in any letter case)."""
    wanted = mailbox_key(email.strip())
    for invitation in session.scalars(
        select(Invitation).where(Invitation.cycle_id == cycle.id, Invitation.email.is_not(None))
    ):
        if mailbox_key(str(invitation.email)) == wanted:
            return invitation
    raise NotFound(f"nobody invited to this cycle has the address {email.strip()!r}")


def template_csv(cycle: Cycle) -> str:
    """A file to fill in: the header and one example row per group (by its label, which the
    group column accepts as well as the key). UTF-8 with a BOM, so that Excel opens it right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS])
    for number, group in enumerate(cycle.groups, start=1):
        writer.writerow(
            [f"person{number}@school.example", f"Example person {number}", group.label, ""]
        )
    return "\ufeff" + out.getvalue()
