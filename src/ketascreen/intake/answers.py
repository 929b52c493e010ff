"""Validate answers against the form and turn them into facts.

Answers map item ids to values. ``null`` (or a missing key) means unanswered, which
stays unknown. Every problem is collected, so the caller sees one line per item, and
nothing is evaluated unless all answers are valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ketascreen.domain.facts import AtLeast
from ketascreen.domain.types import FactKind
from ketascreen.errors import AnswersError, Problem
from ketascreen.intake.form import Form, FormItem

MAX_TEXT = 5000
_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}
_UNSURE = {"unsure", "not sure", "don't know", "dont know", "unknown"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class FactSet:
    """Facts for one person, with where each came from.

    Attributes:
        values: fact id to value; a missing id is unknown.
        sources: where a fact came from when it is not an answer to its own item
            (derived, external, instrument score; later: note, FHIR). Answers are
            recognised from the form, see :func:`source_of`.
    """

    values: dict[str, Any]
    sources: dict[str, str]


def facts_from_answers(
    form: Form, answers: Mapping[str, Any], screening_date: date
) -> FactSet:
    """Validate answers and convert them to facts.

    Args:
        form: the form the answers belong to.
        answers: item id to answer value.
        screening_date: the date dates and durations are measured from.

    Returns:
        The facts, before instrument scoring.

    Raises:
        AnswersError: one problem per bad item.
    """
    if not isinstance(answers, Mapping):
        raise AnswersError(
            [Problem("answers", "expected an object mapping item ids to values")]
        )
    coded = form.coded
    try:
        # Fast path: exact spellings of coded answers, in one comprehension.
        values: dict[str, Any] = {
            key: value
            for key, raw in answers.items()
            if (accept := coded.get(key)) is not None
            and type(raw) is not bool
            and (value := accept.get(raw)) is not None
        }
    except TypeError:  # an unhashable value (e.g. a list) given to a coded item
        values = {}
    sources: dict[str, str] = {}
    problems: list[Problem] = []
    items = form.items
    for key, raw in answers.items():
        if key in values:
            continue
        item = items.get(key)
        if item is not None:
            kind = type(raw)
            if kind is list and item.multi_codes and raw:
                chosen = _fast_multi(item.multi_codes, item.exclusive_codes, raw)
                if chosen is not None:
                    values[key] = chosen
                    continue
            bounds = item.number_range
            if (
                bounds is not None
                and (kind is int or (kind is float and not item.integer))
                and bounds[0] <= raw <= bounds[1]
            ):
                values[key] = raw
                continue
        if raw is None and (item is not None or key in form.external):
            continue  # unanswered stays unknown
        _slow_answer(form, key, raw, screening_date, values, sources, problems)
    if problems:
        raise AnswersError(problems)
    return FactSet(values, sources)


def _fast_multi(
    codes: frozenset[str], exclusive: frozenset[str], raw: list[Any]
) -> frozenset[str] | None:
    """A multi-choice answer of exact codes, or None to take the slow path."""
    try:
        chosen = frozenset(raw)
    except TypeError:
        return None
    if chosen <= codes and (exclusive.isdisjoint(chosen) or len(chosen) == 1):
        return chosen
    return None


def source_of(form: Form, facts: FactSet, fact: str) -> str:
    """Where a fact came from: answer, instrument, derived, external, ..."""
    source = facts.sources.get(fact)
    if source is not None:
        return source
    if fact not in facts.values:
        return "unknown"
    item = form.items.get(fact)
    if item is None:
        spec = form.vocabulary.facts.get(fact)
        return (
            "instrument"
            if spec and spec.origin in ("score", "band", "flag")
            else "unknown"
        )
    return "instrument" if item.instrument else "answer"


def _slow_answer(
    form: Form,
    key: Any,
    raw: Any,
    screening_date: date,
    values: dict[str, Any],
    sources: dict[str, str],
    problems: list[Problem],
) -> None:
    """Validate one answer that the fast path did not settle."""
    if not isinstance(key, str):
        problems.append(Problem(str(key), "item ids must be text"))
        return
    if not key.strip():
        problems.append(Problem("(empty item id)", "item ids cannot be empty"))
        return
    item = form.items.get(key)
    if item is None:
        spec = form.external.get(key)
        if spec is None:
            problems.append(Problem(key, _unknown_id_message(form, key)))
            return
        external = _yes_no(raw, spec.kind)
        if external is None:
            problems.append(Problem(key, f"expected one of {list(spec.codes)}"))
            return
        values[key] = external
        sources[key] = "external"
        return
    try:
        value = normalise(item, raw, screening_date)
    except ValueError as exc:
        problems.append(Problem(key, str(exc)))
        return
    values[key] = value
    if item.derive_months_ago:
        derived = f"{key}_months_ago"
        values[derived] = _months_between(date.fromisoformat(value), screening_date)
        sources[derived] = "derived"


def _unknown_id_message(form: Form, key: str) -> str:
    if key in form.vocabulary:
        return "is computed from other answers and cannot be given directly"
    return "unknown item id (see `ketascreen questionnaire` for the list)"


def normalise(item: FormItem, raw: Any, screening_date: date) -> Any:
    """Check one answer and return its fact value.

    Args:
        item: the item answered.
        raw: the value given.
        screening_date: for date checks.

    Returns:
        The fact value.

    Raises:
        ValueError: with a message naming what was expected.
    """
    kind = item.kind
    if kind in (FactKind.yes_no, FactKind.yes_no_unsure):
        value = _yes_no(raw, kind)
        if value is None:
            allowed = (
                "yes, no or unsure" if kind == FactKind.yes_no_unsure else "yes or no"
            )
            raise ValueError(f"expected {allowed}, got {raw!r}")
        return value
    if item.choices and kind in (FactKind.single, FactKind.number):
        return _choice(item, raw)
    if kind == FactKind.multi:
        return _multi(item, raw)
    if kind == FactKind.number:
        return _number(item, raw)
    if kind == FactKind.duration:
        return _duration(item, raw)
    if kind == FactKind.date:
        return _date(raw, screening_date)
    return _text(raw)


def _yes_no(raw: Any, kind: FactKind) -> str | None:
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if not isinstance(raw, str):
        return None
    text = raw.strip().lower()
    if text in _YES:
        return "yes"
    if text in _NO:
        return "no"
    if kind == FactKind.yes_no_unsure and text in _UNSURE:
        return "unsure"
    return None


def _choice(item: FormItem, raw: Any) -> str | int:
    for code in item.codes:
        if raw == code and not isinstance(raw, bool):
            return code
        if isinstance(code, int) and isinstance(raw, str) and raw.strip() == str(code):
            return code
        if (
            isinstance(code, str)
            and isinstance(raw, str)
            and raw.strip().lower() == code
        ):
            return code
    raise ValueError(f"expected one of {list(item.codes)}, got {raw!r}")


def _multi(item: FormItem, raw: Any) -> frozenset[str]:
    chosen = _multi_codes(item, raw)
    if isinstance(raw, AtLeast):
        if chosen & item.exclusive_codes:
            raise ValueError(
                f"a partial list cannot hold {sorted(chosen & item.exclusive_codes)}"
            )
        return AtLeast(chosen)
    return chosen


def _multi_codes(item: FormItem, raw: Any) -> frozenset[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple | frozenset):
        raise ValueError(f"expected a list of codes from {list(item.codes)}")
    if not raw:
        hint = " or ['none']" if "none" in item.codes else ""
        raise ValueError(
            f"expected at least one code{hint}; leave it out if unanswered"
        )
    chosen: set[str] = set()
    for entry in raw:
        if not isinstance(entry, str) or entry.strip().lower() not in item.codes:
            raise ValueError(f"{entry!r} is not one of {list(item.codes)}")
        chosen.add(entry.strip().lower())
    exclusive = {c.value for c in item.choices if c.exclusive}
    if chosen & exclusive and len(chosen) > 1:
        raise ValueError(
            f"{sorted(chosen & exclusive)} cannot be combined with other choices"
        )
    return frozenset(chosen)


def _as_number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("expected a number, got true/false")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {raw!r}")


def _in_range(item: FormItem, value: float) -> float:
    low, high = item.minimum, item.maximum
    assert low is not None
    assert high is not None
    if not low <= value <= high:
        raise ValueError(
            f"{value:g} {item.unit} is out of range; expected {low:g} to {high:g}"
        )
    return value


def _number(item: FormItem, raw: Any) -> float | int:
    value = _in_range(item, _as_number(raw))
    if item.integer:
        if value != int(value):
            raise ValueError(f"expected a whole number, got {value:g}")
        return int(value)
    return value


def _duration(item: FormItem, raw: Any) -> float:
    if isinstance(raw, Mapping):
        if set(raw) != {"value", "unit"}:
            raise ValueError(
                'expected {"value": number, "unit": "days|weeks|months|years"}'
            )
        amount, unit = _as_number(raw["value"]), str(raw["unit"]).lower()
    elif isinstance(raw, str) and (match := _DURATION.match(raw.lower())):
        amount, unit = float(match.group(1)), match.group(2)
    else:
        return _in_range(item, _as_number(raw))
    unit = unit if unit.endswith("s") else unit + "s"
    if unit not in item.units:
        raise ValueError(f"unknown unit {unit!r}; expected one of {sorted(item.units)}")
    return _in_range(item, round(amount * item.units[unit], 4))


def _date(raw: Any, screening_date: date) -> str:
    if isinstance(raw, date):
        raw = raw.isoformat()
    if not isinstance(raw, str) or not re.fullmatch(r"\s*\d{4}-\d{2}(-\d{2})?\s*", raw):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {raw!r}")
    text = raw.strip()
    if re.fullmatch(r"\d{4}-\d{2}", text):
        text += "-01"
    try:
        when = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {raw!r}") from None
    if when > screening_date:
        raise ValueError(f"{when.isoformat()} is after the screening date")
    if when.year < 1900:
        raise ValueError(f"{when.isoformat()} is too far in the past")
    return when.isoformat()


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    if len(raw) > MAX_TEXT:
        raise ValueError(
            f"text is too long ({len(raw)} characters; at most {MAX_TEXT})"
        )
    return raw


def _months_between(earlier: date, later: date) -> float:
    return round((later - earlier).days / 30.4375, 2)
