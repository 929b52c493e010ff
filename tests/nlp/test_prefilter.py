"""Guarded patterns find exactly what the plain regular expression finds.

The scanner runs its concept and value patterns through :class:`Guarded`, which skips
a pattern whose needles are absent and tries an anchored pattern only where a word
starts with one of its literal starts. These tests hold it to ``re``'s own answer on
every pattern the content has, over generated notes and notes from the corpus.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketascreen.nlp.pipeline import build_pipeline
from ketascreen.nlp.prefilter import Guarded, NoteText, guard
from ketascreen.nlp.rules import load_nlp_content
from tests.nlp.corpus_tools import DEV, HELDOUT, PROBE, load


def content_patterns() -> list[Guarded]:
    """Every guarded pattern the scanner runs: concept regexes and value patterns."""
    nlp = build_pipeline()
    targets = dict(nlp.pipeline)["ketascreen_regex_targets"]
    found: list[Guarded] = [g for g, _ in targets.patterns]  # type: ignore[attr-defined]
    values = load_nlp_content().values
    found += [guard(reading.regex, reading.needles) for reading in values.readings]
    found += [guard(amount.regex, amount.needles) for amount in values.amounts]
    return found


PATTERNS = content_patterns()
#: Words the patterns look for, odd spellings and letters that case-insensitive
#: matching takes for ASCII ones ("İ", "ı", "ſ" and the Kelvin sign).
WORDS = [
    "husband",
    "HUSBAND",
    "huſband",
    "suicide",
    "ſuicide",
    "tried",
    "TRİED",
    "trıed",
    "Kill",
    "\u212aill",
    "myself",
    "not sure",
    "no one",
    "nobody",
    "BP",
    "158/96",
    "hr 88",
    "42 yo",
    "F",
    "pregnant",
    "14 wks",
    "y/o",
    "over",
    "120",
    "mmHg",
    "iam",
    "age",
    "\u0664\u0662",
    "\uff14\uff12F",
    "I am",
    "\u0130 am",
    "ketamine",
    "hives",
    "believes",
    "voices",
    "expects",
    "cure",
    "a",
    "i",
    "I'm",
    "_tried",
    "1tried",
    "-",
    ".",
    ",",
    "\n",
    " ",
    "  ",
]


def spans(
    guarded: Guarded, text: str, note: NoteText | None = None
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """What ``re`` finds in the text, and what the guarded search finds."""
    expected = [m.span() for m in guarded.pattern.finditer(text)]
    found = [m.span() for m in guarded.finditer(note or NoteText(text))]
    return expected, found


def check(text: str) -> None:
    note = NoteText(text)
    for guarded in PATTERNS:
        expected, found = spans(guarded, text, note)
        assert found == expected, (guarded.pattern.pattern, text)


def test_most_concept_patterns_are_anchored() -> None:
    """The speed-up is real: most concept patterns are tried at word starts only."""
    anchored = sum(1 for g in PATTERNS if g.anchors is not None)
    assert anchored >= len(PATTERNS) // 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=40).map("".join))
def test_same_matches_as_re_on_generated_text(text: str) -> None:
    check(text)


@pytest.mark.slow
@pytest.mark.parametrize(
    "guarded", PATTERNS, ids=[g.pattern.pattern[:40] for g in PATTERNS]
)
def test_same_matches_as_re_on_text_the_pattern_matches(guarded: Guarded) -> None:
    """Text made from the pattern itself: every match it has must be found.

    This is what holds the data's needles to the pattern: "rehoming my dog" has no
    "home", and "can't stop using" no "drinking", so those needles missed them.
    """

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(st.from_regex(guarded.pattern, fullmatch=False))
    def matched(text: str) -> None:
        expected, found = spans(guarded, text)
        assert found == expected

    matched()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join))
def test_same_matches_as_re_on_generated_words(text: str) -> None:
    check(text)


def test_same_matches_as_re_on_the_corpus() -> None:
    texts = [c["text"] for path in (DEV, HELDOUT, PROBE) for c in load(path)["cases"]]
    for text in texts:
        check(text)
        check(text.upper())


@pytest.mark.parametrize(
    ("regex", "text", "expected"),
    [
        # a match starts only where a word starts
        (r"\b(?:tried|attempted)\s+to\b", "retried to; tried to", [(12, 20)]),
        # case-insensitive, folded letters included
        (r"\b(?:suicide)", "SUİCİDE ſuicide", [(0, 7), (8, 15)]),
        # overlapping starts: finditer goes on after a match
        (r"\b(?:no one|one)\b", "no one one", [(0, 6), (7, 10)]),
        # a digit start: any decimal digit at a word start, Arabic-Indic and
        # full-width ones too
        (
            r"\b(?P<age>\d{2})\s?(?-i:F)\b",
            "42F 142F x42F \u0664\u0662F \uff14\uff12 F",
            [(0, 3), (14, 17), (18, 22)],
        ),
        # a one-letter start, with the letters that fold to it
        (
            r"\bi\s*am\s+\d+",
            "I am 5; hi am 6; \u0130 am 7; \u0131 am 8",
            [(0, 6), (17, 23), (25, 31)],
        ),
        # a look-behind that is a word start
        (r"(?<!\w)bp\d", "bp1 xbp2 BP3 -bp4", [(0, 3), (9, 12), (14, 17)]),
    ],
)
def test_examples(regex: str, text: str, expected: list[tuple[int, int]]) -> None:
    guarded = guard(regex)
    assert guarded.anchors is not None
    assert spans(guarded, text) == (expected, expected)


@pytest.mark.parametrize(
    "text", ["xTRIED", "xTR\u0130ED", "xtr\u0131ed", "x\u017ftried"]
)
def test_needles_read_folded_letters(text: str) -> None:
    """A pattern tried only when its needle is in the text (not anchored) still finds
    words spelled with letters that case-insensitive matching folds to ASCII."""
    guarded = guard(r"(?<=x)tried|(?<=x)\u017ftried")
    assert guarded.anchors is None
    expected, found = spans(guarded, text)
    assert expected
    assert found == expected
