"""Personal signed links (SPEC section 6).

A link is `<BASE_URL>/s/<token>`, where the token is an itsdangerous URL-safe timed signature
over a random 128-bit nonce, with a salt of its own. The database keeps only the SHA-256 of the
nonce (in `invitation_links`), so a copy of the database cannot produce a working link. Each
email mints its own nonce; every link of an invitation stays valid until the cycle closes or the
link reaches `LINK_MAX_AGE_DAYS`. Keys in `SECRET_KEY_FALLBACKS` still verify after rotation.
The address is built by `external_url` from the respondent's landing route.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select
from sqlalchemy.orm import Session

from survey.config import get_settings
from survey.models import Invitation, InvitationLink
from survey.signing import signing_serializer, token_hash
from survey.urls import external_url

LINK_SALT = "mat-review.invitation-link.v1"
MAX_TOKEN_LENGTH = 200


def mint_link(session: Session, invitation: Invitation) -> str:
    """A new personal link for `invitation` (flushed, so it works once the caller commits)."""
    nonce = secrets.token_urlsafe(16)  # 128 bits
    session.add(InvitationLink(nonce_hash=token_hash(nonce), invitation_id=invitation.id))
    session.flush()
    return external_url("respond.landing", token=signing_serializer(LINK_SALT).dumps(nonce))


@dataclass(frozen=True)
class LinkCheck:
    invitation: Invitation | None
    reason: str  # "ok", "invalid", "expired"


def resolve_token(session: Session, token: str) -> LinkCheck:
    """Find the invitation a token belongs to. Never raises for a bad token."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return LinkCheck(None, "invalid")
    max_age = get_settings().link_max_age_days * 86400
    try:
        nonce = signing_serializer(LINK_SALT).loads(token, max_age=max_age)
    except SignatureExpired:
        return LinkCheck(None, "expired")
    except BadSignature:
        return LinkCheck(None, "invalid")
    if not isinstance(nonce, str):
        return LinkCheck(None, "invalid")
    invitation = session.scalar(
        select(Invitation)
        .join(InvitationLink, InvitationLink.invitation_id == Invitation.id)
        .where(InvitationLink.nonce_hash == token_hash(nonce))
    )
    if invitation is None:
        return LinkCheck(None, "invalid")
    return LinkCheck(invitation, "ok")
