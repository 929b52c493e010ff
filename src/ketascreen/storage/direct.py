"""Statements run straight on the driver's connection, for the hottest paths.

Nearly every request of a person's questionnaire reads their draft, and every answered
page writes it. Through SQLAlchemy's execution machinery (its connection, execution
context and result objects) such a statement costs several times what the database
takes to run it: about 0.2 ms against 0.05 ms on SQLite, 0.3 ms against 0.15 ms on
PostgreSQL (benchmarks/soak.py, py-spy). A :class:`Direct` statement keeps what
SQLAlchemy does well and skips the rest:

- the SQL is SQLAlchemy's: the Core statement compiled once for the engine's dialect;
- values are converted by the column types' own bind and result processors (e.g. a
  SQLite date-time stored as text comes back as a ``datetime``);
- the connection comes from the engine's pool, with its checkout checks;
- on any driver error (connecting included) the connection is discarded and the
  statement run again the usual way, so that SQLAlchemy translates the error (a database that is away is a
  503), invalidates the pool and reconnects exactly as for every other statement.
  That second run makes a statement here safe only if running it twice does no harm:
  reads, and updates that set values (never an INSERT).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, Executable
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.selectable import Select

Processor = Callable[[Any], Any] | None


class Direct:
    """A SELECT, or an UPDATE that sets values, run on the pooled driver connection."""

    def __init__(
        self, engine: Engine, statement: Select[*tuple[Any, ...]] | Update
    ) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.engine = engine
        self.statement: Executable = statement
        self.sql = compiled.string
        # Positional paramstyles (SQLite's "?") need the values in order.
        self.order = compiled.positiontup
        self.binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        self.results: list[Processor] = (
            [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in statement.selected_columns
            ]
            if isinstance(statement, Select)
            else []
        )
        self.writes = not isinstance(statement, Select)

    def first(self, **params: Any) -> tuple[Any, ...] | None:
        """The first row of a SELECT (None if there is none)."""
        row, converted = self._run(params)
        if row is None or converted:
            return row  # type: ignore[no-any-return]
        return tuple(
            value if convert is None else convert(value)
            for value, convert in zip(row, self.results, strict=True)
        )

    def run(self, **params: Any) -> int:
        """Run an UPDATE; how many rows it changed."""
        count: int = self._run(params)[0]
        return count

    def _run(self, params: dict[str, Any]) -> tuple[Any, bool]:
        """The driver's row (or row count), and whether SQLAlchemy already converted
        it (the second run, after a driver error)."""
        values = {
            name: value if (convert := self.binds[name]) is None else convert(value)
            for name, value in params.items()
        }
        arguments: Any = (
            values if self.order is None else tuple(values[n] for n in self.order)
        )
        failed = self.engine.dialect.loaded_dbapi.Error
        try:
            raw = self.engine.raw_connection()
        except failed:  # raised as the driver's own error, unlike SQLAlchemy's connect
            return self._through_sqlalchemy(params), True
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self.sql, arguments)
                outcome = cursor.rowcount if self.writes else cursor.fetchone()
            finally:
                cursor.close()
            if self.writes:
                raw.commit()
            return outcome, False
        except failed:
            raw.invalidate()
            return self._through_sqlalchemy(params), True
        finally:
            raw.close()

    def _through_sqlalchemy(self, params: dict[str, Any]) -> Any:
        """The usual way: SQLAlchemy raises its own errors and reconnects."""
        with self.engine.begin() as conn:
            result = conn.execute(self.statement, params)
            if self.writes:
                return result.rowcount
            row = result.first()
            return None if row is None else tuple(row)
