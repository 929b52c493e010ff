"""Statements run on the driver's connection give what SQLAlchemy gives, on both
databases, and fall back to SQLAlchemy (its errors, its reconnection) on a driver error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from ketascreen.config import normalise_database_url
from ketascreen.storage.database import make_engine, migrate, one_statement
from ketascreen.storage.direct import Direct
from ketascreen.storage.orm import DraftRow, SessionRow, UserRow
from ketascreen.storage.repository import _DRAFT_BY_TOKEN, _SAVE_DRAFT

# The repository's own draft statements, the ones it runs this way.
BY_TOKEN = _DRAFT_BY_TOKEN
SAVE = _SAVE_DRAFT
WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(normalise_database_url(database_url))
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(DraftRow),
            [
                {
                    "id": f"d{n}",
                    "token_hash": f"h{n}",
                    "created_at": WHEN,
                    "updated_at": WHEN + timedelta(days=n),
                    "answers": bytes([n]) * 3,
                    "screening_id": None,
                }
                for n in range(3)
            ],
        )
    yield one_statement(engine)
    engine.dispose()


def through_sqlalchemy(engine: Engine, token_hash: str) -> tuple[Any, ...] | None:
    with engine.connect() as conn:
        row = conn.execute(BY_TOKEN, {"token_hash": token_hash}).first()
    return None if row is None else tuple(row)


def test_read_matches_sqlalchemy(engine: Engine) -> None:
    direct = Direct(engine, BY_TOKEN)
    for n in range(3):
        row = direct.first(token_hash=f"h{n}")
        assert row == through_sqlalchemy(engine, f"h{n}")
        assert row is not None
        assert isinstance(row[2], datetime)  # SQLite's text, converted by its type
        assert row[2].replace(tzinfo=UTC) == WHEN + timedelta(days=n)
        assert row[1] == bytes([n]) * 3
    assert direct.first(token_hash="nobody") is None


def test_update_is_stored_and_counted(engine: Engine) -> None:
    later = WHEN + timedelta(hours=5)
    save = Direct(engine, SAVE)
    assert save.run(draft_id="d1", sealed=b"new", now=later) == 1
    assert save.run(draft_id="nobody", sealed=b"x", now=later) == 0
    row = through_sqlalchemy(engine, "h1")
    assert row is not None
    assert row[1] == b"new"
    assert row[2].replace(tzinfo=UTC) == later
    assert through_sqlalchemy(engine, "h0") == Direct(engine, BY_TOKEN).first(
        token_hash="h0"
    )


def test_booleans_and_joins(engine: Engine) -> None:
    """The staff session check: a join, a Boolean (SQLite's 0/1) and a date-time."""
    with engine.begin() as conn:
        conn.execute(
            insert(UserRow),
            {
                "id": 1,
                "email": "a@example.org",
                "name": "A",
                "role": "clinician",
                "password_hash": "x",
                "disabled": False,
                "created_at": WHEN,
            },
        )
        conn.execute(
            insert(SessionRow),
            {
                "id_hash": "s1",
                "user_id": 1,
                "csrf": "c",
                "created_at": WHEN,
                "expires_at": WHEN,
            },
        )
    statement = (
        select(UserRow.disabled, SessionRow.expires_at, UserRow.email)
        .join(UserRow, UserRow.id == SessionRow.user_id)
        .where(SessionRow.id_hash == bindparam("id_hash"))
    )
    row = Direct(engine, statement).first(id_hash="s1")
    assert row is not None
    assert row[0] is False
    assert row[1].replace(tzinfo=UTC) == WHEN
    assert row[2] == "a@example.org"


def test_driver_error_goes_through_sqlalchemy(engine: Engine) -> None:
    """A driver error: the connection is discarded and the statement run again
    through SQLAlchemy, whose rows come back as they are."""
    direct = Direct(engine, BY_TOKEN)
    direct.sql = direct.sql.replace("drafts", "no_such_table", 1)  # the driver fails
    assert direct.first(token_hash="h2") == through_sqlalchemy(engine, "h2")
    save = Direct(engine, SAVE)
    save.sql = save.sql.replace("drafts", "no_such_table", 1)
    assert save.run(draft_id="d2", sealed=b"again", now=WHEN) == 1
    row = through_sqlalchemy(engine, "h2")
    assert row is not None
    assert row[1] == b"again"


def test_error_raised_is_sqlalchemys(engine: Engine) -> None:
    """When the second run fails too, the error is SQLAlchemy's (the web app answers
    its OperationalError with 503), never the driver's own exception."""
    direct = Direct(engine, BY_TOKEN)
    direct.sql = direct.sql.replace("drafts", "no_such_table", 1)
    direct.statement = text("SELECT id FROM no_such_table WHERE id = :token_hash")
    with pytest.raises(DBAPIError) as raised:
        direct.first(token_hash="h0")
    assert not isinstance(raised.value, engine.dialect.loaded_dbapi.Error)
    with engine.connect() as conn:  # and so is the pool
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_connect_error_is_sqlalchemys() -> None:
    """A database that cannot be reached at all: SQLAlchemy's OperationalError (503 in
    the web app) even though the driver's connect failed, not the driver's error."""
    engine = make_engine(normalise_database_url("postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(OperationalError):
        Direct(one_statement(engine), BY_TOKEN).first(token_hash="h")
    with pytest.raises(OperationalError):
        Direct(one_statement(engine), SAVE).run(draft_id="d", sealed=b"", now=WHEN)
    engine.dispose()
