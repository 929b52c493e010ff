"""Engine creation and automatic migrations."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError

#: A pooled PostgreSQL connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_S = 30.0


def make_engine(url: str | URL, *, autocommit: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Args:
        url: a SQLAlchemy database URL.
        autocommit: PostgreSQL only: every connection in autocommit mode (see
            :func:`one_statement`).

    Returns:
        The engine.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # A short connect timeout: when the database is away, requests fail fast with 503
    # instead of hanging (the JSON API's create route runs on the event loop).
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": 5},
        **options,
    )
    _check_on_checkout(engine)
    return engine


def one_statement(engine: Engine) -> Engine:
    """The engine for work that is a single statement.

    On PostgreSQL it is a second engine on the same database whose connections are
    all in autocommit mode. A single statement is atomic on its own; autocommit
    spares the BEGIN and the COMMIT or ROLLBACK that psycopg sends as round trips of
    their own around it (a questionnaire page read was four round trips, now one).
    A pool of its own, rather than switching a connection of ``engine``'s pool to
    autocommit and back at each use, because the switch cost more CPU than the
    query. ``engine.dispose()`` disposes of it too.

    On SQLite it is ``engine`` itself: the driver begins no transaction before a
    read, and wraps a lone write in one anyway.
    """
    if engine.dialect.name == "sqlite":
        return engine
    single = _SINGLE.get(engine)
    if single is None:
        single = _SINGLE[engine] = make_engine(engine.url, autocommit=True)
        event.listen(engine, "engine_disposed", lambda _: single.dispose())
    return single


#: Each engine's single-statement engine (PostgreSQL).
_SINGLE: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def _check_on_checkout(engine: Engine) -> None:
    """Make sure a pooled PostgreSQL connection still works before it is handed out.

    SQLAlchemy's ``pool_pre_ping`` sends a query on every checkout: a round trip, and
    work for the database, on every request. Instead the connection's socket is
    polled, which costs no round trip: a server that shut down or restarted has
    sent its goodbye, so the socket has something to read while the connection is
    idle, and only then (or after a long idle spell, when a silent network drop is
    possible) is it pinged. A ping that fails discards the connection and the pool
    connects anew; a server that went away under load is caught by the first
    statement that fails, which invalidates the whole pool (answered 503).
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _live(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:  # a new connection
            return
        if dbapi_connection.closed or dbapi_connection.broken:
            raise DisconnectionError("the connection was closed")
        if time.monotonic() - idle_since < PING_AFTER_IDLE_S and not _has_news(
            dbapi_connection.fileno()
        ):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("the database went away") from error


def _has_news(fd: int) -> bool:
    """Whether an idle connection's socket has anything to read (or was closed)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option(
        "script_location", str(files("ketascreen.storage") / "migrations")
    )
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (creating tables on first run).

    The whole upgrade is one transaction: a crash part-way leaves the database as it was.
    """
    config = alembic_config()
    with _ddl_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the database to ``revision`` ("base" removes every table)."""
    config = alembic_config()
    with _ddl_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def check_writable(engine: Engine) -> None:
    """Raise now if the database cannot be written (a read-only file or server).

    SQLite opens a read-only file without complaint, even ``BEGIN IMMEDIATE``
    succeeds, and only the first write fails: a no-op update, rolled back, finds out
    at start instead.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused the write.
    """
    with engine.connect() as connection:
        connection.exec_driver_sql(
            "UPDATE alembic_version SET version_num = version_num"
        )
        connection.rollback()


@contextmanager
def _ddl_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds schema changes too, committed or rolled back whole.

    PostgreSQL's DDL is transactional. Python's sqlite3 module opens a transaction only
    before INSERT, UPDATE or DELETE, so each CREATE, ALTER and DROP committed on its own
    and a crash in a migration left it half done (tests/reliability/test_faults.py).
    For SQLite the module's own handling is switched off on this connection and
    ``BEGIN IMMEDIATE`` issued: one transaction, with the write lock taken up front
    (processes starting together migrate one after the other).
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        saved = raw.isolation_level  # type: ignore[union-attr]
        raw.isolation_level = None  # type: ignore[union-attr]
        try:
            with connection.begin():
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
        finally:
            raw.isolation_level = saved  # type: ignore[union-attr]
