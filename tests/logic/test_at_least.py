"""Partial multi-choice values (AtLeast): a code not listed is unknown, not false."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from ketascreen.domain.facts import AtLeast
from ketascreen.logic.codegen import DECODE, compile_all
from ketascreen.logic.compiler import compile_condition
from ketascreen.logic.schema import Condition

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Condition)
CONDITIONS = [
    {"fact": "heart", "contains": "high_bp"},
    {"fact": "heart", "contains": "aneurysm"},
    {"fact": "heart", "contains_any": ["aneurysm", "avm"]},
    {"fact": "heart", "contains_any": ["high_bp", "avm"]},
    {"not": {"fact": "heart", "contains": "aneurysm"}},
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a complete answer: unlisted codes are false
        (frozenset({"high_bp"}), [True, False, False, True, True]),
        # a partial one (from a note or a record): unlisted codes are unknown
        (AtLeast({"high_bp"}), [True, None, None, True, None]),
        (None, [None, None, None, None, None]),
    ],
)
def test_closures_and_generated_code_agree(value: Any, expected: list[Any]) -> None:
    facts = {} if value is None else {"heart": value}
    conditions = [_ADAPTER.validate_python(c) for c in CONDITIONS]
    closures = [compile_condition(c, {})(facts) for c in conditions]
    generated = [DECODE[code] for code in compile_all(conditions, {})(facts)]
    assert closures == expected
    assert generated == expected


def test_a_partial_list_leaves_a_domain_incomplete() -> None:
    from datetime import date

    from ketascreen.screening import screen

    def cardio(heart: Any) -> set[str]:
        result = screen(
            {"heart_conditions": heart, "htn_controlled": "yes"},
            screening_date=date(2026, 6, 15),
        )
        return {f.rule_id for f in result.findings if f.domain == "cardiovascular"}

    # ticking only high blood pressure says there is no aneurysm ...
    assert "cardiovascular.incomplete" not in cardio(["high_bp"])
    # ... a note that mentions HTN does not
    assert "cardiovascular.incomplete" in cardio(AtLeast({"high_bp"}))


def test_a_partial_list_cannot_hold_none_of_these() -> None:
    from datetime import date

    from ketascreen.errors import AnswersError
    from ketascreen.screening import screen

    with pytest.raises(AnswersError, match="partial list"):
        screen(
            {"heart_conditions": AtLeast({"none"})}, screening_date=date(2026, 6, 15)
        )
