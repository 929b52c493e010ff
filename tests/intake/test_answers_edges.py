"""Edge cases of answer validation: every branch names the item and what was expected."""

from __future__ import annotations

from typing import Any

import pytest
from tests.helpers import SCREENING_DATE

from ketascreen.errors import AnswersError
from ketascreen.intake.answers import MAX_TEXT, FactSet, facts_from_answers, source_of
from ketascreen.intake.form import Form
from ketascreen.rules.loader import Content


@pytest.fixture
def form(content: Content) -> Form:
    """The default questionnaire's form."""
    return content.form


def facts(form: Form, answers: dict[Any, Any]) -> FactSet:
    return facts_from_answers(form, answers, SCREENING_DATE)


def problems(form: Form, answers: dict[Any, Any]) -> dict[str, str]:
    """Item id to message, for answers that must be rejected."""
    with pytest.raises(AnswersError) as info:
        facts(form, answers)
    found = {p.where: p.message for p in info.value.problems}
    assert len(found) == len(info.value.problems), "one problem per item"
    return found


class TestDurations:
    """Durations given as objects, strings or plain numbers of the item's unit."""

    @pytest.mark.parametrize(
        "raw",
        [
            {"value": 2},
            {"value": 2, "unit": "years", "ago": True},
            {"amount": 2, "unit": "years"},
        ],
    )
    def test_object_with_wrong_keys(self, form: Form, raw: dict[str, Any]) -> None:
        """An object needs exactly value and unit, and says so."""
        message = problems(form, {"attempt_months_ago": raw})["attempt_months_ago"]
        assert (
            message == 'expected {"value": number, "unit": "days|weeks|months|years"}'
        )

    def test_object_with_unknown_unit(self, form: Form) -> None:
        """An unknown unit in an object lists the units accepted."""
        message = problems(
            form, {"attempt_months_ago": {"value": 2, "unit": "fortnight"}}
        )["attempt_months_ago"]
        assert message == (
            "unknown unit 'fortnights'; expected one of "
            "['days', 'months', 'weeks', 'years']"
        )

    def test_object_with_non_numeric_value(self, form: Form) -> None:
        """The value of a duration object must be a number."""
        message = problems(
            form, {"attempt_months_ago": {"value": "two", "unit": "years"}}
        )["attempt_months_ago"]
        assert message == "expected a number, got 'two'"

    def test_string_with_unknown_unit(self, form: Form) -> None:
        """'2 fortnights' names the unit that is not accepted."""
        message = problems(form, {"attempt_months_ago": "2 fortnights"})[
            "attempt_months_ago"
        ]
        assert message.startswith("unknown unit 'fortnights'")

    @pytest.mark.parametrize(
        ("raw", "months"),
        [
            ("2 years", 24.0),
            ("1 year", 12.0),
            (" 3 MONTHS ", 3.0),
            ("1.5 years", 18.0),
            ("30 days", 0.987),
            ({"value": "2", "unit": "Weeks"}, 0.4602),
            ("4", 4.0),
            (4.5, 4.5),
        ],
    )
    def test_accepted_spellings(self, form: Form, raw: Any, months: float) -> None:
        """Strings, objects and plain numbers become months, case and plural aside."""
        value = facts(form, {"attempt_months_ago": raw}).values["attempt_months_ago"]
        assert value == pytest.approx(months)

    def test_converted_duration_out_of_range(self, form: Form) -> None:
        """The range is checked after conversion: 2 years is over a 12-month item."""
        message = problems(form, {"drug_last_use_months": "2 years"})[
            "drug_last_use_months"
        ]
        assert message == "24 months is out of range; expected 0 to 12"

    def test_unparseable_duration(self, form: Form) -> None:
        """Text that is neither a number nor 'N unit' asks for a number."""
        message = problems(form, {"attempt_months_ago": "last spring"})[
            "attempt_months_ago"
        ]
        assert message == "expected a number, got 'last spring'"


class TestDates:
    """Dates are ISO dates, not in the future and not before 1900."""

    def test_year_and_month(self, form: Form) -> None:
        """'YYYY-MM' means the first of that month, and derives months ago from it."""
        found = facts(form, {"last_cardiac_check": "2025-11"})
        assert found.values["last_cardiac_check"] == "2025-11-01"
        assert found.values["last_cardiac_check_months_ago"] == pytest.approx(
            12.85, abs=0.01
        )
        assert found.sources["last_cardiac_check_months_ago"] == "derived"

    def test_year_and_month_in_the_future(self, form: Form) -> None:
        """'YYYY-MM' after the screening month is still in the future."""
        message = problems(form, {"last_cardiac_check": "2026-12"})[
            "last_cardiac_check"
        ]
        assert message == "2026-12-01 is after the screening date"

    def test_before_1900(self, form: Form) -> None:
        """A date before 1900 is too far in the past."""
        message = problems(form, {"last_cardiac_check": "1899-12-31"})[
            "last_cardiac_check"
        ]
        assert message == "1899-12-31 is too far in the past"

    def test_first_day_of_1900_is_accepted(self, form: Form) -> None:
        """1900-01-01 is the earliest date accepted."""
        found = facts(form, {"last_cardiac_check": "1900-01-01"})
        assert found.values["last_cardiac_check"] == "1900-01-01"

    @pytest.mark.parametrize(
        "raw", ["27/11/2025", "2025-02-30", "yesterday", "2025-13"]
    )
    def test_bad_date_string(self, form: Form, raw: str) -> None:
        """Text that is not a real ISO date asks for YYYY-MM-DD."""
        message = problems(form, {"last_cardiac_check": raw})["last_cardiac_check"]
        assert message == f"expected a date as YYYY-MM-DD, got {raw!r}"

    @pytest.mark.parametrize("raw", [20251127, 2025.11, ["2025-11-27"]])
    def test_date_that_is_not_text(self, form: Form, raw: Any) -> None:
        """A date given as a number or list asks for YYYY-MM-DD."""
        message = problems(form, {"last_cardiac_check": raw})["last_cardiac_check"]
        assert message == f"expected a date as YYYY-MM-DD, got {raw!r}"


class TestText:
    """Free text is text, and not too long."""

    def test_longest_text(self, form: Form) -> None:
        """Text of exactly the maximum length is kept whole."""
        text = "a" * MAX_TEXT
        assert facts(form, {"reason_for_seeking": text}).values[
            "reason_for_seeking"
        ] == (text)

    def test_text_too_long(self, form: Form) -> None:
        """One character more is rejected with both lengths."""
        message = problems(form, {"reason_for_seeking": "a" * (MAX_TEXT + 1)})[
            "reason_for_seeking"
        ]
        assert (
            message
            == f"text is too long ({MAX_TEXT + 1} characters; at most {MAX_TEXT})"
        )

    @pytest.mark.parametrize(
        ("raw", "name"), [(42, "int"), (True, "bool"), (["a"], "list")]
    )
    def test_text_that_is_not_a_string(self, form: Form, raw: Any, name: str) -> None:
        """A number, boolean or list for a text item names the type given."""
        message = problems(form, {"reason_for_seeking": raw})["reason_for_seeking"]
        assert message == f"expected text, got {name}"


class TestMultiChoice:
    """Multi-choice answers are lists of codes."""

    def test_single_string_is_one_choice(self, form: Form) -> None:
        """A lone code string counts as a one-item list."""
        value = facts(form, {"heart_conditions": "avm"}).values["heart_conditions"]
        assert value == frozenset({"avm"})

    def test_codes_are_trimmed_and_lowered(self, form: Form) -> None:
        """' AVM ' and 'Stroke' are the codes avm and stroke; repeats collapse."""
        value = facts(form, {"heart_conditions": (" AVM ", "Stroke", "avm")}).values[
            "heart_conditions"
        ]
        assert value == frozenset({"avm", "stroke"})

    @pytest.mark.parametrize("raw", [{"avm": True}, 3, True])
    def test_not_a_list(self, form: Form, raw: Any) -> None:
        """An object, number or boolean asks for a list of codes."""
        message = problems(form, {"heart_conditions": raw})["heart_conditions"]
        assert message.startswith("expected a list of codes from ['high_bp',")

    def test_unknown_code(self, form: Form) -> None:
        """A code that is not an option is named."""
        message = problems(form, {"heart_conditions": ["avm", "gout"]})[
            "heart_conditions"
        ]
        assert message.startswith("'gout' is not one of ['high_bp',")

    def test_unknown_string_code(self, form: Form) -> None:
        """A lone string that is not a code is named too."""
        message = problems(form, {"heart_conditions": "gout"})["heart_conditions"]
        assert message.startswith("'gout' is not one of")

    def test_non_string_entry(self, form: Form) -> None:
        """A number inside the list is not a code."""
        message = problems(form, {"heart_conditions": ["avm", 3]})["heart_conditions"]
        assert message.startswith("3 is not one of")

    def test_nested_list_entry(self, form: Form) -> None:
        """A list inside the list is named as a bad entry, not a crash."""
        message = problems(form, {"heart_conditions": [["avm"]]})["heart_conditions"]
        assert message.startswith("['avm'] is not one of")

    def test_empty_list_hints_at_none(self, form: Form) -> None:
        """An empty list suggests ['none'] when the item has that option."""
        message = problems(form, {"heart_conditions": []})["heart_conditions"]
        assert message == (
            "expected at least one code or ['none']; leave it out if unanswered"
        )


class TestCodedAnswers:
    """Coded answers accept a few spellings beyond the exact code."""

    @pytest.mark.parametrize(("raw", "code"), [(" 2 ", 2), (2.0, 2), ("0", 0)])
    def test_number_codes(self, form: Form, raw: Any, code: int) -> None:
        """PHQ-9 item codes may be given as padded text or as a whole float."""
        value = facts(form, {"phq9_3": raw}).values["phq9_3"]
        assert value == code
        assert type(value) is int

    @pytest.mark.parametrize("raw", [True, 2.5, "two", None])
    def test_number_code_rejected(self, form: Form, raw: Any) -> None:
        """A boolean, fraction or word is not a PHQ-9 code; null is unanswered."""
        if raw is None:
            assert "phq9_3" not in facts(form, {"phq9_3": raw}).values
            return
        message = problems(form, {"phq9_3": raw})["phq9_3"]
        assert message == f"expected one of [0, 1, 2, 3], got {raw!r}"

    @pytest.mark.parametrize("raw", ["Female", " FEMALE ", "female"])
    def test_single_choice_case(self, form: Form, raw: str) -> None:
        """Single-choice codes ignore case and surrounding spaces."""
        assert facts(form, {"sex_at_birth": raw}).values["sex_at_birth"] == "female"

    @pytest.mark.parametrize(
        ("raw", "code"),
        [(" No ", "no"), ("TRUE", "yes"), ("dont know", "unsure"), (False, "no")],
    )
    def test_yes_no_unsure_spellings(self, form: Form, raw: Any, code: str) -> None:
        """Padded, upper-case and informal spellings map to yes, no and unsure."""
        assert facts(form, {"mania_now": raw}).values["mania_now"] == code

    @pytest.mark.parametrize(
        ("item", "raw", "message"),
        [
            ("phq9_3", [1], "expected one of [0, 1, 2, 3], got [1]"),
            (
                "sex_at_birth",
                {"code": "female"},
                "expected one of ['female', 'male', 'intersex']",
            ),
            ("mania_now", ["yes"], "expected yes, no or unsure, got ['yes']"),
        ],
    )
    def test_unhashable_value_for_a_coded_item(
        self, form: Form, item: str, raw: Any, message: str
    ) -> None:
        """A list or object for a coded item is one problem; other answers still count."""
        found = problems(form, {"age": 40, item: raw, "pregnant": "maybe"})
        assert set(found) == {item, "pregnant"}
        assert found[item].startswith(message)

    def test_yes_no_item_refuses_unsure(self, form: Form) -> None:
        """A yes/no item has no 'unsure' and says which answers it takes."""
        message = problems(form, {"support_person": "unsure"})["support_person"]
        assert message == "expected yes or no, got 'unsure'"


class TestNumbers:
    """Plain numbers: type, range and whole-number checks."""

    def test_fraction_kept_where_allowed(self, form: Form) -> None:
        """A dose given as text keeps its fraction (the item is not whole-number)."""
        value = facts(form, {"benzo_dose_diazepam_mg": " 7.5 "}).values[
            "benzo_dose_diazepam_mg"
        ]
        assert value == 7.5

    def test_whole_float_on_integer_item(self, form: Form) -> None:
        """120.0 for a whole-number item becomes the int 120."""
        value = facts(form, {"bp_systolic": 120.0}).values["bp_systolic"]
        assert value == 120
        assert type(value) is int

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            (True, "expected a number, got true/false"),
            ([120], "expected a number, got [120]"),
            ("high", "expected a number, got 'high'"),
            (None, None),
        ],
    )
    def test_not_a_number(self, form: Form, raw: Any, message: str | None) -> None:
        """Booleans, lists and words are not numbers; null is unanswered."""
        if message is None:
            assert facts(form, {"bp_systolic": raw}).values == {}
            return
        assert problems(form, {"bp_systolic": raw})["bp_systolic"] == message

    @pytest.mark.parametrize("raw", [float("nan"), float("inf"), "-inf"])
    def test_non_finite_numbers(self, form: Form, raw: Any) -> None:
        """NaN and infinities never pass the range check."""
        assert (
            "out of range"
            in problems(form, {"benzo_dose_diazepam_mg": raw})["benzo_dose_diazepam_mg"]
        )


class TestExternalFacts:
    """External facts (from notes or records) are yes/no and marked as external."""

    @pytest.mark.parametrize(
        ("raw", "code"), [("No", "no"), (" yes ", "yes"), (True, "yes")]
    )
    def test_accepted(self, form: Form, raw: Any, code: str) -> None:
        """Yes/no spellings are accepted and the source is external."""
        found = facts(form, {"suicidal_thoughts_reported": raw})
        assert found.values["suicidal_thoughts_reported"] == code
        assert found.sources["suicidal_thoughts_reported"] == "external"
        assert source_of(form, found, "suicidal_thoughts_reported") == "external"

    @pytest.mark.parametrize("raw", ["maybe", "unsure", 1, ["yes"]])
    def test_bad_value(self, form: Form, raw: Any) -> None:
        """Anything but yes/no lists the codes; an external fact has no 'unsure'."""
        message = problems(form, {"suicidal_thoughts_reported": raw})[
            "suicidal_thoughts_reported"
        ]
        assert message == "expected one of ['yes', 'no']"


class TestItemIds:
    """Item ids are non-empty text; every bad key is reported with the rest."""

    @pytest.mark.parametrize(
        ("key", "where"), [(5, "5"), (None, "None"), (("a",), "('a',)")]
    )
    def test_non_string_key(self, form: Form, key: Any, where: str) -> None:
        """A key that is not text is reported under its printed form."""
        assert problems(form, {key: "yes"}) == {where: "item ids must be text"}

    def test_non_string_key_with_null(self, form: Form) -> None:
        """A non-text key is reported even when its value is null."""
        assert problems(form, {7: None}) == {"7": "item ids must be text"}

    @pytest.mark.parametrize("key", ["", "   "])
    def test_empty_key(self, form: Form, key: str) -> None:
        """An empty or blank key is reported, with or without a value."""
        assert problems(form, {key: None}) == {
            "(empty item id)": "item ids cannot be empty"
        }

    def test_all_problems_together(self, form: Form) -> None:
        """Bad keys and bad values are reported at once; nothing is half-accepted."""
        found = problems(
            form,
            {
                3: "x",
                "age": 40,
                "last_cardiac_check": "1800-01-01",
                "reason_for_seeking": 7,
                "heart_conditions": [],
                "suicidal_thoughts_reported": "maybe",
            },
        )
        assert set(found) == {
            "3",
            "last_cardiac_check",
            "reason_for_seeking",
            "heart_conditions",
            "suicidal_thoughts_reported",
        }

    def test_source_of_answers_and_unknowns(self, form: Form) -> None:
        """Answers are 'answer', instrument items 'instrument', absent facts 'unknown'."""
        found = facts(form, {"age": 40, "phq9_3": 1})
        assert source_of(form, found, "age") == "answer"
        assert source_of(form, found, "phq9_3") == "instrument"
        assert source_of(form, found, "bp_systolic") == "unknown"
        assert source_of(form, found, "no_such_fact") == "unknown"
