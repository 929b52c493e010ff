"""A free-text note in the web app: reading it with stored answers, and its JSON shape.

The scanner (spaCy and medspaCy) loads on first use, so the app starts without it. Its
pipeline is not documented as safe to share between threads, and routes run in a
thread pool, so one lock serialises the reading of notes in a process.

The models below describe ``ketascreen.nlp.report.note_json`` for the OpenAPI schema;
a test checks real output against them, so they cannot drift apart unnoticed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.rules.loader import Content

_lock = threading.Lock()


@dataclass(frozen=True)
class NoteReading:
    """A screening of answers with a note, and the record to store with it."""

    result: ScreeningResult
    record: dict[str, Any]

    @property
    def report(self) -> dict[str, Any]:
        """What the note contributed, as the JSON API returns it."""
        report: dict[str, Any] = self.record["report"]
        return report


def screen_note(
    note: str,
    answers: Mapping[str, Any] | None,
    *,
    content: Content,
    max_bytes: int,
    screening_date: date | None = None,
) -> NoteReading:
    """Screen the answers with the note.

    Args:
        note: the pasted text (untrusted).
        answers: the person's answers (checked again).
        content: the app's content bundle.
        max_bytes: the note size cap (``KETASCREEN_NOTE_MAX_BYTES``).
        screening_date: the date times in the note count from; default today.

    Returns:
        The result, and a record of the note (its text, what it contributed and the
        answers used) to be sealed with the screening.

    Raises:
        NoteError: the note is empty, too long or not text (field ``note``).
        AnswersError: the answers are not valid.
    """
    from ketascreen.nlp.merge import screen_with_note
    from ketascreen.nlp.report import note_json
    from ketascreen.nlp.scanner import check_note

    check_note(note, max_bytes)  # before waiting for the lock
    when = screening_date or date.today()  # noqa: DTZ011 - the clinic's local date
    with _lock:
        noted = screen_with_note(
            note,
            answers,
            screening_date=when,
            content=content,
            max_bytes=max_bytes,
        )
        report = note_json(noted)
    record = {"text": note, "report": report, "answers_used": noted.answers}
    return NoteReading(noted.result, record)


class NoteModifier(BaseModel):
    """A ConText modifier that applied to a mention."""

    model_config = ConfigDict(extra="forbid")
    category: str = Field(description="e.g. NEGATED_EXISTENCE, HISTORICAL, FAMILY.")
    text: str = Field(description="The words in the note that gave it.")


class NoteEvidence(BaseModel):
    """Where in the note a value came from, and how it was read."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The words matched.")
    start: int = Field(description="Character offset of the match in the note.")
    end: int = Field(description="End offset of the match in the note.")
    sentence: str = Field(description="The sentence the match is in.")
    context: str = Field(
        description="How it was read: present, past, negated, possible, family, "
        "allergy, nonmedical, …"
    )
    modifiers: list[NoteModifier] = Field(description="ConText modifiers that applied.")
    section: str | None = Field(description="The note heading it falls under.")
    source: str = Field(description="The scanner concept or value pattern id.")
    detail: str | None = Field(description="Anything else worth knowing (a time read).")


class NoteFact(BaseModel):
    """An answer the note gave or confirmed."""

    model_config = ConfigDict(extra="forbid")
    item: str = Field(description="Questionnaire item id.")
    label: str = Field(description="The item's label.")
    value: Any = Field(description="The value used in the screening.")
    evidence: list[NoteEvidence]


class NoteValue(BaseModel):
    """One value an item was given, and by whom."""

    model_config = ConfigDict(extra="forbid")
    value: Any
    source: str = Field(description="answer, note, or answer and note.")
    evidence: list[NoteEvidence]


class NoteConflict(BaseModel):
    """An item whose sources disagree: a clinician should review it."""

    model_config = ConfigDict(extra="forbid")
    item: str
    label: str
    needs_review: bool = Field(description="Always true.")
    values: list[NoteValue] = Field(description="Every value given, with its source.")
    used: Any = Field(description="The value the screening used.")
    why: str = Field(description="Why that value was used.")


class NoteNotUsed(NoteEvidence):
    """A mention that gave no answer, or a value that is not a valid answer."""

    item: str | None = Field(default=None, description="The item, for a bad value.")
    value: Any = Field(default=None, description="The value that was not valid.")
    reason: str = Field(description="Why it was not used.")


class NotePublic(BaseModel):
    """What a free-text note contributed to a screening (for clinicians)."""

    model_config = ConfigDict(extra="forbid")
    scanner_content: dict[str, str] = Field(
        description="Versions of the scanner's content files (concepts, sections, …)."
    )
    facts: list[NoteFact]
    conflicts: list[NoteConflict]
    not_used: list[NoteNotUsed]
