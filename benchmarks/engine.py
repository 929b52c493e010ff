"""Benchmark: full screenings per second, against an off-the-shelf rule engine.

Not a test. Runs the same ruleset on the same inputs in the same run:

* ketascreen: ``screen(answers)`` end to end (validation, scoring, every rule with
  three-valued logic, evidence, routes, the frozen result);
* json-logic-qubit: the same rule conditions translated to JsonLogic and evaluated per
  rule on the same facts (rules only: no validation, scoring or result building, and
  two-valued logic, so it does strictly less work).

Prints a table, then one JSON line with ``p50_us`` and ``ratio_vs_peer``.
Targets (issue 2): p50 <= 50 us per full screening, >= 20x the peer.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import date
from typing import Any

from json_logic import jsonLogic

from ketascreen.intake.answers import facts_from_answers
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)
from ketascreen.rules.engine import score_facts
from ketascreen.screening import get_content, screen

TODAY = date(2026, 11, 27)


def random_answers(content: Any, rng: random.Random, fill: float) -> dict[str, Any]:
    """Answers for a random person; each item answered with probability ``fill``."""
    answers: dict[str, Any] = {}
    for item in content.form.items.values():
        if rng.random() > fill:
            continue
        kind = item.kind.value
        if kind == "yes_no":
            answers[item.id] = rng.choice(["yes", "no", "no", "no"])
        elif kind == "yes_no_unsure":
            answers[item.id] = rng.choice(["yes", "no", "no", "no", "unsure"])
        elif kind == "multi":
            codes = [c for c in item.codes if c != "none"]
            answers[item.id] = (
                rng.sample(codes, k=rng.randint(0, 2)) or ["none"]
                if "none" in item.codes
                else [codes[0]]
            )
        elif item.choices:
            answers[item.id] = rng.choice(item.codes)
        elif kind in ("number", "duration"):
            value = rng.uniform(item.minimum, item.maximum)
            answers[item.id] = round(value) if item.integer else round(value, 1)
        elif kind == "date":
            answers[item.id] = (
                f"{rng.randint(2000, 2025)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            )
        else:
            answers[item.id] = "some words"
    return answers


def to_jsonlogic(cond: Condition, params: dict[str, float]) -> Any:
    """Translate one of our conditions to JsonLogic (two-valued)."""
    if isinstance(cond, All):
        return {"and": [to_jsonlogic(c, params) for c in cond.all]}
    if isinstance(cond, AnyOf):
        return {"or": [to_jsonlogic(c, params) for c in cond.any]}
    if isinstance(cond, Not):
        return {"!": [to_jsonlogic(cond.not_, params)]}
    if isinstance(cond, Count):
        need = params[cond.gte.param] if isinstance(cond.gte, ParamRef) else cond.gte
        parts = [{"if": [to_jsonlogic(c, params), 1, 0]} for c in cond.count]
        return {">=": [{"+": parts}, need]}
    assert isinstance(cond, FactTest)
    var = {"var": cond.fact}
    op = cond.op
    value = cond.operand(op)
    if isinstance(value, ParamRef):
        value = params[value.param]
    table = {"eq": "==", "ne": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
    if op in table:
        return {table[op]: [var, value]}
    if op == "in":
        return {"in": [var, value]}
    if op == "contains":
        return {"in": [value, var]}
    if op == "contains_any":
        return {"or": [{"in": [v, var]} for v in value]}
    if op == "known":
        return {"!!": [{"!=": [var, None]}]}
    return {"==": [var, None]}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--people", type=int, default=2000, help="distinct random people"
    )
    parser.add_argument("--rounds", type=int, default=10, help="passes over the people")
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds (under a minute)"
    )
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    people = 500 if args.quick else args.people

    content = get_content()
    rng = random.Random(7)
    batch = [
        random_answers(content, rng, rng.choice([0.3, 0.7, 1.0])) for _ in range(people)
    ]
    params = {k: p.value for k, p in content.parameters.items()}
    peer_rules = [to_jsonlogic(cr.rule.when, params) for cr in content.rules]
    facts = []
    for answers in batch:
        fs = score_facts(content, facts_from_answers(content.form, answers, TODAY))
        facts.append(
            {
                k: sorted(v) if isinstance(v, frozenset) else v
                for k, v in fs.values.items()
            }
        )

    ours: list[float] = []
    for _ in range(rounds):
        for answers in batch:
            t0 = time.perf_counter_ns()
            screen(answers, content=content, screening_date=TODAY)
            ours.append((time.perf_counter_ns() - t0) / 1000)
    peer: list[float] = []
    for _ in range(max(1, rounds // 2)):
        for f in facts:
            t0 = time.perf_counter_ns()
            for rule in peer_rules:
                jsonLogic(rule, f)
            peer.append((time.perf_counter_ns() - t0) / 1000)

    ours_p50, peer_p50 = statistics.median(ours), statistics.median(peer)
    print(f"{len(content.rules)} rules, {people} people, {len(ours)} screenings timed")
    print(f"{'engine':<34}{'p50 us':>10}{'p99 us':>10}{'per s':>12}")
    for name, s in (
        ("ketascreen screen() end to end", ours),
        ("json-logic-qubit, rules only", peer),
    ):
        p50 = statistics.median(s)
        print(f"{name:<34}{p50:>10.1f}{percentile(s, 0.99):>10.1f}{1e6 / p50:>12,.0f}")
    ratio = peer_p50 / ours_p50
    print(f"ratio vs peer: {ratio:.1f}x (target >= 20x); p50 target <= 50 us")
    print(
        json.dumps(
            {
                "p50_us": round(ours_p50, 2),
                "p99_us": round(percentile(ours, 0.99), 2),
                "peer_p50_us": round(peer_p50, 2),
                "ratio_vs_peer": round(ratio, 2),
                "screenings_per_s": round(1e6 / ours_p50),
                "rules": len(content.rules),
            }
        )
    )


if __name__ == "__main__":
    main()
