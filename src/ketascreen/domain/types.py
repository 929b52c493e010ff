"""Levels, dispositions and fact kinds."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """How serious a finding is. ``info`` never changes the disposition."""

    urgent_safety = "urgent_safety"
    not_recommended_now = "not_recommended_now"
    needs_specialist_review = "needs_specialist_review"
    prepare_first = "prepare_first"
    info = "info"


class Disposition(StrEnum):
    """The overall result; the most severe finding wins."""

    urgent_safety = "urgent_safety"
    not_recommended_now = "not_recommended_now"
    needs_specialist_review = "needs_specialist_review"
    prepare_first = "prepare_first"
    no_concerns_found = "no_concerns_found"


#: Higher is more severe. Shared by levels and dispositions (same names).
SEVERITY: dict[str, int] = {
    "urgent_safety": 4,
    "not_recommended_now": 3,
    "needs_specialist_review": 2,
    "prepare_first": 1,
    "no_concerns_found": 0,
    "info": 0,
}


def disposition_for(level: str) -> Disposition:
    """Map a finding level to the disposition it would set on its own."""
    return Disposition.no_concerns_found if level == Level.info else Disposition(level)


class FactKind(StrEnum):
    """The type of a fact's value.

    ``yes_no_unsure`` and ``yes_no`` hold the codes ``"yes"``, ``"no"`` (and
    ``"unsure"``); ``single`` holds one option code; ``multi`` a frozenset of codes;
    ``number`` and ``duration`` a number (duration in the item's unit); ``date`` an
    ISO date string; ``text`` free text; ``boolean`` True/False (instrument flags).
    A missing fact is unknown: it is simply absent, never ``"no"``.
    """

    yes_no_unsure = "yes_no_unsure"
    yes_no = "yes_no"
    single = "single"
    multi = "multi"
    number = "number"
    duration = "duration"
    date = "date"
    text = "text"
    boolean = "boolean"
