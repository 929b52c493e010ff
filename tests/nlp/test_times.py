"""Times in text, as months before the screening date."""

from __future__ import annotations

from datetime import date

import pytest

from ketascreen.nlp.rules import load_nlp_content
from ketascreen.nlp.times import find_times

TODAY = date(2026, 6, 15)


def times(text: str) -> list[tuple[str, float | None, str]]:
    words = load_nlp_content().values.number_words
    return [
        (t.text, None if t.months is None else round(t.months, 1), t.kind)
        for t in find_times(text, TODAY, words)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sober six years", [("six years", 72.0, "length")]),
        ("stable on lithium x 3 yrs", [("x 3 yrs", 36.0, "length")]),
        ("attempt 2 months ago", [("2 months ago", 2.0, "point")]),
        ("quit 6 wks ago", [("6 wks ago", 1.4, "point")]),
        ("SA approx 10/52 ago", [("10/52 ago", 2.3, "point")]),
        ("MI 3/12 ago", [("3/12 ago", 3.0, "point")]),
        ("low mood x 2/52", [("x 2/52", 0.5, "length")]),
        ("that was 12ish years ago", [("12ish years ago", 144.0, "point")]),
        # a partial date is read as late as it can be: the end of March 2026
        ("last used in March", [("in March", 2.5, "point")]),
        # "last June" in June is a year ago; "in June" is this month
        ("took pills last june", [("last june", 11.5, "point")]),
        ("relapsed in June", [("in June", 0.0, "point")]),
        ("used meth until 2019", [("2019", 77.5, "point")]),
        ("clean since 2019", [("2019", 77.5, "since")]),
        ("MI in Jan 2025", [("Jan 2025", 16.4, "point")]),
        ("MI 2/2024", [("2/2024", 27.5, "point")]),
        ("relapsed last month", [("last month", 1.0, "point")]),
    ],
)
def test_times_resolve_against_the_screening_date(
    text: str, expected: list[tuple[str, float, str]]
) -> None:
    assert times(text) == expected


def test_vague_times_are_lower_bounds_or_only_past() -> None:
    words = load_nlp_content().values.number_words
    (years,) = find_times("overdosed years ago", TODAY, words)
    assert years.at_least
    assert years.months == 24.0
    (college,) = find_times("used acid in college", TODAY, words)
    assert college.months is None


def test_frequencies_mean_now() -> None:
    words = load_nlp_content().values.number_words
    (daily,) = find_times("smokes weed daily", TODAY, words)
    assert daily.habit
    assert daily.months == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "45 y/o F",
        "a 45-year-old man",
        "she may be pregnant",  # "may" is a verb here
        "sertraline 2000 mg",  # not a year
        "BP 132/84",
        "the future is a future date in 2099",  # not yet happened
    ],
)
def test_things_that_are_not_times(text: str) -> None:
    assert times(text) == []
