"""Private links to a stored screening: long random tokens, kept only as a hash.

A token is ``<secret>.<issued>``: 32 random bytes (URL-safe base64, 256 bits) and the
Unix time it was issued. Only the SHA-256 of the whole token is stored
(``screenings.token_hash``), so the issue time inside a token is as trustworthy as the
token itself: it is read only after the hash matched. A link stops working once it is
older than the link lifetime, when the clinic revokes it (the hash becomes
:data:`REVOKED`, which no token hashes to), or when a new link replaces it.

A draft's result link is instead the hash of the draft's resume token, a secret that
only the person holds: coming back through the resume link finds the same result link
without the server keeping either token in clear, and a revoked or replaced link stays
dead that way too. Nothing here is derived from the data key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64encode
from datetime import UTC, datetime, timedelta

from ketascreen.errors import InputError, KetascreenError, Problem

#: The stored hash of a revoked link (not hex, so no token's digest equals it).
REVOKED = "revoked"


def new_token(now: datetime) -> str:
    """A fresh random link token issued at ``now``."""
    return f"{secrets.token_urlsafe(32)}.{int(now.timestamp())}"


def from_draft(draft_token: str, issued: datetime) -> str:
    """The result link of a submitted draft: a hash of its resume token.

    Args:
        draft_token: the draft's resume token (random, held only by the person).
        issued: when the screening was stored (its ``created_at``).

    Returns:
        The link token; it is as hard to guess as the resume token itself.
    """
    mac = hashlib.sha256(b"ketascreen result link\0" + draft_token.encode()).digest()
    secret = urlsafe_b64encode(mac).decode().rstrip("=")
    return f"{secret}.{int(issued.timestamp())}"


def digest(token: str) -> str:
    """What is stored for a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def opens(token_hash: str, token: str, now: datetime, lifetime: timedelta) -> bool:
    """Whether ``token`` is the stored link's token and has not expired.

    The same False for a wrong, revoked, replaced or expired token: callers answer
    all of them alike, so a visitor learns nothing about which it was.
    """
    if not hmac.compare_digest(token_hash, digest(token)):
        return False
    issued = _issued(token)
    return issued is not None and now - issued <= lifetime


def _issued(token: str) -> datetime | None:
    _, _, stamp = token.rpartition(".")
    if not stamp.isdigit():
        return None
    return datetime.fromtimestamp(int(stamp), UTC)


class NotTheSameSubmission(InputError):
    """An Idempotency-Key came again with a different submission."""

    def __init__(self) -> None:
        super().__init__(
            [
                Problem(
                    "Idempotency-Key",
                    "already used for a different submission; send a new key",
                )
            ]
        )


class LinkRevoked(KetascreenError):
    """A replayed submission whose private link the clinic revoked."""
