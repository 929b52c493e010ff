"""Bearer JWT checking for CDS Hooks callers (CDS Hooks 2.0, "Trusting CDS Clients").

Off when ``KETASCREEN_CDS_JWT_ISSUERS`` is empty (local use). When set, every call to
``/cds-services/...`` except discovery must carry ``Authorization: Bearer <JWT>``
signed (ES384 or RS384) by an allowed issuer's key, with ``aud`` equal to the URL
called, and ``exp`` and ``jti`` present. Keys are read from local files: ketascreen
never fetches a JWK set (nothing leaves the machine).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jwt

ALGORITHMS = ["ES384", "RS384"]


class BearerRefused(Exception):
    """The caller's token is missing or not trusted; the message says why."""


@lru_cache(maxsize=32)
def _key(path: Path) -> str:
    return path.read_text(encoding="ascii")


def check_bearer(authorization: str | None, issuers: dict[str, Path], url: str) -> str:
    """Verify a CDS client's JWT.

    Args:
        authorization: the Authorization header, if any.
        issuers: allowed issuer to public key file; empty turns checking off.
        url: the service URL called (the token's required audience).

    Returns:
        The issuer ("" when checking is off).

    Raises:
        BearerRefused: no token, an unknown issuer, a bad signature or claims.
    """
    if not issuers:
        return ""
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token:
        raise BearerRefused("an Authorization: Bearer JWT is required")
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError as exc:
        raise BearerRefused(f"the token is not a JWT: {exc}") from exc
    if issuer not in issuers:
        raise BearerRefused(f"issuer {issuer!r} is not allowed")
    try:
        jwt.decode(
            token,
            _key(issuers[issuer]),
            algorithms=ALGORITHMS,
            audience=url,
            issuer=issuer,
            options={"require": ["exp", "iss", "aud", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise BearerRefused(f"the token was refused: {exc}") from exc
    return str(issuer)
