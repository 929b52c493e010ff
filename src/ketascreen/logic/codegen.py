"""Compile many conditions into one generated Python function (the fast path).

The closures in :mod:`ketascreen.logic.compiler` explain outcomes and print traces;
this module turns the same conditions into a single function that evaluates them all
at once, for screening speed. Three-valued logic is encoded in two bits so Kleene
``and``/``or`` become bitwise ``&``/``|``::

    FALSE = 0b00   UNKNOWN = 0b01   TRUE = 0b11

Both paths read the same condition objects and parameter values (no second copy of a
threshold), and a differential test checks they agree on every rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ketascreen.domain.facts import AtLeast
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)

FALSE, UNKNOWN, TRUE = 0, 1, 3
#: Maps the encoding back to Python's tri-state: 0 -> False, 1 -> None, 3 -> True.
DECODE: tuple[bool | None, ...] = (False, None, None, True)
_NOT = (TRUE, UNKNOWN, UNKNOWN, FALSE)
_CMP = {"eq": "==", "ne": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


class _Writer:
    """Builds expressions with fresh temporary names and a table of constants."""

    def __init__(self, params: Mapping[str, float]) -> None:
        self.params = params
        self.consts: list[Any] = []
        self.count = 0

    def temp(self) -> str:
        self.count += 1
        return f"_t{self.count}"

    def const(self, value: Any) -> str:
        self.consts.append(value)
        return f"_c[{len(self.consts) - 1}]"

    def expr(self, cond: Condition) -> str:
        if isinstance(cond, FactTest):
            return self._fact(cond)
        if isinstance(cond, All):
            return self._chain([self.expr(c) for c in cond.all], stop=FALSE, op="&")
        if isinstance(cond, AnyOf):
            return self._chain([self.expr(c) for c in cond.any], stop=TRUE, op="|")
        if isinstance(cond, Not):
            return f"_NOT[{self.expr(cond.not_)}]"
        return self._count(cond)

    def _chain(self, parts: list[str], stop: int, op: str) -> str:
        # Short-circuits on the deciding value, like Python's and/or.
        acc = self.temp()
        out = f"({acc} := {parts[0]})"
        for part in parts[1:]:
            nxt = self.temp()
            out = f"({stop} if ({acc} := {out}) == {stop} else ({nxt} := {acc} {op} {part}))"
            acc = nxt
        return out

    def _count(self, cond: Count) -> str:
        need = cond.gte
        n = math.ceil(self.params[need.param] if isinstance(need, ParamRef) else need)
        temps = [self.temp() for _ in cond.count]
        assigns = ", ".join(
            f"({t} := {self.expr(c)})" for t, c in zip(temps, cond.count, strict=True)
        )
        true = " + ".join(f"({t} == 3)" for t in temps)
        unknown = " + ".join(f"({t} == 1)" for t in temps)
        k = self.temp()
        return (
            f"(({assigns},) and (3 if ({k} := {true}) >= {n} "
            f"else (0 if {k} + {unknown} < {n} else 1)))"
        )

    def _fact(self, test: FactTest) -> str:
        x = self.temp()
        load = f"({x} := _g({test.fact!r}))"
        op = test.op
        if op == "known":
            return f"(0 if {load} is None else 3)"
        if op == "unknown":
            return f"(3 if {load} is None else 0)"
        value = test.operand(op)
        if isinstance(value, ParamRef):
            value = self.params[value.param]
        if op in _CMP:
            check = f"{x} {_CMP[op]} {self.const(value)}"
        elif op == "in":
            check = f"{x} in {self.const(frozenset(value))}"
        elif op == "contains":
            check = f"{self.const(value)} in {x}"
        else:
            check = f"not {self.const(frozenset(value))}.isdisjoint({x})"
        if op in ("contains", "contains_any"):
            # A partial list (AtLeast) leaves every code it does not name unknown.
            return (
                f"(1 if {load} is None else (3 if {check} else "
                f"(1 if {x}.__class__ is _AtLeast else 0)))"
            )
        return f"(1 if {load} is None else (3 if {check} else 0))"


def compile_partition(
    conditions: Sequence[Condition], params: Mapping[str, float]
) -> Callable[[Mapping[str, Any]], tuple[list[int], list[int]]]:
    """Compile conditions into one function that sorts them by outcome.

    Args:
        conditions: validated conditions, in order.
        params: parameter values for ``{param: NAME}``.

    Returns:
        A function of the facts mapping returning the indices of the conditions that
        are true and of those that are unknown (all others are false), in order.
    """
    writer = _Writer(params)
    lines = [
        "def _partition(facts):",
        "    _g = facts.get",
        "    _t = []",
        "    _u = []",
    ]
    for index, cond in enumerate(conditions):
        lines.append(f"    _c0 = {writer.expr(cond)}")
        lines.append(f"    if _c0 == 3: _t.append({index})")
        lines.append(f"    elif _c0 == 1: _u.append({index})")
    lines.append("    return _t, _u")
    fn: Callable[[Mapping[str, Any]], tuple[list[int], list[int]]] = _build(
        "\n".join(lines) + "\n", writer, "_partition"
    )
    return fn


def _build(source: str, writer: _Writer, name: str) -> Any:
    namespace: dict[str, Any] = {
        "_c": tuple(writer.consts),
        "_NOT": _NOT,
        "_AtLeast": AtLeast,
    }
    # The source is generated from validated conditions; values enter only as constants.
    exec(compile(source, "<ketascreen rules>", "exec"), namespace)  # noqa: S102 - generated from validated rules  # nosec
    return namespace[name]


def compile_all(
    conditions: Sequence[Condition], params: Mapping[str, float]
) -> Callable[[Mapping[str, Any]], tuple[int, ...]]:
    """Compile conditions into one function returning their encoded outcomes.

    Args:
        conditions: validated conditions, in order.
        params: parameter values for ``{param: NAME}``.

    Returns:
        A function of the facts mapping that returns one code (0, 1 or 3) per condition.
    """
    writer = _Writer(params)
    body = ",\n        ".join(writer.expr(c) for c in conditions)
    source = f"def _evaluate_all(facts):\n    _g = facts.get\n    return (\n        {body},\n    )\n"
    fn: Callable[[Mapping[str, Any]], tuple[int, ...]] = _build(
        source, writer, "_evaluate_all"
    )
    return fn
