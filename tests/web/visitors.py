"""Who visits in the access tests: staff accounts, their sessions, and what the
database holds before and after a request."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update

from ketascreen.screening import screen
from ketascreen.storage.orm import AuditEvent, Base, SessionRow
from ketascreen.storage.repository import Repository, StoredScreening
from ketascreen.storage.staff import StaffStore
from ketascreen.web.auth import COOKIE

PASSWORD = "matrix test password"
#: The audit log grows on reads and refusals on purpose; it is checked on its own.
#: Tables that record what was tried, not data: a refused request may write them (the
#: audit log, and the per-address count of sign-in attempts).
RECORD_TABLES = {"audit_events", "audit_head", "login_attempts"}
#: Audit actions that record a change (anything else is a read or a refusal).
CHANGES = {
    "screening.create",
    "screening.status",
    "screening.override",
    "screening.note",
    "screening.link_new",
    "screening.link_revoke",
    "screening.link_replay",
    "login.ok",
}


def repository(client: TestClient) -> Repository:
    """The app's screening repository."""
    repo: Repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
    return repo


def staff_store(client: TestClient) -> StaffStore:
    """The app's staff store."""
    store: StaffStore = client.app.state.ketascreen.staff  # type: ignore[attr-defined]
    return store


def stored(client: TestClient, age: int = 30) -> StoredScreening:
    """A screening stored as the API would store it (with its private link)."""
    repo = repository(client)
    answers = {"age": age}
    saved, _ = repo.save(answers=answers, result=screen(answers))
    return saved


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the record tables, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in RECORD_TABLES:
                continue
            rows = conn.execute(select(table)).all()
            tables[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return tables


def audit_count(engine: Engine) -> int:
    """How many audit entries there are."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())


def audit_actions_since(engine: Engine, count: int) -> list[str]:
    """The actions of the entries after the first ``count``."""
    with engine.connect() as conn:
        query = select(AuditEvent.action).order_by(AuditEvent.id).offset(count)
        return list(conn.execute(query).scalars())


def sign_in(client: TestClient, email: str) -> tuple[str, str]:
    """A new session for the account: its cookie and its CSRF token."""
    store = staff_store(client)
    found = store.login(email, PASSWORD)
    assert found is not None, email
    token = found[0]
    user = store.session_user(token)
    assert user is not None
    return token, user[1]


def expire_session(client: TestClient, cookie: str) -> None:
    """Make the session behind a cookie older than its lifetime."""
    with repository(client).engine.begin() as conn:
        conn.execute(
            update(SessionRow)
            .where(SessionRow.id_hash == hashlib.sha256(cookie.encode()).hexdigest())
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )


def use_cookie(client: TestClient, cookie: str | None) -> None:
    """Present only this staff cookie (or none) from now on."""
    client.cookies.clear()
    if cookie:
        client.cookies.set(COOKIE, cookie)
