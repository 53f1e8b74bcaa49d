"""Signed, timed tokens with the app's key (itsdangerous), one salt per purpose."""

from __future__ import annotations

from flask import current_app
from itsdangerous import URLSafeTimedSerializer


def signing_serializer(salt: str) -> URLSafeTimedSerializer:
    """Signs with SECRET_KEY and still verifies with any key in SECRET_KEY_FALLBACKS, so tokens
    survive a key rotation (itsdangerous signs with the last key and verifies with any)."""
    config = current_app.config
    keys = [*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=salt)
