"""Answers as sealed boxes: the ballot a submit writes, and the draft a save writes (SPEC 5).

A ballot holds one person's answers and their group, sealed under the cycle's ballot key, with a
random id and no invitation id. A draft holds answers so far, sealed under the cycle's draft key
and bound to its invitation. Both are padded to one size per cycle: the largest answers the
cycle's scope allows (every element rated, every rationale at its longest in the widest UTF-8),
so the stored length says nothing about what was written.

The encoding is fixed-width per element, in the scope's element order, so no code or separator
needs escaping and the worst case is exact:
`version | group id (4) | element count (2) | per element: rating (1) | length (2) | UTF-8 text`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

import framework as fw
from survey.config import get_settings
from survey.sealbox import Keyring, SealError

RATIONALE_MAX = 2000  # characters, SPEC section 6
_MAX_UTF8_BYTES_PER_CHAR = 4
_VERSION = 1
_HEADER = struct.Struct(">BIH")
_ELEMENT = struct.Struct(">BH")

BALLOT = "ballot"
DRAFT = "draft"


@dataclass(frozen=True)
class SealedAnswers:
    """What a box holds: ratings and rationales by element code, and (ballots only) the group."""

    ratings: Mapping[str, str]
    rationales: Mapping[str, str]
    group_id: int = 0


def keyring() -> Keyring:
    settings = get_settings()
    return Keyring(settings.secret_key, list(settings.secret_key_fallbacks))


def padded_size(element_count: int) -> int:
    """The plaintext size every box of a cycle with this many elements in scope is padded to."""
    per_element = _ELEMENT.size + RATIONALE_MAX * _MAX_UTF8_BYTES_PER_CHAR
    return _HEADER.size + element_count * per_element


def encode(answers: SealedAnswers, framework: fw.Framework, scope: fw.Scope) -> bytes:
    keys = framework.scale.answer_keys
    elements = framework.elements_in_scope(scope)
    parts = [_HEADER.pack(_VERSION, answers.group_id, len(elements))]
    for element in elements:
        key = answers.ratings.get(element.code)
        text = (answers.rationales.get(element.code) or "")[:RATIONALE_MAX]
        data = text.encode("utf-8", "replace")
        parts.append(_ELEMENT.pack(keys.index(key) + 1 if key in keys else 0, len(data)))
        parts.append(data)
    return b"".join(parts)


def decode(payload: bytes, framework: fw.Framework, scope: fw.Scope) -> SealedAnswers:
    keys = framework.scale.answer_keys
    elements = framework.elements_in_scope(scope)
    try:
        version, group_id, count = _HEADER.unpack_from(payload, 0)
        if version != _VERSION or count != len(elements):
            raise SealError("a sealed box was written for another scope or format")
        offset = _HEADER.size
        ratings: dict[str, str] = {}
        rationales: dict[str, str] = {}
        for element in elements:
            index, length = _ELEMENT.unpack_from(payload, offset)
            offset += _ELEMENT.size
            text = payload[offset : offset + length].decode("utf-8")
            offset += length
            if index:
                ratings[element.code] = keys[index - 1]
            if text:
                rationales[element.code] = text
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise SealError(f"a sealed box's contents are damaged ({exc})") from exc
    return SealedAnswers(ratings, rationales, group_id)


def _context(cycle_id: int) -> str:
    return f"cycle:{cycle_id}"


def seal(
    ring: Keyring,
    purpose: str,
    cycle_id: int,
    answers: SealedAnswers,
    framework: fw.Framework,
    scope: fw.Scope,
    bound: str = "",
) -> bytes:
    size = padded_size(len(framework.elements_in_scope(scope)))
    return ring.seal(purpose, _context(cycle_id), encode(answers, framework, scope), size, bound)


def unseal(
    ring: Keyring,
    purpose: str,
    cycle_id: int,
    box: bytes,
    framework: fw.Framework,
    scope: fw.Scope,
    bound: str = "",
) -> SealedAnswers:
    return decode(ring.open(purpose, _context(cycle_id), box, bound), framework, scope)
