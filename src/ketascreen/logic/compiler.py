"""Compile conditions once into fast three-valued evaluators.

Evaluation uses Kleene logic: ``True``, ``False`` or ``None`` (unknown). A missing fact
is unknown, never false, so a rule whose facts are missing evaluates to unknown and the
engine lists what it needed.

Each compiled :class:`Evaluator` is frozen, callable on a fact mapping, prints as a
readable expression for traces, and can :meth:`~Evaluator.explain` which leaves decided
the outcome (the evidence) or were unknown (what mattered).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ketascreen.domain.facts import AtLeast
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    FactTest,
    Not,
    ParamRef,
)

Tri = bool | None
Facts = Mapping[str, Any]

_SYMBOL = {
    "eq": "=",
    "ne": "≠",
    "in": "in",
    "gte": "≥",
    "gt": ">",
    "lte": "≤",
    "lt": "<",
    "contains": "includes",
    "contains_any": "includes any of",
}


class UnknownParameter(KeyError):
    """A condition names a parameter that is not defined."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """One fact test that took part in an outcome."""

    fact: str
    value: Any
    outcome: Tri
    text: str


@dataclass(frozen=True, slots=True, repr=False)
class Evaluator:
    """A compiled condition: call it with facts to get ``True``, ``False`` or ``None``."""

    fn: Callable[[Facts], Tri]
    text: str
    kind: str
    children: tuple[Evaluator, ...] = ()
    fact: str = ""
    facts: tuple[str, ...] = field(default=())
    operand: Any = None
    """For a fact test: the value it compares with (parameters resolved)."""

    def __call__(self, facts: Facts) -> Tri:
        return self.fn(facts)

    def __repr__(self) -> str:
        return self.text

    def explain(self, facts: Facts) -> tuple[Tri, list[Leaf]]:
        """Evaluate and return the leaves that decided the outcome.

        For a true result: the fact tests that made it true. For an unknown result:
        the fact tests that were unknown and could have changed it. For a false
        result: the fact tests that made it false.

        Args:
            facts: fact id to value; missing means unknown.

        Returns:
            The outcome and the deciding leaves.
        """
        outcome = self.fn(facts)
        if self.kind == "fact":
            value = facts.get(self.fact)
            return outcome, [Leaf(self.fact, value, outcome, self.text)]
        if self.kind == "not":
            return outcome, self.children[0].explain(facts)[1]
        leaves: list[Leaf] = []
        for child in self.children:
            child_outcome, child_leaves = child.explain(facts)
            if child_outcome is outcome:
                leaves.extend(child_leaves)
        return outcome, leaves


def compile_condition(cond: Condition, params: Mapping[str, float]) -> Evaluator:
    """Compile a validated condition into an :class:`Evaluator`.

    Args:
        cond: the condition model.
        params: named parameter values that ``{param: NAME}`` operands resolve to.

    Returns:
        The evaluator.

    Raises:
        UnknownParameter: a ``{param: NAME}`` is not in ``params``.
    """
    if isinstance(cond, FactTest):
        return _compile_fact(cond, params)
    if isinstance(cond, All):
        kids = tuple(compile_condition(c, params) for c in cond.all)
        return _node("all", kids, _all([k.fn for k in kids]))
    if isinstance(cond, AnyOf):
        kids = tuple(compile_condition(c, params) for c in cond.any)
        return _node("any", kids, _any([k.fn for k in kids]))
    if isinstance(cond, Not):
        kid = compile_condition(cond.not_, params)
        return _node("not", (kid,), _not(kid.fn))
    kids = tuple(compile_condition(c, params) for c in cond.count)
    need = math.ceil(_resolve(cond.gte, params))  # "at least 2.5" means 3
    return _node(f"count≥{need}", kids, _count([k.fn for k in kids], need))


def _node(
    kind: str, kids: tuple[Evaluator, ...], fn: Callable[[Facts], Tri]
) -> Evaluator:
    joined = ", ".join(k.text for k in kids)
    facts = tuple(dict.fromkeys(f for k in kids for f in k.facts))
    label = "not" if kind == "not" else kind
    return Evaluator(fn, f"{label}({joined})", kind.split("≥")[0], kids, "", facts)


def _all(fns: list[Callable[[Facts], Tri]]) -> Callable[[Facts], Tri]:
    parts = tuple(fns)

    def run(facts: Facts) -> Tri:
        unknown = False
        for fn in parts:
            r = fn(facts)
            if r is False:
                return False
            if r is None:
                unknown = True
        return None if unknown else True

    return run


def _any(fns: list[Callable[[Facts], Tri]]) -> Callable[[Facts], Tri]:
    parts = tuple(fns)

    def run(facts: Facts) -> Tri:
        unknown = False
        for fn in parts:
            r = fn(facts)
            if r is True:
                return True
            if r is None:
                unknown = True
        return None if unknown else False

    return run


def _not(fn: Callable[[Facts], Tri]) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        r = fn(facts)
        return None if r is None else not r

    return run


def _count(fns: list[Callable[[Facts], Tri]], need: int) -> Callable[[Facts], Tri]:
    parts = tuple(fns)

    def run(facts: Facts) -> Tri:
        true = unknown = 0
        for fn in parts:
            r = fn(facts)
            if r is True:
                true += 1
            elif r is None:
                unknown += 1
        if true >= need:
            return True
        if true + unknown < need:
            return False
        return None

    return run


def _resolve(operand: Any, params: Mapping[str, float]) -> Any:
    if isinstance(operand, ParamRef):
        try:
            return params[operand.param]
        except KeyError:
            raise UnknownParameter(operand.param) from None
    return operand


def _compile_fact(test: FactTest, params: Mapping[str, float]) -> Evaluator:
    op = test.op
    raw = test.operand(op)
    value = _resolve(raw, params)
    fn = _FACT_OPS[op](test.fact, value)
    if op in ("known", "unknown"):
        text = f"{test.fact} is {op}"
    else:
        shown = (
            value
            if not isinstance(value, list)
            else "[" + ", ".join(map(str, value)) + "]"
        )
        text = f"{test.fact} {_SYMBOL[op]} {shown}"
        if isinstance(raw, ParamRef):
            text += f" ({raw.param})"
    return Evaluator(fn, text, "fact", (), test.fact, (test.fact,), value)


def _eq(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x == v

    return run


def _ne(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x != v

    return run


def _in(name: str, v: Any) -> Callable[[Facts], Tri]:
    members = frozenset(v)

    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x in members

    return run


def _gte(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x >= v

    return run


def _gt(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x > v

    return run


def _lte(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x <= v

    return run


def _lt(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        return None if x is None else x < v

    return run


def _contains(name: str, v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        if x is None:
            return None
        return True if v in x else _absent(x)

    return run


def _contains_any(name: str, v: Any) -> Callable[[Facts], Tri]:
    wanted = frozenset(v)

    def run(facts: Facts) -> Tri:
        x = facts.get(name)
        if x is None:
            return None
        return True if not wanted.isdisjoint(x) else _absent(x)

    return run


def _absent(x: Any) -> Tri:
    """A code not in a multi-choice value: false, or unknown if the list is partial."""
    return None if isinstance(x, AtLeast) else False


def _known(name: str, _v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        return facts.get(name) is not None

    return run


def _unknown(name: str, _v: Any) -> Callable[[Facts], Tri]:
    def run(facts: Facts) -> Tri:
        return facts.get(name) is None

    return run


_FACT_OPS: dict[str, Callable[[str, Any], Callable[[Facts], Tri]]] = {
    "eq": _eq,
    "ne": _ne,
    "in": _in,
    "gte": _gte,
    "gt": _gt,
    "lte": _lte,
    "lt": _lt,
    "contains": _contains,
    "contains_any": _contains_any,
    "known": _known,
    "unknown": _unknown,
}
