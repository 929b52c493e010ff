"""Read one questionnaire page from an HTML form and validate it item by item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ketascreen.domain.types import FactKind
from ketascreen.intake.answers import normalise
from ketascreen.intake.form import FormItem


@dataclass(frozen=True)
class PageInput:
    """What one page submitted: stored answers, the raw text to re-show, and errors."""

    answers: dict[str, Any]
    raw: dict[str, Any]
    errors: dict[str, str]


def read_page(
    items: Sequence[FormItem], form: Mapping[str, Sequence[str]], today: date
) -> PageInput:
    """Validate the submitted fields of the given items.

    Args:
        items: the items shown on the page.
        form: field name to submitted values (a multi-dict as lists).
        today: the screening date.

    Returns:
        Valid answers (JSON-ready), the raw values, and one message per bad item.
    """
    answers: dict[str, Any] = {}
    raw_values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in items:
        raw = _raw(item, form)
        raw_values[item.id] = raw
        if raw is None:
            continue
        try:
            value = normalise(item, raw, today)
        except ValueError as exc:
            errors[item.id] = _kind_words(str(exc))
            continue
        answers[item.id] = sorted(value) if isinstance(value, frozenset) else value
    return PageInput(answers, raw_values, errors)


def _first(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


def _raw(item: FormItem, form: Mapping[str, Sequence[str]]) -> Any:
    if item.kind == FactKind.multi:
        picked = [v for v in form.get(item.id, []) if v]
        return picked or None
    text = _first(form, item.id)
    if not text:
        return None
    if item.kind == FactKind.duration:
        return {
            "value": text,
            "unit": _first(form, item.id + "__unit") or item.unit or "",
        }
    return text


def _kind_words(message: str) -> str:
    """Turn a validation message into words for the person."""
    return "Please check this answer: " + message[0].lower() + message[1:] + "."
