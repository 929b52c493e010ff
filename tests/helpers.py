"""Helpers shared by tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from ketascreen import screen
from ketascreen.domain.outcome import ScreeningResult

SCREENING_DATE = date(2026, 11, 27)


def run(answers: dict[str, Any], **kwargs: Any) -> ScreeningResult:
    """Screen with the default content on a fixed date."""
    return screen(answers, screening_date=SCREENING_DATE, **kwargs)


def fired(result: ScreeningResult) -> set[str]:
    """Rule ids that fired (unresolved placeholders excluded)."""
    return {f.rule_id for f in result.findings if not f.unresolved}
