"""A checked recipient file waiting for the CEO's confirmation.

The file's text travels in a hidden form field, signed with the app's key and bound to the cycle
and the admin, so the confirm step saves exactly what was previewed without keeping anything in
the cookie session (a file of 500 people would not fit) or on disk.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

from survey.config import get_settings

PENDING_SALT = "mat-review.admin.pending-recipients.v1"
PENDING_MAX_AGE = 2 * 3600


def _serializer() -> URLSafeTimedSerializer:
    settings = get_settings()
    keys = [*settings.secret_key_fallbacks, settings.secret_key]
    return URLSafeTimedSerializer(keys, salt=PENDING_SALT)


def sign_pending(cycle_id: int, admin_id: int, text: str) -> str:
    return _serializer().dumps({"cycle": cycle_id, "admin": admin_id, "text": text})


def load_pending(token: str, cycle_id: int, admin_id: int) -> str | None:
    """The previewed text, or None if the token is forged, stale or for another cycle."""
    try:
        payload = _serializer().loads(token, max_age=PENDING_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    if payload.get("cycle") != cycle_id or payload.get("admin") != admin_id:
        return None
    text = payload.get("text")
    return text if isinstance(text, str) else None
