"""Staff sign-in for pages: session cookie and CSRF check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from ketascreen.storage.staff import StaffUser
from ketascreen.web.deps import StateDep

COOKIE = "ks_staff"


class LoginRequired(Exception):
    """The page needs a signed-in staff member (answered with a redirect to login)."""


class CsrfFailed(Exception):
    """A staff form came without the session's CSRF token."""


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member and their session's CSRF token."""

    user: StaffUser
    csrf: str


async def current_staff(request: Request, state: StateDep) -> Staff:
    """The signed-in staff member; raises LoginRequired otherwise.

    A coroutine: the session lookup is one short query, cheaper on the event loop than
    a trip to a worker thread.
    """
    token = request.cookies.get(COOKIE)
    found = state.staff.session_user(token) if token else None
    if found is None:
        raise LoginRequired
    return Staff(*found)


StaffDep = Annotated[Staff, Depends(current_staff)]


def check_csrf(staff: Staff, submitted: str | None) -> None:
    """Refuse a form whose CSRF token does not match the session's."""
    if not submitted or not hmac.compare_digest(submitted, staff.csrf):
        raise CsrfFailed


def check_origin(request: Request) -> None:
    """Refuse a form a browser sent from another site (an ``Origin`` that is not
    this host): the defence of the sign-in form, which has no session token yet."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise CsrfFailed
