"""The Spark engine: the ruleset as ``pyspark.sql`` column expressions (no UDFs).

Spark SQL already has the semantics the :class:`~ketascreen.batch.backend.Backend`
asks for: ``AND``/``OR``/``NOT`` are Kleene, comparisons with null are null,
``CASE WHEN`` sends a null condition to the next branch, and ``greatest``/``least``
skip nulls. What differs from Polars is handled here:

- fact ids contain dots (``phq9.total``), which Spark reads as struct fields, so
  every column reference is quoted with backticks;
- ``greatest``/``least`` need two or more arguments and ``CASE`` at least one
  branch, so the degenerate cases are built by hand;
- ``list_has_other`` drops null elements first: Polars' ``list.any`` skips them,
  where Spark's ``exists`` would answer null;
- ``round`` rounds half up on the shortest *decimal* form of a double (``2.675``
  becomes 2.68), whereas Python's ``round`` (the single-person engine) rounds the
  exact binary value (2.67). They differ only when a mean's decimal form ends in
  a 5 at the third decimal; the bundled mean score (DES-II: 28 items scored in
  tens, so ``5k/14``) never does, and the tests check every one of its values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ketascreen.batch.expressions import plan
from ketascreen.batch.schema import PERSON, Column
from ketascreen.rules.loader import Content

#: Spark SQL types for the facts table's dtype names.
DTYPES: dict[str, str] = {
    "str": "string",
    "int": "bigint",
    "float": "double",
    "bool": "boolean",
    "list[str]": "array<string>",
}
_OPS = {"eq": "=", "ne": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def quoted(name: str) -> str:
    """A column name quoted for Spark, so dots are part of the name.

    Args:
        name: a column name, e.g. ``phq9.total``.

    Returns:
        The name in backticks (backticks inside doubled).
    """
    return "`" + name.replace("`", "``") + "`"


class Sql(str):
    """A Spark SQL expression, as text (a plain ``str`` is a value, never SQL)."""

    __slots__ = ()


def column(sql: Sql) -> SparkColumn:
    """The Spark column for an expression (parsed once, in the JVM)."""
    return F.expr(sql)


def literal(value: Any) -> Sql:
    """A Python value as a Spark SQL literal, or an expression as it is."""
    if isinstance(value, Sql):
        return value
    if isinstance(value, bool):
        return Sql("TRUE" if value else "FALSE")
    if isinstance(value, int):
        return Sql(f"{value}L")
    if isinstance(value, float):
        # repr round-trips exactly; the cast keeps it a double (1.5 alone is decimal)
        return Sql(f"CAST('{value!r}' AS DOUBLE)")
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return Sql(f"'{escaped}'")
    raise TypeError(f"no Spark SQL literal for {value!r}")


class SparkBackend:
    """Column operations as Spark SQL text (SQL null semantics).

    Expressions are built as text and handed to Spark once per column: building
    thousands of ``Column`` objects call by call through the JVM bridge took
    longer than screening a million rows.
    """

    def col(self, name: str) -> Sql:
        """A column by name (dots are part of the name)."""
        return Sql(quoted(name))

    def lit(self, value: Any) -> Sql:
        """A literal (str, int, float or bool)."""
        return literal(value)

    def null(self, dtype: str) -> Sql:
        """A typed null: bool, int, float, str or list[str]."""
        return Sql(f"CAST(NULL AS {DTYPES[dtype]})")

    def and_(self, a: Sql, b: Sql) -> Sql:
        """Kleene and (SQL ``AND``)."""
        return Sql(f"({a} AND {b})")

    def or_(self, a: Sql, b: Sql) -> Sql:
        """Kleene or (SQL ``OR``)."""
        return Sql(f"({a} OR {b})")

    def not_(self, a: Sql) -> Sql:
        """Kleene not (SQL ``NOT``)."""
        return Sql(f"(NOT {a})")

    def compare(self, op: str, a: Sql, value: Any) -> Sql:
        """``a op value``; null when ``a`` is null."""
        return Sql(f"({a} {_OPS[op]} {literal(value)})")

    def is_in(self, a: Sql, values: Sequence[Any]) -> Sql:
        """Membership; null stays null (also for an empty ``values``)."""
        if not values:
            return Sql(f"(CASE WHEN {a} IS NULL THEN NULL ELSE FALSE END)")
        return Sql(f"({a} IN ({', '.join(literal(v) for v in values)}))")

    def contains(self, a: Sql, value: str) -> Sql:
        """A list column holds ``value``; null when the list is null."""
        return Sql(f"array_contains({a}, {literal(value)})")

    def list_has_other(self, a: Sql, values: Sequence[str]) -> Sql:
        """A list column holds an element outside ``values`` (null elements aside).

        Null when the list is null. Null elements are dropped first, as Polars'
        ``list.any`` skips them (Spark's ``exists`` would give null instead).
        """
        allowed = (
            f"CAST(array({', '.join(literal(v) for v in values)}) AS array<string>)"
        )
        other = f"size(array_except(array_compact({a}), {allowed})) > 0"
        return Sql(f"(CASE WHEN {a} IS NULL THEN NULL ELSE {other} END)")

    def list_len(self, a: Sql) -> Sql:
        """How many elements a list has; null for a null list."""
        return Sql(f"(CASE WHEN {a} IS NOT NULL THEN size({a}) END)")

    def is_null(self, a: Sql) -> Sql:
        """True where ``a`` is null (never null)."""
        return Sql(f"({a} IS NULL)")

    def is_true(self, a: Sql) -> Sql:
        """True where true; null counts as false."""
        return Sql(f"coalesce({a}, FALSE)")

    def when(self, branches: Sequence[tuple[Sql, Sql]], otherwise: Sql) -> Sql:
        """The first branch whose condition is true; otherwise ``otherwise``."""
        if not branches:
            return otherwise
        cases = " ".join(f"WHEN {cond} THEN {value}" for cond, value in branches)
        return Sql(f"(CASE {cases} ELSE {otherwise} END)")

    def add(self, a: Sql, b: Sql) -> Sql:
        """Numeric sum (null if either is null)."""
        return Sql(f"({a} + {b})")

    def coalesce(self, a: Sql, b: Sql) -> Sql:
        """``a``, or ``b`` where ``a`` is null."""
        return Sql(f"coalesce({a}, {b})")

    def greatest(self, items: Sequence[Sql]) -> Sql:
        """The largest non-null value."""
        return items[0] if len(items) == 1 else Sql(f"greatest({', '.join(items)})")

    def least(self, items: Sequence[Sql]) -> Sql:
        """The smallest non-null value."""
        return items[0] if len(items) == 1 else Sql(f"least({', '.join(items)})")

    def labels(self, items: Sequence[tuple[str, Sql]]) -> Sql:
        """The labels whose condition is true, as an array, in order."""
        if not items:
            return Sql("CAST(array() AS array<string>)")
        parts = ", ".join(
            f"CASE WHEN {cond} THEN {literal(label)} END" for label, cond in items
        )
        return Sql(f"array_compact(array({parts}))")

    def round2(self, a: Sql) -> Sql:
        """Rounded to 2 decimals, half up on the decimal form (module docstring)."""
        return Sql(f"round({a}, 2)")

    def div(self, a: Sql, n: float) -> Sql:
        """``a / n``."""
        return Sql(f"({a} / {literal(float(n))})")


def screen_frame(
    df: DataFrame,
    content: Content,
    columns: dict[str, Column],
    keep: Sequence[str] = (),
) -> DataFrame:
    """Screen every row of a facts table.

    Args:
        df: the facts table (person id and fact columns, already checked).
        content: the loaded content.
        columns: the expected fact columns.
        keep: other input columns to carry through (e.g. ``input_problems``).

    Returns:
        ``person_id``, ``disposition``, ``domains``, ``rule_ids``, ``unknown_facts``
        and the kept columns.
    """
    backend = SparkBackend()
    stages, outputs = plan(backend, content, columns, set(df.columns))
    for stage in stages:
        df = df.withColumns({name: column(sql) for name, sql in stage})
    return df.select(
        column(backend.col(PERSON)),
        *[column(sql).alias(name) for name, sql in outputs.items()],
        *[column(backend.col(name)) for name in keep],
    )


def local_session(master: str = "local[2]") -> SparkSession:
    """A Spark session for this machine only: loopback, no UI, quiet, no downloads.

    Nothing is fetched at start (no ``spark.jars.packages``); the JVM is the local
    Java (``JAVA_HOME`` or ``java`` on the path) and needs no standard input. Sets
    ``SPARK_LOCAL_IP`` to 127.0.0.1 in this process's environment unless it is set.

    Args:
        master: the Spark master URL, e.g. ``local[2]``.

    Returns:
        A started session (an already running one keeps its own settings).
    """
    # Read by the JVM at launch: otherwise Spark looks up a non-loopback interface
    # for its own address (and warns when the hostname resolves to loopback).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        SparkSession.builder.master(master)
        .appName("ketascreen")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.log.level", "ERROR")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
