"""The one-call API: ``screen(answers) -> ScreeningResult``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.intake.answers import FactSet, facts_from_answers
from ketascreen.rules.engine import evaluate
from ketascreen.rules.loader import Content, load_content


@lru_cache(maxsize=8)
def _cached(ruleset: str | None, instruments: tuple[str, ...]) -> Content:
    return load_content(ruleset, instruments)


def get_content(
    ruleset: str | Path | None = None, instruments: Sequence[str | Path] = ()
) -> Content:
    """Load (once per process) and return the content bundle.

    Args:
        ruleset: ``None``/``"default"`` or a path to a clinic ruleset file.
        instruments: extra instruments (bundled ids or file paths).

    Returns:
        The compiled content.
    """
    key = None if ruleset is None else str(ruleset)
    return _cached(key, tuple(str(i) for i in instruments))


def screen(
    answers: Mapping[str, Any],
    *,
    ruleset: str | Path | None = None,
    instruments: Sequence[str | Path] = (),
    screening_date: date | None = None,
    content: Content | None = None,
    sources: Mapping[str, str] | None = None,
) -> ScreeningResult:
    """Screen one person from their answers.

    Args:
        answers: questionnaire item id to value; missing or null means unanswered.
        ruleset: a clinic ruleset file layered over the default (optional).
        instruments: extra instruments a clinic added (optional).
        screening_date: the date of screening (default: today).
        content: an already loaded content bundle (overrides ruleset/instruments).
        sources: where answers came from when not from the person (item id to e.g.
            ``note``); shown with the evidence.

    Returns:
        The screening result.

    Raises:
        AnswersError: an answer is invalid; nothing is evaluated.
        ContentError: a content file is malformed.
    """
    bundle = content or get_content(ruleset, instruments)
    when = screening_date or date.today()  # noqa: DTZ011 - the clinic's local date is meant
    facts = facts_from_answers(bundle.form, answers, when)
    if sources:
        facts = FactSet(facts.values, {**facts.sources, **sources})
    return evaluate(bundle, facts, when)
