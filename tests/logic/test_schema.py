"""What a condition reads: its facts and its named parameters."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from ketascreen.logic.schema import Condition, facts_in, params_in

ADAPTER: TypeAdapter[Condition] = TypeAdapter(Condition)


def cond(raw: dict[str, Any]) -> Condition:
    return ADAPTER.validate_python(raw)


NESTED = cond(
    {
        "any": [
            {"fact": "a", "lt": {"param": "p_any"}},
            {
                "count": [
                    {"fact": "b", "gt": {"param": "p_count_part"}},
                    {"not": {"fact": "c", "lte": {"param": "p_not"}}},
                    {"fact": "a", "eq": 3},
                ],
                "gte": {"param": "p_count_need"},
            },
            {"all": [{"fact": "d", "gte": 1}, {"fact": "e", "unknown": True}]},
        ]
    }
)


class TestFactsIn:
    """facts_in lists every fact a condition reads, once, in order."""

    def test_through_any_count_not_and_all(self) -> None:
        """Facts inside any, count, not and all are all found, first mention first."""
        assert facts_in(NESTED) == ["a", "b", "c", "d", "e"]

    def test_count_parts(self) -> None:
        """A count lists the facts of each part."""
        raw = {"count": [{"fact": "x", "eq": 1}, {"fact": "y", "eq": 1}], "gte": 1}
        assert facts_in(cond(raw)) == ["x", "y"]


class TestParamsIn:
    """params_in lists every parameter a condition refers to."""

    def test_through_any_count_not_and_all(self) -> None:
        """Parameters in any parts, count parts, count thresholds and under not are found."""
        assert params_in(NESTED) == ["p_any", "p_count_need", "p_count_part", "p_not"]

    @pytest.mark.parametrize("op", ["gte", "gt", "lte", "lt"])
    def test_every_numeric_operator(self, op: str) -> None:
        """Each ordering operator may take a parameter."""
        assert params_in(cond({"fact": "x", op: {"param": "limit"}})) == ["limit"]

    def test_literal_numbers_are_not_parameters(self) -> None:
        """Plain numbers, a literal count threshold and codes name no parameter."""
        raw = {
            "count": [{"fact": "x", "gte": 3}, {"fact": "y", "eq": "yes"}],
            "gte": 1,
        }
        assert params_in(cond(raw)) == []

    def test_repeats_are_kept(self) -> None:
        """A parameter used twice is listed twice (callers decide about repeats)."""
        raw = {
            "all": [
                {"fact": "x", "gte": {"param": "p"}},
                {"fact": "y", "lt": {"param": "p"}},
            ]
        }
        assert params_in(cond(raw)) == ["p", "p"]
