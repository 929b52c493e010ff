"""Load the labelled note corpus and compute each case's expected screening result.

The corpus (``tests/nlp/corpus/*.yaml``) holds short invented clinical texts, the
answers a careful clinician would code from each text alone, and the expected
disposition and flagged domains. The expectation is never written by hand: it is what
the screening engine gives on the coded answers, so this module is shared by the
consistency test and by ``fill_corpus_expect.py``, which writes it into the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ketascreen.domain.facts import AtLeast
from ketascreen.nlp.evaluate import found
from ketascreen.screening import screen

CORPUS_DIR = Path(__file__).parent / "corpus"
DEV = CORPUS_DIR / "dev.yaml"
HELDOUT = CORPUS_DIR / "heldout.yaml"
PROBE = CORPUS_DIR / "probe.yaml"
FILES = (DEV, HELDOUT, PROBE)

VOICES = frozenset({"patient", "coordinator", "clinician"})

DOMAINS = frozenset(
    {
        "mood",
        "psychosis_dissociation",
        "trauma",
        "substance_active",
        "substance_past",
        "cardiovascular",
        "neurological",
        "pregnancy",
        "emotional_regulation",
        "expectations",
        "autonomy",
        "suicide_risk",
        "medications",
        "allergy",
        "age",
    }
)

# What a case exercises, besides the domains it touches.
MENTION_TAGS = frozenset(
    {
        "positive",  # the condition is present and stated
        "negated",  # a denial ("denies SI", "NKDA", "not pregnant")
        "family",  # a relative's condition, not the person's
        "historical",  # a past condition or use
        "hypothetical",  # a question or a plan about the future
        "worried",  # a worry, not a fact
        "possible",  # uncertain now ("late period", "not sure it was an allergy")
        "declined",  # the person would not answer
        "threshold",  # a value near a cut-off (BP, months, age, AUDIT-C)
        "date",  # a date or month to resolve against the screening date
        "repeated_reading",  # more than one measurement; the latest counts
        "vitals",
        "brand_name",
        "street_name",
        "abbreviation",
        "all_caps",
        "typo",
        "full_note",
        "multi_domain",
        "other_medical",  # thyroid, liver, bladder, glaucoma and the like
        "benign",  # nothing concerning once read carefully
    }
)
TAGS = DOMAINS | MENTION_TAGS


def load(path: Path) -> dict[str, Any]:
    """Read one corpus file."""
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def screening_date(corpus: Mapping[str, Any]) -> date:
    """The date every relative time in the corpus is resolved against."""
    value = corpus["screening_date"]
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def as_facts(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Coded answers as screening input: a list from a note means "at least these"."""
    return {
        key: (AtLeast(value) if isinstance(value, list) else value)
        for key, value in answers.items()
    }


def expected(answers: Mapping[str, Any], when: date) -> dict[str, Any]:
    """The engine's disposition and flagged domains for these coded answers.

    Raises:
        AnswersError: an answer is not valid for the questionnaire.
    """
    result = found(screen(as_facts(answers), screening_date=when))
    return {"disposition": str(result.disposition), "domains": list(result.domains)}
