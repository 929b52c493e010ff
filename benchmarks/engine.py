"""Benchmark: full screenings per second, against an off-the-shelf rule engine.

Not a test. Runs the same ruleset on the same inputs in the same run:

* ketascreen ``screen(answers)`` end to end: validation, instrument scoring, every
  rule with three-valued logic, evidence, unknowns, routes and the frozen result;
* ketascreen rules only: the compiled rules on already scored facts;
* json-logic-qubit: the same conditions translated to JsonLogic and evaluated on the
  same facts (rules only, two-valued logic: strictly less work than ours).

Two populations: the golden cases (realistic people, ~60 answers each) and random
people (every item answered at random with 30-100 % fill, a stress set).
Prints a table, then one JSON line: ``p50_us`` (full screening, realistic set) and
``ratio_vs_peer`` (rules only, like for like), with the other figures beside them.
Targets (issue 2): p50 <= 50 us per full screening, >= 20x the peer.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml
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


def timed(fn: Any, inputs: list[Any], rounds: int) -> list[float]:
    """Microseconds per call, one sample per input per round."""
    samples: list[float] = []
    for _ in range(rounds):
        for x in inputs:
            t0 = time.perf_counter_ns()
            fn(x)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--people", type=int, default=2000, help="random people (stress set)"
    )
    parser.add_argument("--rounds", type=int, default=20, help="passes over each set")
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds (under a minute)"
    )
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    people = 300 if args.quick else args.people

    content = get_content()
    golden = sorted(Path(__file__).parents[1].glob("tests/golden/*.yaml"))
    realistic = [
        yaml.safe_load(p.read_text(encoding="utf-8"))["answers"] for p in golden
    ]
    rng = random.Random(7)
    stress = [
        random_answers(content, rng, rng.choice([0.3, 0.7, 1.0])) for _ in range(people)
    ]
    params = {k: p.value for k, p in content.parameters.items()}
    peer_rules = [to_jsonlogic(cr.rule.when, params) for cr in content.rules]

    def facts_of(answers: dict[str, Any]) -> dict[str, Any]:
        fs = score_facts(content, facts_from_answers(content.form, answers, TODAY))
        return fs.values

    def peer_input(values: dict[str, Any]) -> dict[str, Any]:
        return {
            k: sorted(v) if isinstance(v, frozenset) else v for k, v in values.items()
        }

    def ours_full(answers: dict[str, Any]) -> None:
        screen(answers, content=content, screening_date=TODAY)

    def ours_rules(values: dict[str, Any]) -> None:
        content.evaluate_all(values)

    def peer_rules_only(values: dict[str, Any]) -> None:
        for rule in peer_rules:
            jsonLogic(rule, values)

    rows = []
    for label, answers in (
        ("realistic (golden cases)", realistic),
        ("random stress", stress),
    ):
        values = [facts_of(a) for a in answers]
        ours_full(answers[0])  # load caches
        rows.append(
            (label, "ketascreen screen() end to end", timed(ours_full, answers, rounds))
        )
        rows.append((label, "ketascreen rules only", timed(ours_rules, values, rounds)))
        peer_values = [peer_input(v) for v in values]
        rows.append(
            (
                label,
                "json-logic-qubit rules only",
                timed(peer_rules_only, peer_values, 1),
            )
        )

    print(
        f"{len(content.rules)} rules; {len(realistic)} realistic and {len(stress)} random people"
    )
    print(f"{'set':<26}{'engine':<34}{'p50 us':>9}{'p99 us':>9}{'per s':>10}")
    p50 = {}
    for label, engine, samples in rows:
        med = statistics.median(samples)
        p50[(label, engine)] = med
        print(
            f"{label:<26}{engine:<34}{med:>9.1f}{percentile(samples, 0.99):>9.1f}{1e6 / med:>10,.0f}"
        )
    real = "realistic (golden cases)"
    full = p50[(real, "ketascreen screen() end to end")]
    ours_r = p50[(real, "ketascreen rules only")]
    peer = p50[(real, "json-logic-qubit rules only")]
    print(
        f"rules only: {peer / ours_r:.1f}x the peer (target >= 20x); "
        f"full screening {full:.1f} us p50 (target <= 50 us); "
        f"full screening vs peer rules only: {peer / full:.1f}x"
    )
    print(
        json.dumps(
            {
                "p50_us": round(full, 2),
                "rules_p50_us": round(ours_r, 2),
                "peer_p50_us": round(peer, 2),
                "ratio_vs_peer": round(peer / ours_r, 2),
                "ratio_full_vs_peer": round(peer / full, 2),
                "stress_p50_us": round(
                    p50[("random stress", "ketascreen screen() end to end")], 2
                ),
                "rules": len(content.rules),
            }
        )
    )


if __name__ == "__main__":
    main()
