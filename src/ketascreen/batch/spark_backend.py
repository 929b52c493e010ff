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
_OPS = {
    "eq": "__eq__",
    "ne": "__ne__",
    "gte": "__ge__",
    "gt": "__gt__",
    "lte": "__le__",
    "lt": "__lt__",
}


def quoted(name: str) -> str:
    """A column name quoted for Spark, so dots are part of the name.

    Args:
        name: a column name, e.g. ``phq9.total``.

    Returns:
        The name in backticks (backticks inside doubled).
    """
    return "`" + name.replace("`", "``") + "`"


class SparkBackend:
    """Column operations on ``pyspark.sql.Column`` (SQL null semantics)."""

    def col(self, name: str) -> SparkColumn:
        """A column by name (dots are part of the name)."""
        return F.col(quoted(name))

    def lit(self, value: Any) -> SparkColumn:
        """A literal (str, int, float or bool)."""
        return F.lit(value)

    def null(self, dtype: str) -> SparkColumn:
        """A typed null: bool, int, float, str or list[str]."""
        return F.lit(None).cast(DTYPES[dtype])

    def and_(self, a: SparkColumn, b: SparkColumn) -> SparkColumn:
        """Kleene and (SQL ``AND``)."""
        return a & b

    def or_(self, a: SparkColumn, b: SparkColumn) -> SparkColumn:
        """Kleene or (SQL ``OR``)."""
        return a | b

    def not_(self, a: SparkColumn) -> SparkColumn:
        """Kleene not (SQL ``NOT``)."""
        return ~a

    def compare(self, op: str, a: SparkColumn, value: Any) -> SparkColumn:
        """``a op value``; null when ``a`` is null."""
        result: SparkColumn = getattr(a, _OPS[op])(value)
        return result

    def is_in(self, a: SparkColumn, values: Sequence[Any]) -> SparkColumn:
        """Membership; null stays null (also for an empty ``values``)."""
        return F.when(a.isNull(), self.null("bool")).otherwise(a.isin(list(values)))

    def contains(self, a: SparkColumn, value: str) -> SparkColumn:
        """A list column holds ``value``; null when the list is null."""
        return F.array_contains(a, value)

    def list_has_other(self, a: SparkColumn, values: Sequence[str]) -> SparkColumn:
        """A list column holds an element outside ``values`` (null elements aside).

        Null when the list is null. Null elements are dropped first, as Polars'
        ``list.any`` skips them (Spark's ``exists`` would give null instead).
        """
        allowed = F.array(*[F.lit(v) for v in values]).cast(DTYPES["list[str]"])
        other = F.size(F.array_except(F.array_compact(a), allowed)) > 0
        return F.when(a.isNull(), self.null("bool")).otherwise(other)

    def list_len(self, a: SparkColumn) -> SparkColumn:
        """How many elements a list has; null for a null list."""
        return F.when(a.isNotNull(), F.size(a))

    def is_null(self, a: SparkColumn) -> SparkColumn:
        """True where ``a`` is null (never null)."""
        return a.isNull()

    def is_true(self, a: SparkColumn) -> SparkColumn:
        """True where true; null counts as false."""
        return F.coalesce(a, F.lit(False))

    def when(
        self,
        branches: Sequence[tuple[SparkColumn, SparkColumn]],
        otherwise: SparkColumn,
    ) -> SparkColumn:
        """The first branch whose condition is true; otherwise ``otherwise``."""
        if not branches:
            return otherwise
        (cond, value), *rest = branches
        out = F.when(cond, value)
        for cond, value in rest:
            out = out.when(cond, value)
        return out.otherwise(otherwise)

    def add(self, a: SparkColumn, b: SparkColumn) -> SparkColumn:
        """Numeric sum (null if either is null)."""
        return a + b

    def coalesce(self, a: SparkColumn, b: SparkColumn) -> SparkColumn:
        """``a``, or ``b`` where ``a`` is null."""
        return F.coalesce(a, b)

    def greatest(self, items: Sequence[SparkColumn]) -> SparkColumn:
        """The largest non-null value."""
        return items[0] if len(items) == 1 else F.greatest(*items)

    def least(self, items: Sequence[SparkColumn]) -> SparkColumn:
        """The smallest non-null value."""
        return items[0] if len(items) == 1 else F.least(*items)

    def labels(self, items: Sequence[tuple[str, SparkColumn]]) -> SparkColumn:
        """The labels whose condition is true, as an array, in order."""
        if not items:
            return F.array().cast(DTYPES["list[str]"])
        return F.array_compact(
            F.array(*[F.when(cond, F.lit(label)) for label, cond in items])
        )

    def round2(self, a: SparkColumn) -> SparkColumn:
        """Rounded to 2 decimals, half up on the decimal form (module docstring)."""
        return F.round(a, 2)

    def div(self, a: SparkColumn, n: float) -> SparkColumn:
        """``a / n``."""
        return a / n


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
        df = df.withColumns(dict(stage))
    return df.select(
        backend.col(PERSON),
        *[expr.alias(name) for name, expr in outputs.items()],
        *[backend.col(name) for name in keep],
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
