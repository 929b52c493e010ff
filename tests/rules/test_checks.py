"""Static checks on conditions, and the witness search behind ``ketascreen rules``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from ketascreen.domain.facts import FactSpec, Vocabulary
from ketascreen.domain.types import FactKind
from ketascreen.logic.compiler import compile_condition
from ketascreen.logic.schema import Condition
from ketascreen.rules.checks import candidate_values, check_rule_facts, find_witness

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def spec(
    fact: str,
    kind: FactKind,
    codes: tuple[bool | int | str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
) -> FactSpec:
    return FactSpec(
        id=fact,
        kind=kind,
        label=fact,
        origin="item",
        codes=codes,
        minimum=minimum,
        maximum=maximum,
    )


VOCAB = Vocabulary(
    facts={
        s.id: s
        for s in (
            spec("mood", FactKind.yes_no_unsure, ("yes", "no", "unsure")),
            spec("alone", FactKind.yes_no, ("yes", "no")),
            spec("sex", FactKind.single, ("female", "male")),
            spec("drugs", FactKind.multi, ("cannabis", "opioids", "none")),
            spec("item9", FactKind.number, (0, 1, 2, 3)),
            spec("age", FactKind.number, minimum=0, maximum=120),
            spec("months", FactKind.duration, minimum=0, maximum=1200),
            spec("score", FactKind.number),
            spec("note", FactKind.text),
            spec("positive", FactKind.boolean, (True, False)),
        )
    }
)


def messages(raw: dict[str, Any]) -> list[str]:
    """Problems of one condition, as 'where: message' strings."""
    return [
        str(p)
        for p in check_rule_facts("x.rule", CONDITION.validate_python(raw), VOCAB)
    ]


def evaluator(raw: dict[str, Any], params: dict[str, float] | None = None) -> Any:
    return compile_condition(CONDITION.validate_python(raw), params or {})


class TestOperatorsSuitKinds:
    """Each operator is checked against the kind of fact it reads."""

    def test_unknown_fact(self) -> None:
        """A fact that is not in the vocabulary is named, with the rule."""
        found = messages({"fact": "mood_colour", "eq": "blue"})
        assert len(found) == 1
        assert "rule x.rule" in found[0]
        assert "unknown fact 'mood_colour'" in found[0]

    @pytest.mark.parametrize("op", ["gte", "gt", "lte", "lt"])
    def test_order_on_a_coded_fact(self, op: str) -> None:
        """Ordering operators on a yes/no fact name the kind and the operator."""
        assert messages({"fact": "alone", op: 1}) == [
            f"rule x.rule: alone is yes_no; {op} needs a number fact"
        ]

    @pytest.mark.parametrize("fact", ["age", "months", "score"])
    def test_order_on_numbers_and_durations(self, fact: str) -> None:
        """Ordering operators on number and duration facts are fine."""
        assert messages({"fact": fact, "gte": 3}) == []

    def test_contains_any_on_a_single_choice(self) -> None:
        """contains_any on a single-choice fact asks for a multi-choice fact."""
        assert messages({"fact": "sex", "contains_any": ["female"]}) == [
            "rule x.rule: sex is single; contains_any needs a multi-choice fact"
        ]

    def test_contains_with_a_misspelled_code(self) -> None:
        """contains with a code the multi-choice fact does not have is caught."""
        found = messages({"fact": "drugs", "contains": "canabis"})
        assert found == [
            "rule x.rule: drugs: 'canabis' is not one of its values "
            "['cannabis', 'opioids', 'none']"
        ]

    def test_contains_any_names_only_the_bad_codes(self) -> None:
        """Each unknown code in contains_any is reported; good codes are not."""
        found = messages({"fact": "drugs", "contains_any": ["opioids", "lsd", "pcp"]})
        assert len(found) == 2
        assert "'lsd'" in found[0]
        assert "'pcp'" in found[1]

    def test_valid_contains(self) -> None:
        """contains and contains_any with real codes pass."""
        assert messages({"fact": "drugs", "contains": "none"}) == []
        assert messages({"fact": "drugs", "contains_any": ["cannabis", "none"]}) == []

    @pytest.mark.parametrize(
        "raw",
        [
            {"fact": "drugs", "eq": "cannabis"},
            {"fact": "drugs", "ne": "none"},
            {"fact": "drugs", "in": ["cannabis"]},
        ],
    )
    def test_equality_on_multi_choice(self, raw: dict[str, Any]) -> None:
        """eq, ne and in on a multi-choice fact point to contains."""
        assert messages(raw) == [
            "rule x.rule: drugs is multi-choice; use contains or contains_any"
        ]

    def test_in_with_a_bad_code(self) -> None:
        """Every operand of in is checked against the fact's codes."""
        found = messages({"fact": "sex", "in": ["female", "other"]})
        assert found == [
            "rule x.rule: sex: 'other' is not one of its values ['female', 'male']"
        ]

    def test_code_type_must_match(self) -> None:
        """'1' is not the number code 1, and 1 is not the boolean True."""
        assert (
            "'1' is not one of its values" in messages({"fact": "item9", "eq": "1"})[0]
        )
        assert (
            "1 is not one of its values" in messages({"fact": "positive", "eq": 1})[0]
        )
        assert messages({"fact": "item9", "eq": 1}) == []
        assert messages({"fact": "positive", "eq": True}) == []

    def test_equality_on_plain_numbers_and_text(self) -> None:
        """eq on a number without codes, or on text, has nothing to check against."""
        assert messages({"fact": "age", "eq": 40}) == []
        assert messages({"fact": "note", "ne": "anything"}) == []

    @pytest.mark.parametrize("op", ["known", "unknown"])
    def test_presence_suits_every_kind(self, op: str) -> None:
        """known / unknown apply to any fact, even multi-choice and text."""
        for fact in VOCAB.facts:
            assert messages({"fact": fact, op: True}) == []

    @pytest.mark.parametrize(
        "wrap",
        [
            lambda c: {"all": [{"fact": "alone", "eq": "yes"}, c]},
            lambda c: {"any": [c, {"fact": "alone", "eq": "yes"}]},
            lambda c: {"not": c},
            lambda c: {"count": [{"fact": "alone", "eq": "yes"}, c], "gte": 1},
            lambda c: {"not": {"all": [{"any": [c]}]}},
        ],
    )
    def test_nested_problems_are_found(self, wrap: Any) -> None:
        """A bad test is found inside all, any, not and count, however deep."""
        found = messages(wrap({"fact": "mood", "eq": "yse"}))
        assert len(found) == 1
        assert "'yse' is not one of its values" in found[0]


class TestCandidateValues:
    """The values tried for each fact when searching for a witness."""

    def test_multi_choice_singles_and_pairs(self) -> None:
        """Multi-choice facts get every single code and every pair of codes."""
        values = candidate_values(VOCAB.facts["drugs"], [])
        assert values == [
            frozenset({"cannabis"}),
            frozenset({"opioids"}),
            frozenset({"none"}),
            frozenset({"cannabis", "opioids"}),
            frozenset({"cannabis", "none"}),
            frozenset({"opioids", "none"}),
        ]

    def test_numbers_near_thresholds_and_bounds(self) -> None:
        """Numbers are tried on, just below and just above each threshold, and at the range ends."""
        values = candidate_values(VOCAB.facts["age"], [18.0])
        assert values == [0, 17.0, 17.5, 18.0, 18.5, 19.0, 120]

    def test_durations_are_numeric_too(self) -> None:
        """Durations are searched like numbers, thresholds shared and de-duplicated."""
        values = candidate_values(VOCAB.facts["months"], [3.0, 3.5])
        assert values == [0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 1200]

    def test_number_without_thresholds_or_bounds(self) -> None:
        """A number with no threshold and no range still gets two values to try."""
        assert candidate_values(VOCAB.facts["score"], []) == [0.0, 1.0]

    def test_coded_facts_use_their_codes(self) -> None:
        """Coded facts are tried with each of their codes, thresholds ignored."""
        assert candidate_values(VOCAB.facts["mood"], [5.0]) == ["yes", "no", "unsure"]
        assert candidate_values(VOCAB.facts["positive"], []) == [True, False]

    def test_free_text(self) -> None:
        """A text fact gets one placeholder text."""
        assert candidate_values(VOCAB.facts["note"], []) == ["text"]


class TestFindWitness:
    """The search for answers that make a condition true."""

    def test_exhaustive_finds_a_witness(self) -> None:
        """A small search space is searched fully; the witness makes the condition true."""
        ev = evaluator(
            {
                "all": [
                    {"fact": "drugs", "contains": "opioids"},
                    {"fact": "age", "gte": 65},
                    {"not": {"fact": "mood", "eq": "no"}},
                ]
            }
        )
        found = find_witness(ev, VOCAB, [65.0])
        assert found is not None
        assert ev(found) is True
        assert "opioids" in found["drugs"]
        assert found["age"] >= 65

    def test_witness_makes_the_condition_true(self) -> None:
        """Each fact gets a value that satisfies its test, and the whole condition holds."""
        ev = evaluator(
            {"any": [{"fact": "alone", "eq": "yes"}, {"fact": "sex", "eq": "male"}]}
        )
        witness = find_witness(ev, VOCAB, [])
        assert witness == {"alone": "yes", "sex": "male"}
        assert ev(witness) is True

    def test_exhaustive_contradiction(self) -> None:
        """A condition no values satisfy has no witness."""
        ev = evaluator({"all": [{"fact": "age", "lt": 10}, {"fact": "age", "gt": 20}]})
        assert find_witness(ev, VOCAB, [10.0, 20.0]) is None

    def test_the_conditions_own_numbers_are_tried(self) -> None:
        """A narrow window between the condition's own numbers is found."""
        ev = evaluator({"all": [{"fact": "age", "gt": 30}, {"fact": "age", "lt": 31}]})
        assert find_witness(ev, VOCAB, []) == {"age": 30.5}

    def test_random_search_beyond_the_budget(self) -> None:
        """Past the budget the search samples at random, and what it finds is a witness."""
        ev = evaluator(
            {
                "count": [
                    {"fact": "mood", "eq": "yes"},
                    {"fact": "alone", "eq": "yes"},
                    {"fact": "sex", "eq": "female"},
                    {"fact": "drugs", "contains": "cannabis"},
                ],
                "gte": 2,
            }
        )
        # 4 * 3 * 3 * 7 = 252 assignments, more than the 20 tries allowed.
        found = find_witness(ev, VOCAB, [], tries=20)
        assert found is not None
        assert ev(found) is True
        assert None not in found.values()

    def test_random_search_is_deterministic(self) -> None:
        """The random search is seeded: the same condition gives the same witness."""
        ev = evaluator(
            {
                "any": [
                    {"fact": "mood", "eq": "unsure"},
                    {"fact": "sex", "eq": "male"},
                    {"fact": "age", "gte": 50},
                ]
            }
        )
        first = find_witness(ev, VOCAB, [50.0], tries=5)
        assert first is not None
        assert all(find_witness(ev, VOCAB, [50.0], tries=5) == first for _ in range(3))

    def test_random_search_contradiction(self) -> None:
        """The random search returns None when nothing makes the condition true."""
        ev = evaluator(
            {
                "all": [
                    {"fact": "alone", "eq": "yes"},
                    {"fact": "alone", "eq": "no"},
                    {"fact": "mood", "known": True},
                ]
            }
        )
        assert find_witness(ev, VOCAB, [], tries=3) is None
