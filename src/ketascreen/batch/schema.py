"""The facts table: one row per person, one column per fact the rules or scores read."""

from __future__ import annotations

from dataclasses import dataclass

from ketascreen.domain.facts import FactSpec
from ketascreen.domain.types import FactKind
from ketascreen.rules.loader import Content

PERSON = "person_id"
#: Facts an instrument computes; a column for one is optional (used when the items
#: cannot compute it, exactly as the single-person engine keeps a supplied total).
COMPUTED = frozenset({"score", "band", "flag"})


@dataclass(frozen=True)
class Column:
    """One column of the facts table."""

    fact: str
    kind: FactKind
    dtype: str
    """polars-style type name: str, int, float, bool or list[str]."""
    required: bool
    spec: FactSpec


def fact_columns(content: Content) -> dict[str, Column]:
    """The fact columns a facts table has, in vocabulary order.

    Args:
        content: the loaded content.

    Returns:
        Fact id to column: every fact read by an active rule, a score, a gate or a
        flag. Computed instrument facts (scores, bands, flags) are optional.
    """
    read = _facts_read(content)
    out = {}
    for fact, spec in content.form.vocabulary.facts.items():
        if fact in read:
            out[fact] = Column(
                fact, spec.kind, dtype_of(spec), spec.origin not in COMPUTED, spec
            )
    return out


def dtype_of(spec: FactSpec) -> str:
    """The column type for a fact."""
    if spec.kind == FactKind.multi:
        return "list[str]"
    if spec.kind == FactKind.boolean:
        return "bool"
    if spec.kind in (FactKind.number, FactKind.duration):
        return (
            "int"
            if spec.codes and all(isinstance(c, int) for c in spec.codes)
            else "float"
        )
    if (
        spec.kind == FactKind.single
        and spec.codes
        and all(isinstance(c, int) and not isinstance(c, bool) for c in spec.codes)
    ):
        return "int"
    return "str"


def _facts_read(content: Content) -> set[str]:
    read: set[str] = set()
    for cr in content.rules:
        read.update(cr.when.facts)
    for inst in content.instruments.values():
        for cs in inst.scores:
            read.update(item for item, _ in cs.points)
            read.add(cs.fact)
            read.add(cs.band_fact)
            if cs.gate is not None:
                read.update(cs.gate.facts)
        for fact, evaluator in inst.flags:
            read.add(fact)
            read.update(evaluator.facts)
    return read
