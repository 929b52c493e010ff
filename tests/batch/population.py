"""Fact rows for the engine tests: random, all unknown, and at every threshold."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import polars as pl

from ketascreen.batch.polars_backend import DTYPES
from ketascreen.batch.schema import PERSON, Column, fact_columns
from ketascreen.intake.answers import FactSet
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    FactTest,
    Not,
    ParamRef,
)
from ketascreen.rules.engine import evaluate
from ketascreen.rules.loader import Content

SCREENING_DATE = date(2026, 11, 28)


def random_value(column: Column, rng: random.Random, unknown: float = 0.3) -> Any:
    """A valid random value for a column (or None, unknown)."""
    if rng.random() < unknown:
        return None
    spec = column.spec
    if column.dtype == "list[str]":
        codes = [str(c) for c in spec.codes]
        return rng.sample(codes, rng.randint(0, min(3, len(codes))))
    if column.dtype == "bool":
        return rng.random() < 0.5
    if spec.codes:
        return rng.choice(spec.codes)
    low = spec.minimum if spec.minimum is not None else 0.0
    high = spec.maximum if spec.maximum is not None else 200.0
    value = rng.uniform(low, min(high, 250.0))
    return float(round(value)) if rng.random() < 0.5 else value


def thresholds(content: Content) -> dict[str, list[float]]:
    """For each numeric fact a rule compares, the values at and beside each threshold."""
    values = {k: p.value for k, p in content.parameters.items()}
    found: dict[str, list[float]] = {}

    def walk(cond: Condition) -> None:
        if isinstance(cond, FactTest):
            for op in ("gte", "gt", "lte", "lt", "eq"):
                operand = cond.operand(op)
                if isinstance(operand, ParamRef):
                    operand = values[operand.param]
                if isinstance(operand, int | float) and not isinstance(operand, bool):
                    found.setdefault(cond.fact, []).extend(
                        [
                            operand - 1,
                            operand - 0.5,
                            operand,
                            operand + 0.5,
                            operand + 1,
                        ]
                    )
        elif isinstance(cond, Not):
            walk(cond.not_)
        else:
            parts = (
                cond.all
                if isinstance(cond, All)
                else cond.any
                if isinstance(cond, AnyOf)
                else cond.count
            )
            for part in parts:
                walk(part)

    for cr in content.rules:
        walk(cr.rule.when)
    return found


def rows(content: Content, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Random rows, plus all-unknown rows and rows sitting on thresholds."""
    rng = random.Random(seed)
    columns = {n: c for n, c in fact_columns(content).items() if c.required}
    edges = thresholds(content)
    out = []
    for i in range(count):
        kind = i % 10
        row: dict[str, Any] = {PERSON: f"p{i}"}
        for name, column in columns.items():
            row[name] = None if kind == 0 else random_value(column, rng)
            if kind in (1, 2) and name in edges and column.dtype in ("int", "float"):
                value = rng.choice(edges[name])
                low, high = column.spec.minimum, column.spec.maximum
                if (low is None or value >= low) and (high is None or value <= high):
                    row[name] = (
                        int(value)
                        if column.dtype == "int" and value == int(value)
                        else (None if column.dtype == "int" else value)
                    )
        out.append(row)
    return out


def frame(content: Content, data: list[dict[str, Any]]) -> pl.DataFrame:
    """The rows as a typed facts table."""
    columns = {n: c for n, c in fact_columns(content).items() if c.required}
    schema = {PERSON: pl.String(), **{n: DTYPES[c.dtype] for n, c in columns.items()}}
    return pl.DataFrame(data, schema=schema)


def reference(content: Content, row: dict[str, Any]) -> tuple[Any, ...]:
    """What the single-person engine says: disposition, domains, rules, unknowns."""
    facts = {
        k: frozenset(v) if isinstance(v, list) else v
        for k, v in row.items()
        if k != PERSON and v is not None
    }
    result = evaluate(content, FactSet(facts, {}), SCREENING_DATE)
    return (
        result.disposition.value,
        sorted(result.domains),
        sorted(f.rule_id for f in result.findings if not f.unresolved),
        sorted(u.fact for u in result.unknowns),
    )


def outcome(row: dict[str, Any]) -> tuple[Any, ...]:
    """An engine's output row in the same shape as :func:`reference`."""
    return (
        row["disposition"],
        sorted(row["domains"]),
        sorted(row["rule_ids"]),
        sorted(row["unknown_facts"]),
    )
