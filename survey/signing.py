"""Signed, timed tokens with the app's key (itsdangerous), one salt per purpose."""

from __future__ import annotations

import hashlib

from itsdangerous import URLSafeTimedSerializer

from survey.config import get_settings


def signing_serializer(salt: str) -> URLSafeTimedSerializer:
    """Signs with SECRET_KEY and still verifies with any key in SECRET_KEY_FALLBACKS, so tokens
    survive a key rotation (itsdangerous signs with the last key and verifies with any)."""
    settings = get_settings()
    return URLSafeTimedSerializer([*settings.secret_key_fallbacks, settings.secret_key], salt=salt)


def token_hash(token: str) -> str:
    """What the database keeps of a random token or nonce that grants something (a session, a
    sign-in link, a personal link, a report link): its SHA-256, so a copy of the database opens
    nothing. A token from an address may hold lone surrogates; they are hashed, not refused."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
