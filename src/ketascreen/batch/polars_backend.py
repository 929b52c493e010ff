"""The Polars engine: the ruleset as lazy Polars expressions, run streaming."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

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
#: Label conditions are looked up this many at a time (see ``labels``).
_GROUP = 16
_Column = TypeVar("_Column", pl.Series, pl.Expr)


def _counts(name: str) -> str:
    """The helper column counting a list column's codes."""
    return f"_counts_{name}"


_OPS = {
    "eq": "__eq__",
    "ne": "__ne__",
    "gte": "__ge__",
    "gt": "__gt__",
    "lte": "__le__",
    "lt": "__lt__",
}


class PolarsBackend:
    """Column operations on ``polars.Expr`` (Kleene logic is Polars' own).

    Polars' ``list.contains`` is slow next to every other test, and the rules ask
    it dozens of times. So each coded list column is first read once into a count
    column (:meth:`prepare`): every code has a few bits of one integer, holding how
    often the code occurs, and one more field counts the elements outside the
    codes. "Holds code c" is then "c's bits are not zero". A field is wide enough to
    count every element of a list no longer than the number of codes; a longer list
    is an input problem (``problem_expr``), and such a row is not screened.
    """

    def __init__(self, lists: Mapping[str, Sequence[str]] | None = None) -> None:
        """
        Args:
            lists: the coded list columns the frame has, with their codes.
        """
        self._fields: dict[str, tuple[dict[str, int], int]] = {}
        for name, codes in (lists or {}).items():
            width = len(codes).bit_length()
            if (len(codes) + 1) * width <= 62:
                self._fields[name] = ({c: i for i, c in enumerate(codes)}, width)

    def prepare(self) -> list[tuple[str, pl.Expr]]:
        """The count columns that :meth:`contains` and :meth:`list_has_other` read."""
        out = []
        for name, (index, width) in self._fields.items():
            element = pl.element()
            bits = element.replace_strict(
                list(index),
                [1 << (i * width) for i in index.values()],
                default=1 << (len(index) * width),
                return_dtype=pl.Int64,
            )
            counted = pl.when(element.is_null()).then(0).otherwise(bits)
            out.append((_counts(name), pl.col(name).list.eval(counted).list.sum()))
        return out

    def _field(self, a: pl.Expr, slot: int | None) -> pl.Expr | None:
        """Whether the list's field ``slot`` (None: outside the codes) is not zero."""
        name = a.meta.output_name(raise_if_undetermined=False)
        if name not in self._fields:
            return None
        index, width = self._fields[name]
        position = len(index) if slot is None else slot
        mask = ((1 << width) - 1) << (position * width)
        # A null list has a null count: the test stays null (unknown).
        return (pl.col(_counts(name)) & mask) != 0

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
        name = a.meta.output_name(raise_if_undetermined=False)
        slot = self._fields[name][0].get(value) if name in self._fields else None
        fast = None if slot is None else self._field(a, slot)
        return a.list.contains(value) if fast is None else fast

    def list_has_other(self, a: pl.Expr, values: Sequence[str]) -> pl.Expr:
        """A list column holds an element outside ``values``."""
        name = a.meta.output_name(raise_if_undetermined=False)
        known = name in self._fields and set(self._fields[name][0]) == set(values)
        fast = self._field(a, None) if known else None
        if fast is not None:
            return fast
        return a.list.eval(pl.element().is_in(list(values)).not_()).list.any()

    def list_len(self, a: pl.Expr) -> pl.Expr:
        """How many elements a list has (null for a null list)."""
        return a.list.len()

    def is_null(self, a: pl.Expr) -> pl.Expr:
        """True where null."""
        return a.is_null()

    def is_true(self, a: pl.Expr) -> pl.Expr:
        """True where true; null counts as false."""
        return a.fill_null(False)

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

    def labels(self, items: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
        """The labels whose condition is true, as a list (in order) of an Enum.

        Polars builds lists slowly from many conditional parts (``concat_list``),
        so the conditions are read as the bits of a small number, which indexes a
        table of every subset of the labels. Up to sixteen labels, one table of
        lists does it all. More are taken sixteen at a time, each table holding
        strings of one character per label; the strings of all groups are joined
        and split into characters once, and the characters become the labels by
        their place in the Enum. Several times faster than a list of conditional
        literals; a null condition counts as false.

        The lists are of an Enum of the labels: a result file then holds each label
        once (a Parquet dictionary), and is written several times faster than
        strings.
        """
        if not items:
            return pl.lit([], dtype=pl.List(pl.String()))
        enum = pl.Enum(list(dict.fromkeys(label for label, _ in items)))
        codes = {label: _code(i) for i, label in enumerate(enum.categories)}
        if len(items) <= _GROUP:
            table = _list_table(tuple(codes[label] for label, _ in items), enum)
            return pl.lit(table).gather(_mask(items))
        parts = [
            pl.lit(_code_table(tuple(codes[label] for label, _ in group))).gather(
                _mask(group)
            )
            for group in (
                items[start : start + _GROUP] for start in range(0, len(items), _GROUP)
            )
        ]
        return _labelled(pl.concat_str(parts), enum)

    def round2(self, a: pl.Expr) -> pl.Expr:
        """Rounded to 2 decimals."""
        return a.round(2)

    def div(self, a: pl.Expr, n: float) -> pl.Expr:
        """Division."""
        return a / n


def _mask(items: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
    """The conditions as the bits of one number (a null condition is a 0 bit)."""
    return pl.sum_horizontal(
        [
            pl.when(cond).then(1 << bit).otherwise(0)
            for bit, (_, cond) in enumerate(items)
        ]
    )


def _code(place: int) -> str:
    """The one character that stands for the label at ``place`` in its Enum."""
    # Printable ASCII first: strings of up to twelve of them are stored inline.
    return chr(0x21 + place if place < 94 else 0x100 + place)


@functools.lru_cache(maxsize=256)
def _code_table(codes: tuple[str, ...]) -> pl.Series:
    """Every subset of ``codes``, by bit mask, as one string (see ``labels``)."""
    table = [""]
    for code in codes:  # the subsets with this code (its bit set) follow
        table += [subset + code for subset in table]
    return pl.Series(table, dtype=pl.String)


@functools.lru_cache(maxsize=16)
def _list_table(codes: tuple[str, ...], enum: pl.Enum) -> pl.Series:
    """Every subset of ``codes``, by bit mask, as a list of ``enum``'s labels."""
    return _labelled(_code_table(codes), enum)


def _labelled(joined: _Column, enum: pl.Enum) -> _Column:
    """Strings of codes (a Series or an Expr) as lists of ``enum``'s labels."""
    coded = pl.List(pl.Enum([_code(i) for i in range(len(enum.categories))]))
    lists = joined.str.split("").cast(coded)
    if isinstance(lists, pl.Series):
        return _relabel(lists, enum)
    return lists.map_batches(
        functools.partial(_relabel, enum=enum),
        return_dtype=pl.List(enum),
        is_elementwise=True,
    )


def _relabel(lists: pl.Series, enum: pl.Enum) -> pl.Series:
    """Lists of one Enum as lists of another with as many categories, place by place.

    In a batch of its own: Polars' ``list.eval`` on the column is quick, but slow
    inside the expression that made the lists.
    """
    return lists.list.eval(pl.element().to_physical().cat.to(enum))


def backend_for(
    frame: pl.LazyFrame, columns: Mapping[str, Column]
) -> tuple[PolarsBackend, pl.LazyFrame]:
    """The backend for a facts table, and the table with its helper columns added."""
    names = set(frame.collect_schema().names())
    lists = {
        n: [str(code) for code in c.spec.codes]
        for n, c in columns.items()
        if c.dtype == "list[str]" and c.spec.codes and n in names
    }
    backend = PolarsBackend(lists)
    helpers = [e.alias(n) for n, e in backend.prepare() if n not in names]
    return backend, frame.with_columns(helpers) if helpers else frame


def screen_frame(
    frame: pl.LazyFrame,
    content: Content,
    columns: dict[str, Column],
    keep: Sequence[str] = (),
    backend: PolarsBackend | None = None,
) -> pl.LazyFrame:
    """Screen every row of a facts table.

    Args:
        frame: the facts table (person id and fact columns, already checked).
        content: the loaded content.
        columns: the expected fact columns.
        keep: other input columns to carry through (e.g. ``input_problems``).
        backend: the backend from :func:`backend_for`, whose helper columns
            ``frame`` already has; made here when not given.

    Returns:
        ``person_id``, ``disposition``, ``domains``, ``rule_ids``, ``unknown_facts``
        and the kept columns.
    """
    if backend is None:
        backend, frame = backend_for(frame, columns)
    present = set(frame.collect_schema().names())
    stages, outputs = plan(backend, content, columns, present)
    for stage in stages:
        frame = frame.with_columns([expr.alias(name) for name, expr in stage])
    return frame.select(
        pl.col(PERSON), *[e.alias(n) for n, e in outputs.items()], *map(pl.col, keep)
    )
