"""Sealed boxes: authenticated encryption of fixed-size payloads under keys derived from the
service's secret key (SPEC section 5).

Nothing here is our own cryptography: keys come from HKDF-SHA256 and boxes are AES-256-GCM, both
from `cryptography`'s high-level primitives. What this module adds is only the framing:

- a key is derived per *purpose* ("ballot", "draft") and per *cycle*, so a key learned for one
  cycle opens nothing of another, and a draft can never be passed off as a ballot;
- every plaintext is padded to a size fixed by the caller before encryption, so every box of one
  purpose and cycle has exactly the same stored length whatever was written in it;
- the caller's context (the cycle, and for drafts the invitation) is bound as associated data, so
  a box copied to another row does not open there;
- `SECRET_KEY_FALLBACKS` still open boxes sealed before a key rotation; new boxes always use the
  current key.

A box is `version (1 byte) | nonce (12) | AES-GCM(length (4) | plaintext | zero padding)`,
the last 16 bytes being the GCM tag.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = 1
NONCE_BYTES = 12
TAG_BYTES = 16
LENGTH_BYTES = 4
HKDF_SALT = b"mat-review sealed boxes"


class SealError(Exception):
    """A box could not be opened (wrong key, damaged, or not a box), or a payload is too big."""


def box_size(padded_size: int) -> int:
    """The stored length of a box whose plaintext is padded to `padded_size` bytes."""
    return 1 + NONCE_BYTES + LENGTH_BYTES + padded_size + TAG_BYTES


@functools.lru_cache(maxsize=1024)
def _derive(secret: str, purpose: str, context: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=HKDF_SALT,
        info=f"mat-review/{purpose}/v{FORMAT}/{context}".encode(),
    ).derive(secret.encode())
    return AESGCM(key)


class Keyring:
    """The current secret key, which seals, and older ones, which only open."""

    def __init__(self, current: str, fallbacks: Sequence[str] = ()) -> None:
        if not current:
            raise ValueError("a keyring needs a secret key")
        self._keys = (current, *[k for k in fallbacks if k and k != current])

    def seal(
        self, purpose: str, context: str, plaintext: bytes, padded_size: int, bound: str = ""
    ) -> bytes:
        """Encrypt `plaintext` padded to exactly `padded_size` bytes. `bound` (for example an
        invitation id) must be given again to open the box."""
        if len(plaintext) > padded_size:
            raise SealError(
                f"payload of {len(plaintext)} bytes does not fit a box of {padded_size} bytes"
            )
        body = struct.pack(">I", len(plaintext)) + plaintext + bytes(padded_size - len(plaintext))
        nonce = os.urandom(NONCE_BYTES)
        aead = _derive(self._keys[0], purpose, context)
        return bytes([FORMAT]) + nonce + aead.encrypt(nonce, body, _aad(purpose, context, bound))

    def open(self, purpose: str, context: str, box: bytes, bound: str = "") -> bytes:
        """The plaintext of a box sealed by `seal` with the same purpose, context and bound,
        under the current key or any fallback."""
        box = bytes(box)
        if len(box) < box_size(0) or box[0] != FORMAT:
            raise SealError("not a sealed box of a known format")
        nonce, sealed = box[1 : 1 + NONCE_BYTES], box[1 + NONCE_BYTES :]
        aad = _aad(purpose, context, bound)
        for secret in self._keys:
            try:
                body = _derive(secret, purpose, context).decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            (length,) = struct.unpack(">I", body[:LENGTH_BYTES])
            if length > len(body) - LENGTH_BYTES:
                raise SealError("a sealed box holds an impossible length")
            return body[LENGTH_BYTES : LENGTH_BYTES + length]
        raise SealError(
            "a sealed box does not open with the secret key or any key in "
            "MAT_REVIEW_SECRET_KEY_FALLBACKS"
        )


def _aad(purpose: str, context: str, bound: str) -> bytes:
    return f"{purpose}\x00{context}\x00{bound}".encode()
