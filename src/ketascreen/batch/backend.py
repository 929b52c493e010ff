"""The column operations a dataframe engine must offer (Polars and Spark implement it).

Every operation keeps SQL/Kleene null semantics: null is "unknown". ``and_``/``or_``
are Kleene; comparisons with null give null; ``when`` sends a null condition to the
next branch (so compiled code never relies on it to mean "false").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

E = TypeVar("E")


class Backend(Protocol[E]):
    """Column expression operations of one engine."""

    def col(self, name: str) -> E:
        """A column by name."""

    def lit(self, value: Any) -> E:
        """A literal (str, int, float or bool)."""

    def null(self, dtype: str) -> E:
        """A typed null: bool, int, float, str or list[str]."""

    def and_(self, a: E, b: E) -> E:
        """Kleene and."""

    def or_(self, a: E, b: E) -> E:
        """Kleene or."""

    def not_(self, a: E) -> E:
        """Kleene not."""

    def compare(self, op: str, a: E, value: Any) -> E:
        """``a op value`` for eq ne gte gt lte lt; null when ``a`` is null."""

    def is_in(self, a: E, values: Sequence[Any]) -> E:
        """Membership; null when ``a`` is null."""

    def contains(self, a: E, value: str) -> E:
        """A list column holds ``value``; null when the list is null."""

    def list_has_other(self, a: E, values: Sequence[str]) -> E:
        """A list column holds an element outside ``values``."""

    def list_len(self, a: E) -> E:
        """How many elements a list has; null for a null list."""

    def is_null(self, a: E) -> E:
        """True where ``a`` is null (never null)."""

    def is_true(self, a: E) -> E:
        """True where ``a`` is true, false where it is false or null (never null)."""

    def when(self, branches: Sequence[tuple[E, E]], otherwise: E) -> E:
        """The first branch whose condition is true; otherwise ``otherwise``."""

    def add(self, a: E, b: E) -> E:
        """Numeric sum (null if either is null)."""

    def coalesce(self, a: E, b: E) -> E:
        """``a``, or ``b`` where ``a`` is null."""

    def greatest(self, items: Sequence[E]) -> E:
        """The largest non-null value."""

    def least(self, items: Sequence[E]) -> E:
        """The smallest non-null value."""

    def labels(self, items: Sequence[tuple[str, E]]) -> E:
        """The labels whose condition is true, as a list, in order."""

    def round2(self, a: E) -> E:
        """Rounded to 2 decimals."""

    def div(self, a: E, n: float) -> E:
        """``a / n``."""
