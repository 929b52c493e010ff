"""Pooled PostgreSQL connections: no ping on a busy pool, none lost to a restart.

The pool pings a connection only when its socket says the server went away (or after
a long idle spell), instead of before every use (``pool_pre_ping``). These tests run a
real server, restart it under an engine holding idle connections, and count the pings
the dialect really sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, QueuePool, text
from tests.databases import PostgresInstance, fresh_database, postgres_instance

from ketascreen.config import normalise_database_url
from ketascreen.storage import database
from ketascreen.storage.database import make_engine, one_statement


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresInstance]:
    with postgres_instance() as instance:
        yield instance


@pytest.fixture
def engine(server: PostgresInstance) -> Iterator[Engine]:
    engine = make_engine(normalise_database_url(fresh_database(server.url)))
    yield engine
    engine.dispose()


def count_pings(engine: Engine) -> list[Any]:
    """Record each ping the dialect sends (the real ping still runs)."""
    pings: list[Any] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return pings


def ask(engine: Engine, value: int) -> int:
    with engine.connect() as conn:
        answer: int = conn.execute(text(f"SELECT {value}")).scalar_one()
        return answer


def test_busy_pool_sends_no_ping(engine: Engine) -> None:
    pings = count_pings(engine)
    assert [ask(engine, n) for n in range(50)] == list(range(50))
    assert pings == []


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_restart_is_noticed_without_an_error(
    server: PostgresInstance, engine: Engine, mode: str
) -> None:
    """Idle pooled connections to a server that restarted are replaced, not used."""
    pings = count_pings(engine)
    ask(engine, 1)
    server.stop(mode)
    server.start()
    assert ask(engine, 2) == 2  # no error reaches the caller
    assert len(pings) == 1
    assert ask(engine, 3) == 3
    assert len(pings) == 1  # the new connection is used as is


def test_long_idle_connection_is_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(engine)
    ask(engine, 1)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)
    ask(engine, 2)
    assert len(pings) == 1


def test_one_statement_sends_no_transaction(engine: Engine) -> None:
    """A single statement runs in autocommit: no BEGIN, so no transaction is open
    while it runs (and no COMMIT or ROLLBACK round trip after it). It has a pool of its
    own, one per engine, and the engine's own connections are left as they were."""
    single = one_statement(engine)
    assert one_statement(engine) is single
    assert single.pool is not engine.pool
    with single.connect() as conn:
        in_transaction = conn.execute(
            text("SELECT now() <> statement_timestamp()")
        ).scalar_one()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        assert raw.autocommit
    assert in_transaction is False
    with engine.connect() as conn:  # the pool's connections are as they were
        raw = conn.connection.dbapi_connection
        assert raw is not None
        assert not raw.autocommit
        began = conn.execute(text("SELECT now() <> statement_timestamp()"))
        assert began.scalar_one() is True  # BEGIN came first, as a statement of its own


def test_sqlite_needs_no_second_engine(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    assert one_statement(engine) is engine
    engine.dispose()


def test_disposing_the_engine_closes_the_single_statement_pool(engine: Engine) -> None:
    single = one_statement(engine)
    with single.connect() as conn:
        conn.execute(text("SELECT 1"))
    pool = single.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedin() == 1
    engine.dispose()
    assert pool.checkedin() == 0
