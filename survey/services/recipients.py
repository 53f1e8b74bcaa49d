"""Reading the people to invite from a CSV (header `email,name,group`, optional `school`).

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
from collections.abc import Iterable
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from survey.errors import UserError
from survey.models import Invitation
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


def read_recipients(
    data: bytes | str, group_keys: list[str], existing_emails: Iterable[str] = ()
) -> RecipientSheet:
    """Check the whole file and return every good row and every problem with its line number.

    `existing_emails` are the addresses already invited to the cycle. Addresses are kept as
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

    index = {name: header.index(name) for name in header if name}
    known_groups = set(group_keys)
    seen: dict[str, tuple[int, str]] = {}  # mailbox key -> (line, address) of its first row
    existing = {mailbox_key(e): e for e in existing_emails}
    rows: list[RecipientRow] = []
    problems: list[RowProblem] = []
    try:
        for cells in reader:
            line = reader.line_num + skipped
            if not any(c.strip() for c in cells):
                continue  # blank lines (common at the end of exports)
            if len(rows) + len(problems) >= MAX_ROWS:
                raise UserError(f"the file has more than {MAX_ROWS} rows; split it")
            issues = []
            if any("\x00" in cell for cell in cells):
                issues.append("contains a NUL character (is this really a CSV file?)")
                cells = [cell.replace("\x00", "") for cell in cells]
            raw = {name: (cells[i].strip() if i < len(cells) else "") for name, i in index.items()}
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                issues.append(f"more cells than the header has columns ({len(cells)})")
            email = raw.get("email", "")
            if not email:
                issues.append("email is empty")
            else:
                try:
                    email = normalise_email(email)
                except EmailNotValidError as exc:
                    issues.append(f"{email!r} is not a valid email address ({exc})")
                else:
                    key = mailbox_key(email)
                    if key in seen:
                        seen_line, seen_email = seen[key]
                        if seen_email == email:
                            issues.append(f"{email} appears twice (also on line {seen_line})")
                        else:
                            issues.append(
                                f"{email} reaches the same mailbox as {seen_email} on line "
                                f"{seen_line}"
                            )
                    elif key in existing:
                        if existing[key] == email:
                            issues.append(f"{email} is already invited to this cycle")
                        else:
                            issues.append(
                                f"{email} reaches the same mailbox as {existing[key]}, who is "
                                "already invited to this cycle"
                            )
                    else:
                        seen[key] = (line, email)
            for column, attribute in (("name", Invitation.name), ("school", Invitation.school)):
                problem = length_problem(raw.get(column, ""), attribute, column)
                if problem:
                    issues.append(problem)
            group = raw.get("group", "").strip().lower()
            if not group:
                issues.append("group is empty")
            elif group not in known_groups:
                issues.append(
                    f"unknown group {raw.get('group')!r} (this cycle's groups: "
                    f"{', '.join(group_keys)})"
                )
            if issues:
                problems.append(RowProblem(line, "; ".join(issues), raw))
            else:
                rows.append(
                    RecipientRow(line, email, raw.get("name", ""), group, raw.get("school", ""))
                )
    except csv.Error as exc:
        problems.append(
            RowProblem(reader.line_num + skipped, f"the row cannot be read as CSV ({exc})")
        )
    if not rows and not problems:
        raise UserError("the file has a header but no people")
    return RecipientSheet(rows, problems)
