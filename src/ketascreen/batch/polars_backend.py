"""The Polars engine: the ruleset as lazy Polars expressions, run streaming."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from ketascreen.batch.expressions import plan
from ketascreen.batch.schema import PERSON, Column
from ketascreen.rules.loader import Content

DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "list[str]": pl.List(pl.String()),
}
_OPS = {
    "eq": "__eq__",
    "ne": "__ne__",
    "gte": "__ge__",
    "gt": "__gt__",
    "lte": "__le__",
    "lt": "__lt__",
}


class PolarsBackend:
    """Column operations on ``polars.Expr`` (Kleene logic is Polars' own)."""

    def col(self, name: str) -> pl.Expr:
        """A column by name."""
        return pl.col(name)

    def lit(self, value: Any) -> pl.Expr:
        """A literal."""
        return pl.lit(value)

    def null(self, dtype: str) -> pl.Expr:
        """A typed null."""
        return pl.lit(None, dtype=DTYPES[dtype])

    def and_(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """Kleene and."""
        return a & b

    def or_(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """Kleene or."""
        return a | b

    def not_(self, a: pl.Expr) -> pl.Expr:
        """Kleene not."""
        return ~a

    def compare(self, op: str, a: pl.Expr, value: Any) -> pl.Expr:
        """A comparison; null when ``a`` is null."""
        result: pl.Expr = getattr(a, _OPS[op])(value)
        return result

    def is_in(self, a: pl.Expr, values: Sequence[Any]) -> pl.Expr:
        """Membership; null stays null."""
        return pl.when(a.is_null()).then(None).otherwise(a.is_in(list(values)))

    def contains(self, a: pl.Expr, value: str) -> pl.Expr:
        """A list column holds ``value``."""
        return a.list.contains(value)

    def list_has_other(self, a: pl.Expr, values: Sequence[str]) -> pl.Expr:
        """A list column holds an element outside ``values``."""
        return a.list.eval(pl.element().is_in(list(values)).not_()).list.any()

    def is_null(self, a: pl.Expr) -> pl.Expr:
        """True where null."""
        return a.is_null()

    def when(
        self, branches: Sequence[tuple[pl.Expr, pl.Expr]], otherwise: pl.Expr
    ) -> pl.Expr:
        """First true branch, else ``otherwise``."""
        out = otherwise
        for cond, value in reversed(branches):
            out = pl.when(cond).then(value).otherwise(out)
        return out

    def add(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """Sum; null propagates."""
        return a + b

    def coalesce(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """``a`` or else ``b``."""
        return pl.coalesce(a, b)

    def greatest(self, items: Sequence[pl.Expr]) -> pl.Expr:
        """Largest non-null."""
        return pl.max_horizontal(list(items))

    def least(self, items: Sequence[pl.Expr]) -> pl.Expr:
        """Smallest non-null."""
        return pl.min_horizontal(list(items))

    def strings(self, items: Sequence[pl.Expr]) -> pl.Expr:
        """The non-null strings as a list."""
        if not items:
            return pl.lit([], dtype=pl.List(pl.String()))
        return pl.concat_list([i.cast(pl.String) for i in items]).list.drop_nulls()

    def labels(self, items: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
        """The labels whose condition is true, as a list (in order).

        Built as one joined string and split: several times faster in Polars than
        a list of conditional literals. Labels are ids, which never contain ``|``.
        """
        if not items:
            return pl.lit([], dtype=pl.List(pl.String()))
        assert all("|" not in label for label, _ in items)
        joined = pl.concat_str(
            [pl.when(cond).then(pl.lit(label + "|")) for label, cond in items],
            ignore_nulls=True,
        )
        return (
            joined.str.strip_chars_end("|")
            .str.split("|")
            .list.eval(pl.element().filter(pl.element() != ""))
        )

    def round2(self, a: pl.Expr) -> pl.Expr:
        """Rounded to 2 decimals."""
        return a.round(2)

    def div(self, a: pl.Expr, n: float) -> pl.Expr:
        """Division."""
        return a / n


def screen_frame(
    frame: pl.LazyFrame,
    content: Content,
    columns: dict[str, Column],
    keep: Sequence[str] = (),
) -> pl.LazyFrame:
    """Screen every row of a facts table.

    Args:
        frame: the facts table (person id and fact columns, already checked).
        content: the loaded content.
        columns: the expected fact columns.
        keep: other input columns to carry through (e.g. ``input_problems``).

    Returns:
        ``person_id``, ``disposition``, ``domains``, ``rule_ids``, ``unknown_facts``
        and the kept columns.
    """
    present = set(frame.collect_schema().names())
    stages, outputs = plan(PolarsBackend(), content, columns, present)
    for stage in stages:
        frame = frame.with_columns([expr.alias(name) for name, expr in stage])
    return frame.select(
        pl.col(PERSON), *[e.alias(n) for n, e in outputs.items()], *map(pl.col, keep)
    )
