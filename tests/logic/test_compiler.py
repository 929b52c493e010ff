"""The condition compiler: Kleene three-valued logic, parameters, traces."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from ketascreen.logic.compiler import UnknownParameter, compile_condition
from ketascreen.logic.schema import Condition, facts_in, params_in

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Condition)


def build(raw: Any, params: dict[str, float] | None = None) -> Any:
    return compile_condition(_ADAPTER.validate_python(raw), params or {})


T: dict[str, Any] = {"x": "yes"}
F: dict[str, Any] = {"x": "no"}
U: dict[str, Any] = {}


class TestKleene:
    """all / any / not follow Kleene's strong three-valued logic."""

    @pytest.mark.parametrize(
        ("left", "right", "want_all", "want_any"),
        [
            ("yes", "yes", True, True),
            ("yes", "no", False, True),
            ("no", "no", False, False),
            ("yes", None, None, True),
            ("no", None, False, None),
            (None, None, None, None),
        ],
    )
    def test_all_and_any(
        self, left: Any, right: Any, want_all: Any, want_any: Any
    ) -> None:
        """Unknown only decides when nothing else does."""
        facts = {k: v for k, v in (("a", left), ("b", right)) if v is not None}
        parts = [{"fact": "a", "eq": "yes"}, {"fact": "b", "eq": "yes"}]
        assert build({"all": parts})(facts) is want_all
        assert build({"any": parts})(facts) is want_any

    def test_not_keeps_unknown(self) -> None:
        """not(unknown) is unknown, never true."""
        ev = build({"not": {"fact": "x", "eq": "yes"}})
        assert (ev(T), ev(F), ev(U)) == (False, True, None)

    def test_missing_is_never_no(self) -> None:
        """A missing fact does not satisfy eq "no"."""
        assert build({"fact": "x", "eq": "no"})(U) is None

    @pytest.mark.parametrize(
        ("values", "want"),
        [
            (("yes", "yes", "no"), True),
            (("yes", "no", "no"), False),
            (("yes", None, "no"), None),
            (("yes", "yes", None), True),
            ((None, None, "no"), None),
        ],
    )
    def test_count(self, values: tuple[Any, ...], want: Any) -> None:
        """count is true at the threshold, false when it cannot be reached."""
        facts = {f"i{n}": v for n, v in enumerate(values) if v is not None}
        ev = build(
            {"count": [{"fact": f"i{n}", "eq": "yes"} for n in range(3)], "gte": 2}
        )
        assert ev(facts) is want


class TestOperators:
    """Every fact operator, on known and unknown values."""

    @pytest.mark.parametrize(
        ("test", "value", "want"),
        [
            ({"gte": 160}, 160, True),
            ({"gte": 160}, 159, False),
            ({"gt": 8}, 8, False),
            ({"lt": 3}, 2.9, True),
            ({"lte": 3}, 3, True),
            ({"ne": "no"}, "yes", True),
            ({"in": ["a", "b"]}, "b", True),
            ({"contains": "benzodiazepine"}, frozenset({"benzodiazepine"}), True),
            ({"contains_any": ["avm", "aneurysm"]}, frozenset({"none"}), False),
            ({"known": True}, 0, True),
            ({"unknown": True}, 0, False),
        ],
    )
    def test_known_value(self, test: dict[str, Any], value: Any, want: bool) -> None:
        """Comparisons on a present value are true or false."""
        assert build({"fact": "x", **test})({"x": value}) is want

    def test_presence_on_missing(self) -> None:
        """known / unknown are the only tests that are decided on a missing fact."""
        assert build({"fact": "x", "known": True})({}) is False
        assert build({"fact": "x", "unknown": True})({}) is True
        assert build({"fact": "x", "gte": 1})({}) is None


class TestParameters:
    """Thresholds come from named parameters."""

    def test_param_resolves(self) -> None:
        """{param: NAME} takes its value from the table and shows it in the trace."""
        ev = build({"fact": "bp", "gte": {"param": "bp_max"}}, {"bp_max": 160})
        assert ev({"bp": 160}) is True
        assert repr(ev) == "bp ≥ 160 (bp_max)"

    def test_unknown_param(self) -> None:
        """A missing parameter is an error at compile time."""
        with pytest.raises(UnknownParameter):
            build({"fact": "bp", "gte": {"param": "nope"}})

    def test_introspection(self) -> None:
        """facts_in and params_in list what a condition reads."""
        cond = _ADAPTER.validate_python(
            {
                "all": [
                    {"fact": "a", "gte": {"param": "p"}},
                    {"not": {"fact": "b", "eq": "x"}},
                ]
            }
        )
        assert facts_in(cond) == ["a", "b"]
        assert params_in(cond) == ["p"]


class TestSchema:
    """Malformed conditions are rejected with a reason."""

    @pytest.mark.parametrize(
        "raw",
        [
            {"fact": "x"},
            {"fact": "x", "eq": "a", "ne": "b"},
            {"fact": "x", "equals": "a"},
            {"all": []},
            "x == 1",
        ],
    )
    def test_rejects(self, raw: Any) -> None:
        """No operator, two operators, unknown keys, empty lists and strings fail."""
        with pytest.raises(ValidationError):
            _ADAPTER.validate_python(raw)


class TestExplain:
    """explain() returns the leaves that decided the outcome."""

    def test_true_any_gives_true_leaves(self) -> None:
        """Only the parts that made an any() true are evidence."""
        ev = build({"any": [{"fact": "a", "eq": "yes"}, {"fact": "b", "eq": "yes"}]})
        outcome, leaves = ev.explain({"a": "no", "b": "yes"})
        assert outcome is True
        assert [leaf.fact for leaf in leaves] == ["b"]

    def test_unknown_all_gives_unknown_leaves(self) -> None:
        """For an unknown all(), the unknown parts are what mattered."""
        ev = build({"all": [{"fact": "a", "eq": "yes"}, {"fact": "b", "eq": "yes"}]})
        outcome, leaves = ev.explain({"a": "yes"})
        assert outcome is None
        assert [leaf.fact for leaf in leaves] == ["b"]
