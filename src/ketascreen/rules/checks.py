"""Static checks on conditions against the fact vocabulary.

* every fact a condition names exists;
* each operator suits the fact's kind (``contains`` on multi-choice, ``gte`` on
  numbers, ``eq`` on codes);
* every code a condition compares with is a real option of that fact, so a typo such
  as ``eq: "yse"`` (a rule that could never fire) fails at load time;
* :func:`find_witness` searches for facts that make a condition true, which is how
  ``ketascreen rules`` shows that no rule is dead.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from ketascreen.domain.facts import FactSpec, Vocabulary
from ketascreen.domain.types import FactKind
from ketascreen.errors import Problem
from ketascreen.logic.compiler import Evaluator
from ketascreen.logic.schema import All, AnyOf, Condition, FactTest, Not

_NUMERIC = {FactKind.number, FactKind.duration}
_CODED = {FactKind.yes_no, FactKind.yes_no_unsure, FactKind.single, FactKind.boolean}


def check_rule_facts(where: str, cond: Condition, vocab: Vocabulary) -> list[Problem]:
    """Check that a condition's facts exist and are compared sensibly.

    Args:
        where: the rule id (for messages).
        cond: the condition.
        vocab: the fact vocabulary.

    Returns:
        Problems found (empty when all is well).
    """
    return [Problem(f"rule {where}", msg) for msg in _walk(cond, vocab)]


def _walk(cond: Condition, vocab: Vocabulary) -> Iterator[str]:
    if isinstance(cond, FactTest):
        yield from _check_test(cond, vocab)
        return
    parts: list[Condition]
    if isinstance(cond, All):
        parts = list(cond.all)
    elif isinstance(cond, AnyOf):
        parts = list(cond.any)
    elif isinstance(cond, Not):
        parts = [cond.not_]
    else:
        parts = list(cond.count)
    for part in parts:
        yield from _walk(part, vocab)


def _check_test(test: FactTest, vocab: Vocabulary) -> Iterator[str]:
    spec = vocab.facts.get(test.fact)
    if spec is None:
        yield f"unknown fact {test.fact!r}"
        return
    op = test.op
    if op in ("known", "unknown"):
        return
    if op in ("gte", "gt", "lte", "lt") and spec.kind not in _NUMERIC:
        yield f"{test.fact} is {spec.kind.value}; {op} needs a number fact"
    elif op in ("contains", "contains_any"):
        if spec.kind != FactKind.multi:
            yield f"{test.fact} is {spec.kind.value}; {op} needs a multi-choice fact"
        else:
            values = (
                [test.contains] if op == "contains" else list(test.contains_any or [])
            )
            yield from _bad_codes(test.fact, spec, values)
    elif op in ("eq", "ne", "in"):
        if spec.kind == FactKind.multi:
            yield f"{test.fact} is multi-choice; use contains or contains_any"
        elif spec.kind in _CODED or spec.codes:
            operand = test.operand(op)
            yield from _bad_codes(test.fact, spec, operand if op == "in" else [operand])


def _bad_codes(fact: str, spec: FactSpec, values: list[Any]) -> Iterator[str]:
    allowed = list(spec.codes)
    for value in values:
        if not any(value == code and type(value) is type(code) for code in allowed):
            yield f"{fact}: {value!r} is not one of its values {allowed}"


def candidate_values(spec: FactSpec, thresholds: list[float]) -> list[Any]:
    """Values worth trying for a fact when searching for a witness."""
    if spec.kind == FactKind.multi:
        codes = [str(c) for c in spec.codes]
        singles = [frozenset([c]) for c in codes]
        pairs = [frozenset(p) for p in itertools.combinations(codes, 2)]
        return [*singles, *pairs]
    if spec.codes:
        return list(spec.codes)
    if spec.kind in _NUMERIC:
        near = {t + d for t in thresholds for d in (-1.0, -0.5, 0.0, 0.5, 1.0)}
        if spec.minimum is not None:
            near.add(spec.minimum)
        if spec.maximum is not None:
            near.add(spec.maximum)
        return sorted(near) or [0.0, 1.0]
    return ["text"]


def _leaves(evaluator: Evaluator) -> Iterator[Evaluator]:
    if evaluator.kind == "fact":
        yield evaluator
    for child in evaluator.children:
        yield from _leaves(child)


def numbers_in(evaluator: Evaluator) -> list[float]:
    """The numbers a compiled condition compares with (thresholds, listed values)."""
    found: list[float] = []
    for leaf in _leaves(evaluator):
        values = leaf.operand if isinstance(leaf.operand, list) else [leaf.operand]
        found += [
            float(v)
            for v in values
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
    return found


def _targeted(
    evaluator: Evaluator, vocab: Vocabulary, thresholds: list[float]
) -> dict[str, Any]:
    """For each fact, the first candidate value that makes its first test true."""
    assignment: dict[str, Any] = {}
    for leaf in _leaves(evaluator):
        if leaf.fact in assignment or leaf.text.endswith(" is unknown"):
            continue
        for value in candidate_values(vocab.facts[leaf.fact], thresholds):
            if leaf({leaf.fact: value}) is True:
                assignment[leaf.fact] = value
                break
    return assignment


def find_witness(
    evaluator: Evaluator, vocab: Vocabulary, thresholds: list[float], tries: int = 4000
) -> dict[str, Any] | None:
    """Search for facts that make a condition true.

    Args:
        evaluator: the compiled condition.
        vocab: the vocabulary (for each fact's possible values).
        thresholds: numbers appearing in the condition (values near them are tried).
        tries: random assignments to try after the exhaustive pass.

    Returns:
        A fact assignment that makes the condition true, or ``None`` if none was found.
    """
    thresholds = [*thresholds, *numbers_in(evaluator)]
    targeted = _targeted(evaluator, vocab, thresholds)
    if evaluator(targeted) is True:
        return targeted
    facts = list(evaluator.facts)
    choices = [[None, *candidate_values(vocab.facts[f], thresholds)] for f in facts]
    space = 1
    for c in choices:
        space *= len(c)
    if space <= tries:
        for combo in itertools.product(*choices):
            assignment = {
                f: v for f, v in zip(facts, combo, strict=True) if v is not None
            }
            if evaluator(assignment) is True:
                return assignment
        return None
    rng = random.Random(0)  # noqa: S311 - deterministic search  # nosec B311
    for _ in range(tries):
        assignment = {}
        for f, c in zip(facts, choices, strict=True):
            v = rng.choice(c)
            if v is not None:
                assignment[f] = v
        if evaluator(assignment) is True:
            return assignment
    return None
