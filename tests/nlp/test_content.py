"""The scanner's data files: valid, and every answer they can give is a real answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketascreen.content.files import load_model
from ketascreen.errors import ContentError
from ketascreen.nlp.prefilter import DIGIT, starts
from ketascreen.nlp.rules import ConceptFile, check_against_form, load_nlp_content
from ketascreen.screening import get_content


def test_every_answer_in_the_data_is_valid_for_its_item() -> None:
    assert check_against_form(load_nlp_content(), get_content().form) == []


def test_a_misspelled_key_fails_at_load_time(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schema_version: 1\nid: x\nversion: 1.0.0\nsource: test\n"
        "concepts:\n  - id: c\n    terms: [a b]\n    presnt: {pregnant: 'yes'}\n"
    )
    with pytest.raises(ContentError, match="presnt"):
        load_model(ConceptFile, bad)


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        (r"\b(?:husband|wife|parents?)\b", ("husband", "wife", "parent")),
        (r"\bperiod\b[^.]", ("period",)),
        (r"\b(?:\d{1,2}|a\s+few)\s", (DIGIT, "a")),  # a digit, and one letter
        (r"\b(?:a|b)x|\bc", ("a", "b", "c")),  # another alternative after the group
        (r"\b(?P<age>\d{2})\s?F", (DIGIT,)),  # a named group
        (r"\b(?:ab)?cd", None),  # an optional group says nothing
        (r"(?<!\w)bp|(?<![\d/])\d", ("bp", DIGIT)),  # look-behinds passed over
        (r"\b(?:ab|(?:cd|ef)x)", ("ab", "cd", "ef")),  # a group inside the group
        (r"(?m:^)female", None),  # a flag group first
        (r"\b(?:a|\w+d)", None),  # a class first
    ],
)
def test_starts_found_in_a_pattern(
    regex: str, expected: tuple[str, ...] | None
) -> None:
    assert starts(regex) == expected
