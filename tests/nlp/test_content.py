"""The scanner's data files: valid, and every answer they can give is a real answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketascreen.content.files import load_model
from ketascreen.errors import ContentError
from ketascreen.nlp.prefilter import needles
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
        (r"\b(?:\d{1,2}|a\s+few)\s", None),  # a digit: no literal
        (r"\b(?:a|b)x|\bc", None),  # another alternative after the group
        (r"\b(?:ab)?cd", None),  # an optional group says nothing
    ],
)
def test_needles_found_in_a_pattern(
    regex: str, expected: tuple[str, ...] | None
) -> None:
    assert needles(regex) == expected
