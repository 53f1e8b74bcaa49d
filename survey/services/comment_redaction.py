"""Comments that identify no one (SPEC section 8.6): before any report output is written, the
names, schools and email addresses known to the cycle, and any email address or phone number
anywhere, are replaced with "[a person]", "[a school]", "[an email]" and "[a phone number]".

What the cycle knows: its invitations' names, schools and addresses, and the trust's name.
A name is matched whole ("Jane Smith"), and by each of its parts written with a capital
("Mrs Smith", "Jane"), with a title before it taken in. A school is matched whole, and by its
distinctive part without "Primary School", "Academy" and the like ("Oakfield" for "Oakfield
Primary School"), case-insensitively.

After a purge the cycle no longer knows the names it would need: `Redactor.from_identifiers`
is then given `purged=True`, and the compile step withholds every comment rather than print
text it can no longer check (see compile.build_report).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.models import Cycle, Invitation

PERSON = "[a person]"
SCHOOL = "[a school]"
EMAIL = "[an email]"
PHONE = "[a phone number]"

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Phone numbers: a run of digits with spaces, dots, dashes or brackets, 9 to 15 digits, an
# optional leading +. Dates and years ("2024-2025", "12/03/2026") have fewer digits.
PHONE_RE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{7,}\d(?!\w)")
TITLES = r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Rev)\.?\s+)?"
# Words that name a kind of school rather than the school.
SCHOOL_WORDS = {
    "academy",
    "school",
    "schools",
    "primary",
    "secondary",
    "junior",
    "infant",
    "infants",
    "nursery",
    "high",
    "college",
    "community",
    "church",
    "of",
    "england",
    "c",
    "e",
    "ce",
    "rc",
    "catholic",
    "the",
    "and",
    "&",
    "voluntary",
    "aided",
    "controlled",
    "free",
    "trust",
    "learning",
    "multi",
    "federation",
    "st",
    "saint",
    "all",
    "through",
    "upper",
    "lower",
    "middle",
    "special",
}
# Name parts too short or too common as words to match on their own.
MIN_PART = 3


def _phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return PHONE if 9 <= digits <= 15 else match.group(0)


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so "Oakfield Primary School" is taken before "Oakfield".
    unique = sorted({w for w in words if w}, key=lambda w: (-len(w), w))
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in unique)


@dataclass
class Redactor:
    """Replaces what identifies a person in a comment; built once per compile."""

    names: set[str] = field(default_factory=set)
    name_parts: set[str] = field(default_factory=set)
    schools: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    purged: bool = False
    _patterns: list[tuple[re.Pattern[str], str]] = field(default_factory=list, repr=False)

    @classmethod
    def from_identifiers(
        cls,
        names: Iterable[str | None] = (),
        schools: Iterable[str | None] = (),
        emails: Iterable[str | None] = (),
        *,
        purged: bool = False,
    ) -> Redactor:
        redactor = cls(purged=purged)
        for name in names:
            cleaned = " ".join((name or "").split())
            if len(cleaned) < 2:
                continue
            redactor.names.add(cleaned)
            for part in re.split(r"[\s,]+", cleaned):
                part = part.strip(".'")
                if len(part) >= MIN_PART and part[0].isalpha():
                    redactor.name_parts.add(part[0].upper() + part[1:])
        for school in schools:
            cleaned = " ".join((school or "").split())
            if len(cleaned) < 2:
                continue
            redactor.schools.add(cleaned)
            core = [w for w in cleaned.split() if w.lower().strip(".,'()") not in SCHOOL_WORDS]
            if core:
                distinctive = " ".join(core)
                if len(distinctive) >= 4:
                    redactor.schools.add(distinctive)
        for email in emails:
            if email and "@" in email:
                redactor.emails.add(email.strip())
        redactor._compile()
        return redactor

    def _compile(self) -> None:
        patterns: list[tuple[re.Pattern[str], str]] = []
        if self.emails:
            patterns.append((re.compile(_alternation(self.emails), re.IGNORECASE), EMAIL))
        patterns.append((EMAIL_RE, EMAIL))
        if self.schools:
            patterns.append(
                (re.compile(rf"\b(?:{_alternation(self.schools)})\b", re.IGNORECASE), SCHOOL)
            )
        if self.names:
            patterns.append(
                (
                    re.compile(rf"\b{TITLES}(?:{_alternation(self.names)})\b", re.IGNORECASE),
                    PERSON,
                )
            )
        if self.name_parts:
            # Case-sensitive: "Will" the name, not "will" the word; possessives are kept.
            patterns.append(
                (re.compile(rf"\b{TITLES}(?:{_alternation(self.name_parts)})\b"), PERSON)
            )
        self._patterns = patterns

    def __call__(self, text: str) -> str:
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        text = PHONE_RE.sub(_phone, text)
        # "[a person] [a person]" (a first name and a surname matched apart) reads as one.
        return re.sub(r"\[a person\](?:\s+\[a person\])+", PERSON, text)


def load_redactor(session: Session, cycle: Cycle) -> Redactor:
    """What identifies a person in this cycle: its invitations' names, schools and emails.
    Once the cycle is purged they are gone, and the redactor says so (`purged`)."""
    rows = session.execute(
        select(Invitation.name, Invitation.school, Invitation.email, Invitation.is_purged).where(
            Invitation.cycle_id == cycle.id
        )
    ).all()
    purged = cycle.purged_at is not None or any(row[3] for row in rows)
    return Redactor.from_identifiers(
        (r[0] for r in rows), (r[1] for r in rows), (r[2] for r in rows), purged=purged
    )
