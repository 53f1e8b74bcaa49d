"""Signed, timed tokens with the app's key (itsdangerous), one salt per purpose."""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from survey.config import get_settings


def signing_serializer(salt: str) -> URLSafeTimedSerializer:
    """Signs with SECRET_KEY and still verifies with any key in SECRET_KEY_FALLBACKS, so tokens
    survive a key rotation (itsdangerous signs with the last key and verifies with any)."""
    settings = get_settings()
    return URLSafeTimedSerializer([*settings.secret_key_fallbacks, settings.secret_key], salt=salt)
