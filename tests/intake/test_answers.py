"""Answers are validated item by item; bad input names the item and what was expected."""

from __future__ import annotations

from typing import Any

import pytest
from tests.helpers import SCREENING_DATE, run

from ketascreen.errors import AnswersError


def problems(answers: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(AnswersError) as info:
        run(answers)
    return {p.where: p.message for p in info.value.problems}


class TestBadInput:
    """Every kind of bad answer is reported, one line per item."""

    def test_unknown_item(self) -> None:
        """An item id not in the questionnaire is named."""
        assert (
            "unknown item id"
            in problems({"favourite_colour": "blue"})["favourite_colour"]
        )

    @pytest.mark.parametrize("value", [20, 400])
    def test_systolic_out_of_range(self, value: int) -> None:
        """Systolic 20 or 400 is out of range, with the range given."""
        message = problems({"bp_systolic": value})["bp_systolic"]
        assert "out of range" in message
        assert "50 to 300" in message

    def test_phq9_item_of_seven(self) -> None:
        """A PHQ-9 item of 7 is not one of 0-3."""
        assert "expected one of [0, 1, 2, 3]" in problems({"phq9_3": 7})["phq9_3"]

    def test_wrong_types(self) -> None:
        """Wrong types are named per item, all at once."""
        found = problems({"age": "old", "pregnant": 3, "heart_conditions": "sometimes"})
        assert set(found) == {"age", "pregnant", "heart_conditions"}
        assert "expected a number" in found["age"]
        assert "yes, no or unsure" in found["pregnant"]

    def test_exclusive_none(self) -> None:
        """'none' cannot be combined with other choices."""
        assert (
            "cannot be combined"
            in problems({"heart_conditions": ["none", "avm"]})["heart_conditions"]
        )

    def test_computed_fact_cannot_be_given(self) -> None:
        """A score is computed, not answered."""
        assert "computed" in problems({"phq9.total": 12})["phq9.total"]

    def test_future_date(self) -> None:
        """A date after the screening date is rejected."""
        assert (
            "after the screening date"
            in problems({"last_cardiac_check": "2030-01-01"})["last_cardiac_check"]
        )

    def test_not_a_mapping(self) -> None:
        """Answers must be an object."""
        with pytest.raises(AnswersError):
            run(["age", 40])  # type: ignore[arg-type]

    def test_whole_number(self) -> None:
        """Integer items refuse fractions."""
        assert "whole number" in problems({"age": 40.5})["age"]


class TestNormalisation:
    """Accepted spellings become one canonical fact value."""

    def test_yes_no_spellings(self) -> None:
        """True, 'Yes' and 'y' are all yes; null is unanswered."""
        for value in (True, "Yes", "y"):
            result = run({"pregnant": value, "sex_at_birth": "female"})
            assert "pregnancy.pregnant" in {f.rule_id for f in result.findings}
        result = run({"pregnant": None})
        assert "pregnancy.pregnant" not in {f.rule_id for f in result.findings}

    @pytest.mark.parametrize(
        ("raw", "months"),
        [
            ("2 weeks", 0.46),
            ({"value": 1, "unit": "year"}, 12),
            (3, 3),
            ("6 months", 6),
        ],
    )
    def test_durations(self, raw: Any, months: float) -> None:
        """Durations in days, weeks, months or years become months."""
        from ketascreen.intake.answers import facts_from_answers
        from ketascreen.screening import get_content

        form = get_content().form
        facts = facts_from_answers(form, {"mi_stroke_months_ago": raw}, SCREENING_DATE)
        assert facts.values["mi_stroke_months_ago"] == pytest.approx(months, abs=0.01)

    def test_date_derives_months_ago(self) -> None:
        """A date item also gives <id>_months_ago, measured from the screening date."""
        from ketascreen.intake.answers import facts_from_answers
        from ketascreen.screening import get_content

        facts = facts_from_answers(
            get_content().form, {"last_cardiac_check": "2025-11-27"}, SCREENING_DATE
        )
        assert facts.values["last_cardiac_check_months_ago"] == pytest.approx(
            12, abs=0.1
        )


class TestNullsAndDates:
    """Null is 'unanswered' only for real items; dates are ISO dates."""

    def test_unknown_item_with_null_is_still_unknown_id(self) -> None:
        """A misspelled item id is reported even when its value is null."""
        assert (
            "unknown item id"
            in problems({"favourite_colour": None})["favourite_colour"]
        )

    def test_compact_date_refused(self) -> None:
        """20251127 is not accepted as a date; the message asks for YYYY-MM-DD."""
        assert (
            "YYYY-MM-DD"
            in problems({"last_cardiac_check": "20251127"})["last_cardiac_check"]
        )

    def test_date_object_accepted(self) -> None:
        """From Python, a datetime.date is accepted."""
        from datetime import date

        result = run({"last_cardiac_check": date(2025, 11, 27)})
        assert result.screening_date == "2026-11-27"
