"""count with a literal or {param} threshold: the generated function equals the closures."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from tests.factories import clinic_layer, parameter, rule
from tests.helpers import SCREENING_DATE, fired

from ketascreen import screen
from ketascreen.logic.codegen import DECODE, compile_all
from ketascreen.logic.compiler import compile_condition
from ketascreen.logic.schema import Condition
from ketascreen.rules.loader import load_content

ADAPTER: TypeAdapter[Condition] = TypeAdapter(Condition)
PARTS = [{"fact": f, "eq": "yes"} for f in ("a", "b", "c")]
STATES = ("yes", "no", None)  # true, false, unknown for each part


def fact_sets(names: list[str]) -> list[dict[str, Any]]:
    """Every mix of true, false and unknown over the named facts."""
    return [
        {n: v for n, v in zip(names, combo, strict=True) if v is not None}
        for combo in itertools.product(STATES, repeat=len(names))
    ]


def expected(facts: dict[str, Any], names: list[str], need: int) -> bool | None:
    """Kleene 'at least need of these are yes', worked out by hand."""
    true = sum(facts.get(n) == "yes" for n in names)
    unknown = sum(n not in facts for n in names)
    if true >= need:
        return True
    if true + unknown < need:
        return False
    return None


def both(raw: dict[str, Any], params: dict[str, float], facts: dict[str, Any]) -> Any:
    """The outcome on the generated path and on the closure path."""
    cond = ADAPTER.validate_python(raw)
    return DECODE[compile_all([cond], params)(facts)[0]], compile_condition(
        cond, params
    )(facts)


class TestCountWithParameter:
    """count's threshold may be a named parameter."""

    @pytest.mark.parametrize("need", [1, 2, 3])
    def test_truth_table(self, need: int) -> None:
        """For every mix of answers, both paths give Kleene 'at least N true'."""
        raw = {"count": PARTS, "gte": {"param": "need"}}
        for facts in fact_sets(["a", "b", "c"]):
            generated, closure = both(raw, {"need": need}, facts)
            want = expected(facts, ["a", "b", "c"], need)
            assert generated is want, facts
            assert closure is want, facts

    def test_value_comes_from_the_parameter(self) -> None:
        """The same condition with a different parameter value decides differently."""
        raw = {"count": PARTS, "gte": {"param": "need"}}
        facts = {"a": "yes", "b": "yes", "c": "no"}
        assert both(raw, {"need": 2}, facts) == (True, True)
        assert both(raw, {"need": 3}, facts) == (False, False)

    def test_many_conditions_keep_their_order(self) -> None:
        """Several count conditions in one function return one outcome each, in order."""
        conds = [
            ADAPTER.validate_python({"count": PARTS, "gte": {"param": p}})
            for p in ("one", "two", "three")
        ]
        fn = compile_all(conds, {"one": 1, "two": 2, "three": 3})
        assert [DECODE[c] for c in fn({"a": "yes", "b": "yes"})] == [True, True, None]

    def test_nested_in_not_and_any(self) -> None:
        """A parameterised count inside not and any agrees on both paths."""
        raw = {
            "any": [
                {"not": {"count": PARTS, "gte": {"param": "need"}}},
                {"fact": "d", "eq": "yes"},
            ]
        }
        for facts in fact_sets(["a", "b", "c", "d"]):
            generated, closure = both(raw, {"need": 2}, facts)
            assert generated is closure, facts

    def test_fractional_parameter_agrees(self) -> None:
        """A fractional threshold is read the same way on both paths."""
        raw = {"count": PARTS, "gte": {"param": "need"}}
        for facts in fact_sets(["a", "b", "c"]):
            generated, closure = both(raw, {"need": 1.5}, facts)
            assert generated is closure, facts


class TestCountEdges:
    """Thresholds at the edges of what count allows."""

    @pytest.mark.parametrize(
        "gte", [0, {"param": "need"}], ids=["literal", "parameter"]
    )
    def test_zero_needed_is_always_true(self, gte: Any) -> None:
        """'At least 0 of one part' is true on both paths, whatever the part is."""
        raw = {"count": [{"fact": "a", "eq": "yes"}], "gte": gte}
        for facts in fact_sets(["a"]):
            assert both(raw, {"need": 0}, facts) == (True, True), facts

    def test_more_needed_than_parts(self) -> None:
        """Needing more parts than there are is false once nothing is unknown."""
        raw = {"count": PARTS[:2], "gte": 3}
        for facts in fact_sets(["a", "b"]):
            assert both(raw, {}, facts) == (False, False), facts


class TestCountInAClinicRule:
    """A clinic rule with a count over its own parameter, through the real loader."""

    def test_rule_fires_at_the_clinic_threshold(self, tmp_path: Path) -> None:
        """Two of three bipolar signals fire the clinic rule; one does not."""
        when = {
            "count": [
                {"fact": "mania_ever", "eq": "yes"},
                {"fact": "bipolar_dx", "eq": "yes"},
                {"fact": "family_bipolar", "eq": "yes"},
            ],
            "gte": {"param": "clinic_bipolar_signals"},
        }
        path = clinic_layer(
            tmp_path,
            parameters={"clinic_bipolar_signals": parameter(2)},
            rules=[rule("mood.clinic_signals", when, level="info")],
        )
        content = load_content(path)
        cr = next(c for c in content.rules if c.rule.id == "mood.clinic_signals")
        index = content.rules.index(cr)
        for facts in fact_sets(["mania_ever", "bipolar_dx", "family_bipolar"]):
            assert DECODE[content.evaluate_all(facts)[index]] is cr.when(facts)

        def screened(answers: dict[str, str]) -> set[str]:
            return fired(
                screen(answers, content=content, screening_date=SCREENING_DATE)
            )

        assert "mood.clinic_signals" in screened(
            {"mania_ever": "no", "bipolar_dx": "yes", "family_bipolar": "yes"}
        )
        assert "mood.clinic_signals" not in screened(
            {"mania_ever": "no", "bipolar_dx": "no", "family_bipolar": "yes"}
        )
