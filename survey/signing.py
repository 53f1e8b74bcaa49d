"""Signed, timed tokens with the app's key (itsdangerous), one salt per purpose."""

from __future__ import annotations

import hashlib

from itsdangerous import URLSafeTimedSerializer

from survey.config import get_settings


def signing_keys() -> list[str]:
    """SECRET_KEY last, after SECRET_KEY_FALLBACKS: itsdangerous signs with the last key and
    verifies with any, so tokens survive a key rotation."""
    settings = get_settings()
    return [*settings.secret_key_fallbacks, settings.secret_key]


def signing_serializer(salt: str) -> URLSafeTimedSerializer:
    """Signed, timed tokens for one purpose (`salt`), verified with any key (signing_keys)."""
    return URLSafeTimedSerializer(signing_keys(), salt=salt)


def token_hash(token: str) -> str:
    """What the database keeps of a random token or nonce that grants something (a session, a
    sign-in link, a personal link, a report link): its SHA-256, so a copy of the database opens
    nothing. A token from an address may hold lone surrogates; they are hashed, not refused."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
