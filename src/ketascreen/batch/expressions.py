"""The ruleset as column expressions, for any :class:`Backend` (Polars, Spark).

The single-person engine's semantics, one to one:

- conditions use Kleene logic (``logic/compiler.py``): null is unknown, ``count``
  is true at ``need`` trues and false when even every unknown could not reach it;
- instruments are scored in content order, scores before flags, a computed score
  replacing a supplied one and a supplied one kept when items are missing
  (``instruments/scoring.py``);
- a rule fires when its condition is true; a non-info rule whose condition is
  unknown names the facts that could have changed it (the leaves ``explain`` would
  give: every node on the path from the rule to the leaf is unknown);
- a domain gets an "incomplete" finding when an unknown rule could raise it above its
  fired findings and a person-answerable fact is missing (``rules/engine.py``);
- the disposition is the most severe finding.

No threshold is written here: every number comes from the content's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from ketascreen.batch.backend import Backend, E
from ketascreen.batch.schema import Column
from ketascreen.domain.types import SEVERITY, Level
from ketascreen.instruments.model import scoped_values
from ketascreen.instruments.scoring import CompiledScore
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)
from ketascreen.rules.loader import Content

#: Disposition by severity (the inverse of ``SEVERITY`` without ``info``).
DISPOSITION_BY_SEVERITY = {v: k for k, v in SEVERITY.items() if k != Level.info.value}
OUTPUT = ("disposition", "domains", "rule_ids", "unknown_facts")


@dataclass(frozen=True)
class Path(Generic[E]):
    """A fact test and every node from the rule's root down to it."""

    fact: str
    nodes: tuple[E, ...]


class Compiler(Generic[E]):
    """Compiles conditions to expressions of one backend.

    With ``materialize``, every distinct node of every condition becomes its own
    column, computed once, bottom-up in ``stages`` (by height); parents and the
    unknown-fact paths then refer to those columns instead of repeating whole
    sub-expressions, which keeps the plans small and fast.
    """

    def __init__(
        self,
        backend: Backend[E],
        params: Mapping[str, float],
        *,
        materialize: bool = False,
    ) -> None:
        self.b = backend
        self.params = params
        self.materialize = materialize
        self.stages: list[list[tuple[str, E]]] = []
        self._names: dict[str, tuple[str, int]] = {}

    def condition(self, cond: Condition) -> E:
        """A nullable boolean expression for a condition."""
        return self.tree(cond)[0]

    def tree(self, cond: Condition) -> tuple[E, list[Path[E]]]:
        """The expression and every leaf path under it (for the unknowns)."""
        expr, _, paths = self._tree(cond)
        return expr, paths

    def _tree(self, cond: Condition) -> tuple[E, int, list[Path[E]]]:
        if isinstance(cond, FactTest):
            ref, height = self._node(cond, self._fact(cond), 0)
            return ref, height, [Path(cond.fact, (ref,))]
        if isinstance(cond, Not):
            inner, h, paths = self._tree(cond.not_)
            ref, height = self._node(cond, self.b.not_(inner), h + 1)
            return ref, height, [Path(p.fact, (ref, *p.nodes)) for p in paths]
        parts = [self._tree(c) for c in _children(cond)]
        expr = self._combine(cond, [e for e, _, _ in parts])
        ref, height = self._node(cond, expr, 1 + max(h for _, h, _ in parts))
        return (
            ref,
            height,
            [Path(p.fact, (ref, *p.nodes)) for _, _, ps in parts for p in ps],
        )

    def _node(self, cond: Condition, expr: E, height: int) -> tuple[E, int]:
        """The node's column (computed once per distinct condition) or its expression."""
        if not self.materialize:
            return expr, height
        key = cond.model_dump_json(by_alias=True)
        if key not in self._names:
            name = f"_k{len(self._names)}"
            self._names[key] = (name, height)
            while len(self.stages) <= height:
                self.stages.append([])
            self.stages[height].append((name, expr))
        name, height = self._names[key]
        return self.b.col(name), height

    def _combine(self, cond: Condition, exprs: list[E]) -> E:
        b = self.b
        if isinstance(cond, All):
            return _fold(b.and_, exprs)
        if isinstance(cond, AnyOf):
            return _fold(b.or_, exprs)
        assert isinstance(cond, Count)
        need = math.ceil(self._value(cond.gte))
        true = _fold(b.add, [b.when([(e, b.lit(1))], b.lit(0)) for e in exprs])
        unknown = _fold(
            b.add, [b.when([(b.is_null(e), b.lit(1))], b.lit(0)) for e in exprs]
        )
        return b.when(
            [
                (b.compare("gte", true, need), b.lit(True)),
                (b.compare("lt", b.add(true, unknown), need), b.lit(False)),
            ],
            b.null("bool"),
        )

    def _value(self, operand: Any) -> Any:
        return self.params[operand.param] if isinstance(operand, ParamRef) else operand

    def _fact(self, test: FactTest) -> E:
        b, op = self.b, test.op
        column = b.col(test.fact)
        value = self._value(test.operand(op))
        if op == "known":
            return b.not_(b.is_null(column))
        if op == "unknown":
            return b.is_null(column)
        if op == "in":
            return b.is_in(column, list(value))
        if op == "contains":
            return b.contains(column, value)
        if op == "contains_any":
            return _fold(b.or_, [b.contains(column, v) for v in value])
        return b.compare(op, column, value)


def _children(cond: Condition) -> list[Condition]:
    if isinstance(cond, All):
        return list(cond.all)
    if isinstance(cond, AnyOf):
        return list(cond.any)
    assert isinstance(cond, Count)
    return list(cond.count)


def _fold(fn: Any, items: Sequence[E]) -> E:
    out = items[0]
    for item in items[1:]:
        out = fn(out, item)
    return out


def _all_null(b: Backend[E], nodes: Sequence[E]) -> E:
    return _fold(b.and_, [b.is_null(n) for n in nodes])


# ---- instruments ------------------------------------------------------------------


def scoring_stages(
    b: Backend[E], content: Content, present: set[str]
) -> list[list[tuple[str, E]]]:
    """Instrument scores then flags, one stage after another (content order).

    Args:
        b: the backend.
        content: the loaded content.
        present: the columns the input has (supplied scores among them).

    Returns:
        Stages of (column, expression), to apply in order.
    """
    values = {k: p.value for k, p in content.parameters.items()}
    stages: list[list[tuple[str, E]]] = []
    for inst_id, inst in content.instruments.items():
        compiler = Compiler(b, scoped_values(values, inst_id))
        # One stage per score and per flag: each sees the ones before, as in
        # score_into, which updates the facts as it goes.
        for cs in inst.scores:
            stages += [[pair] for pair in _score(b, compiler, cs, present)]
        for flag in inst.file.flags:
            fact = f"{inst_id}.{flag.id}"
            supplied = _supplied(b, fact, "bool", present)
            stages.append([(fact, b.coalesce(compiler.condition(flag.when), supplied))])
    return stages


def _gate_value(b: Backend[E], cs: CompiledScore) -> E:
    value = cs.score.gate_value
    return b.null("float") if value is None else b.lit(float(value))


def _supplied(b: Backend[E], fact: str, dtype: str, present: set[str]) -> E:
    """A supplied instrument fact (scores float, bands str, flags bool), else null."""
    return b.col(fact) if fact in present else b.null(dtype)


def _score(
    b: Backend[E],
    compiler: Compiler[E],
    cs: CompiledScore,
    present: set[str],
) -> list[tuple[str, E]]:
    points = [
        b.when(
            [
                (b.compare("eq", b.col(item), v), b.lit(float(p)))
                for v, p in table.items()
            ],
            b.null("float"),
        )
        if table
        else b.null("float")
        for item, table in cs.points
    ]
    total = _fold(b.add, points)
    if cs.score.method == "mean":
        total = b.round2(b.div(total, len(cs.points)))
    if cs.score.gate is not None:
        gate = compiler.condition(cs.score.gate)
        total = b.when(
            [
                (b.not_(b.coalesce(gate, b.lit(True))), _gate_value(b, cs)),
                (b.is_true(gate), total),
            ],
            b.null("float"),
        )
    # The computed total is its own column: the bands below read it many times.
    raw = f"_raw_{cs.fact}"
    computed = b.col(raw)
    band = b.when(
        [
            (
                b.and_(
                    b.compare("gte", computed, band.minimum),
                    b.compare("lte", computed, band.maximum),
                ),
                b.lit(band.label),
            )
            for band in cs.bands
        ],
        b.null("str"),
    )
    supplied_band = _supplied(b, cs.band_fact, "str", present)
    return [
        (raw, total),
        (cs.fact, b.coalesce(computed, _supplied(b, cs.fact, "float", present))),
        (cs.band_fact, b.coalesce(band, supplied_band)),
    ]


# ---- rules, unknowns, incomplete domains, disposition ------------------------------


@dataclass(frozen=True)
class Outcome(Generic[E]):
    """The compiled outcome: helper stages, scalar outputs, and labelled lists."""

    stages: list[list[tuple[str, E]]]
    """Helper columns (every condition node, computed once), to add in order."""
    scalars: dict[str, E]
    """disposition."""
    lists: dict[str, list[tuple[str, E]]]
    """domains, rule_ids, unknown_facts: each label is in the list where its
    expression is true (in this order). Each engine assembles lists its fastest way."""


def outcome_exprs(b: Backend[E], content: Content) -> Outcome[E]:
    """The outputs, over a frame whose instrument facts are already scored."""
    values = {k: p.value for k, p in content.parameters.items()}
    compiler = Compiler(b, values, materialize=True)
    rules = []
    for cr in content.rules:
        expr, paths = compiler.tree(cr.rule.when)
        rules.append((cr, b.is_true(expr), b.is_null(expr), paths))
    clinic = {i.id for i in content.form.items.values() if i.audience == "clinic"}
    mattered: dict[str, list[E]] = {}
    domain_rules: dict[str, list[tuple[Any, E, E, list[Path[E]]]]] = {}
    for cr, fired, unknown, paths in rules:
        domain_rules.setdefault(cr.rule.domain, []).append((cr, fired, unknown, paths))
        if cr.rule.level != Level.info:
            for p in paths:
                mattered.setdefault(p.fact, []).append(_all_null(b, p.nodes))
    # Per domain, as columns of their own (each is read several times): the most
    # severe fired finding, then the incomplete finding's severity; then the most
    # severe of all.
    tops = [
        (
            f"_top_{i}",
            b.greatest(
                [b.when([(f, b.lit(cr.severity))], b.lit(0)) for cr, f, _, _ in members]
            ),
        )
        for i, members in enumerate(domain_rules.values())
    ]
    incs = [
        (
            f"_inc_{i}",
            _incomplete(b, content, members, b.col(f"_top_{i}"), clinic),
        )
        for i, members in enumerate(domain_rules.values())
    ]
    worst = b.greatest([b.col(name) for name, _ in [*tops, *incs]])
    stages = [*compiler.stages, tops, incs, [("_severity", worst)]]
    incomplete = {d: b.col(f"_inc_{i}") for i, d in enumerate(domain_rules)}
    severity = b.col("_severity")
    flagged = [
        (
            d,
            b.or_(
                _fold(
                    b.or_,
                    [f for cr, f, _, _ in members if cr.rule.level != Level.info]
                    or [b.lit(False)],
                ),
                b.compare("gt", incomplete[d], 0),
            ),
        )
        for d, members in domain_rules.items()
    ]
    order = {fid: i for i, fid in enumerate(content.form.vocabulary.facts)}
    domain_order = {d: i for i, d in enumerate(content.domains)}
    flagged.sort(key=lambda kv: domain_order.get(kv[0], 1 << 30))
    disposition = b.when(
        [
            (b.compare("eq", severity, s), b.lit(name))
            for s, name in sorted(DISPOSITION_BY_SEVERITY.items())
        ],
        b.null("str"),
    )
    lists = {
        "domains": flagged,
        "rule_ids": [(cr.rule.id, f) for cr, f, _, _ in rules],
        "unknown_facts": [
            (fact, _fold(b.or_, conds))
            for fact, conds in sorted(
                mattered.items(), key=lambda kv: order.get(kv[0], 1 << 30)
            )
        ],
    }
    return Outcome(stages, {"disposition": disposition}, lists)


def _incomplete(
    b: Backend[E],
    content: Content,
    members: list[tuple[Any, E, E, list[Path[E]]]],
    top: E,
    clinic: set[str],
) -> E:
    """The severity of a domain's incomplete finding (0 when there is none).

    ``top`` is the severity of the domain's most severe fired finding (0 if none).
    """
    candidates = []
    for cr, _, unknown, paths in members:
        person = [_all_null(b, p.nodes) for p in paths if p.fact not in clinic]
        if cr.severity <= 0 or not person:
            continue
        cond = b.and_(
            b.and_(unknown, b.compare("lt", top, cr.severity)), _fold(b.or_, person)
        )
        candidates.append(b.when([(cond, b.lit(cr.severity))], b.lit(0)))
    if not candidates:
        return b.lit(0)
    cap = SEVERITY[content.incomplete.level]
    return b.least([b.greatest(candidates), b.lit(cap)])


def problem_expr(b: Backend[E], columns: Mapping[str, Column]) -> E:
    """Per row, what is wrong with its values (a list of messages; empty when fine).

    Out-of-range numbers and codes that the questionnaire does not allow are flagged,
    never coerced; such a row is not screened.
    """
    return b.labels(_problem_checks(b, columns))


def has_problem_expr(b: Backend[E], columns: Mapping[str, Column]) -> E:
    """Per row, whether :func:`problem_expr` would list anything (never null)."""
    checks = [b.is_true(bad) for _, bad in _problem_checks(b, columns)]
    return _fold(b.or_, checks) if checks else b.lit(False)


def _problem_checks(
    b: Backend[E], columns: Mapping[str, Column]
) -> list[tuple[str, E]]:
    checks = []
    for name, column in columns.items():
        bad = _bad_value(b, column)
        if bad is not None:
            checks.append((f"{name}: {_expected(column)}", bad))
    return checks


def _bad_value(b: Backend[E], column: Column) -> E | None:
    spec, value = column.spec, b.col(column.fact)
    if column.dtype == "list[str]":
        if not spec.codes:
            return None
        # More elements than there are codes: some repeat (the Polars engine's
        # code counts are only wide enough for as many as there are codes).
        too_long = b.compare("gt", b.list_len(value), len(spec.codes))
        return b.or_(b.list_has_other(value, [str(c) for c in spec.codes]), too_long)
    if spec.codes and column.dtype != "bool":
        return b.not_(b.is_in(value, list(spec.codes)))
    tests = []
    if spec.minimum is not None:
        tests.append(b.compare("lt", value, spec.minimum))
    if spec.maximum is not None:
        tests.append(b.compare("gt", value, spec.maximum))
    return _fold(b.or_, tests) if tests else None


def _expected(column: Column) -> str:
    spec = column.spec
    if spec.codes and column.dtype == "list[str]":
        codes = ", ".join(map(str, spec.codes))
        return f"expected at most {len(spec.codes)} codes from {codes}"
    if spec.codes:
        return "expected one of " + ", ".join(map(str, spec.codes))
    return (
        f"expected a number from {spec.minimum:g} to {spec.maximum:g}"
        if (spec.minimum is not None and spec.maximum is not None)
        else "out of range"
    )


def plan(
    b: Backend[E], content: Content, columns: Mapping[str, Column], present: set[str]
) -> tuple[list[list[tuple[str, E]]], dict[str, E]]:
    """Everything an engine runs: stages of columns to add in order, then the outputs.

    Args:
        b: the backend.
        content: the loaded content.
        columns: the facts table's columns.
        present: the columns the input has (absent optional ones become nulls).

    Returns:
        The stages, and the output columns (disposition, domains, rule_ids,
        unknown_facts) by name.
    """
    absent = [(n, b.null(c.dtype)) for n, c in columns.items() if n not in present]
    outcome = outcome_exprs(b, content)
    stages = [absent, *scoring_stages(b, content, present), *outcome.stages]
    lists = {name: b.labels(items) for name, items in outcome.lists.items()}
    return [s for s in stages if s], {**outcome.scalars, **lists}
