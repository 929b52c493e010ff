"""A note's candidate answers, together with a person's answers, as one screening.

- Every candidate is checked as the questionnaire would check it; one that is not a
  valid answer (an age of 250) is reported, not used.
- Multi-choice answers from a note are partial ("at least these"): a note names what it
  mentions and rules nothing else out. A note's "no drug use" is a whole answer.
- When values disagree (within the note, or between the note and the person's answers),
  every value is kept and the item is flagged for clinician review. The value used is
  the one that leads to more caution: each is tried, and the one whose screening is most
  severe wins. So a note can never erase a suicide-risk signal or a
  ``not_recommended_now`` finding that the answers gave; a final check makes sure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ketascreen.domain.facts import AtLeast
from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.types import SEVERITY, FactKind, Level
from ketascreen.errors import AnswersError
from ketascreen.intake.answers import facts_from_answers
from ketascreen.nlp.rules import load_nlp_content
from ketascreen.nlp.scanner import (
    DEFAULT_MAX_BYTES,
    Candidate,
    Ignored,
    Mention,
    NoteScan,
    scan,
)
from ketascreen.rules.loader import Content
from ketascreen.screening import get_content, screen

ANSWER = "answer"
NOTE = "note"
_KEPT_LEVELS = frozenset({Level.urgent_safety, Level.not_recommended_now})


@dataclass(frozen=True)
class Offer:
    """One value an item was given, and where it came from."""

    value: Any
    source: str
    mentions: tuple[Mention, ...] = ()


@dataclass(frozen=True)
class Conflict:
    """An item whose sources disagree: flagged for clinician review."""

    item: str
    label: str
    offers: tuple[Offer, ...]
    used: Any
    why: str


@dataclass(frozen=True)
class NoteFact:
    """An answer the note gave (or confirmed), with its evidence."""

    item: str
    label: str
    value: Any
    mentions: tuple[Mention, ...]


@dataclass(frozen=True)
class NotUsed:
    """A candidate from the note that is not a valid answer."""

    item: str
    value: Any
    mention: Mention
    reason: str


@dataclass(frozen=True)
class NoteScreening:
    """A screening that read a note, and what the note contributed."""

    result: ScreeningResult
    answers: dict[str, Any]
    facts: tuple[NoteFact, ...]
    conflicts: tuple[Conflict, ...]
    ignored: tuple[Ignored, ...]
    not_used: tuple[NotUsed, ...]


def screen_with_note(
    note: str,
    answers: Mapping[str, Any] | None = None,
    *,
    screening_date: date,
    content: Content | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> NoteScreening:
    """Screen from a note, alone or with a person's answers.

    Args:
        note: the free text.
        answers: the person's answers (already valid or not: they are checked).
        screening_date: the date times in the note are measured from.
        content: the content bundle (default: the bundled one).
        max_bytes: the note size cap.

    Raises:
        NoteError: the note is empty, too long or not text.
        AnswersError: the person's answers are invalid.
    """
    bundle = content or get_content()
    given = dict(answers or {})
    baseline = (
        screen(given, screening_date=screening_date, content=bundle) if given else None
    )
    found = scan(note, screening_date, max_bytes)
    offers, not_used = _note_offers(bundle, found, screening_date)
    merged, sources, conflicts = _merge(bundle, given, offers)
    chosen = _choose(bundle, merged, conflicts, screening_date, sources)
    if baseline is not None:
        chosen = _keep_answer_findings(
            bundle, baseline, chosen, given, screening_date, sources
        )
    result = screen(
        chosen.answers, screening_date=screening_date, content=bundle, sources=sources
    )
    label = bundle.form.vocabulary.label
    facts = tuple(
        NoteFact(
            item,
            label(item),
            _plain(chosen.answers.get(item)),
            tuple(m for offer in item_offers for m in offer.mentions),
        )
        for item, item_offers in offers.items()
    )
    return NoteScreening(
        result=result,
        answers={k: _plain(v) for k, v in chosen.answers.items()},
        facts=facts,
        conflicts=tuple(
            Conflict(
                c.item,
                label(c.item),
                c.offers,
                _plain(chosen.answers.get(c.item)),
                chosen.why.get(c.item, ""),
            )
            for c in conflicts
        ),
        ignored=tuple(found.ignored),
        not_used=tuple(not_used),
    )


# ---- offers from the note ---------------------------------------------------------


def _note_offers(
    bundle: Content, found: NoteScan, when: date
) -> tuple[dict[str, list[Offer]], list[NotUsed]]:
    """Valid note values per item: one offer per distinct value, with its mentions."""
    form = bundle.form
    by_item: dict[str, dict[Any, list[Mention]]] = {}
    not_used: list[NotUsed] = []
    for candidate in _latest_readings(found.candidates):
        value = candidate.value
        spec = form.items.get(candidate.item)
        if spec is not None and spec.kind == FactKind.multi:
            codes = [value] if isinstance(value, str) else list(value)
            for code in codes:
                if _valid(form, candidate, [code], when, not_used):
                    by_item.setdefault(candidate.item, {}).setdefault(
                        ("code", code), []
                    ).append(candidate.mention)
            continue
        if _valid(form, candidate, value, when, not_used):
            by_item.setdefault(candidate.item, {}).setdefault(value, []).append(
                candidate.mention
            )
    offers: dict[str, list[Offer]] = {}
    for item, values in by_item.items():
        spec = form.items.get(item)
        if spec is not None and spec.kind == FactKind.multi:
            offers[item] = _multi_offers(spec.exclusive_codes, values)
        else:
            offers[item] = [
                Offer(value, NOTE, tuple(mentions))
                for value, mentions in values.items()
            ]
    return offers, not_used


def _multi_offers(
    exclusive: frozenset[str], values: dict[Any, list[Mention]]
) -> list[Offer]:
    """Codes a note names are one partial answer; "none of these" is another."""
    codes = {key[1]: mentions for key, mentions in values.items()}
    named = {c: m for c, m in codes.items() if c not in exclusive}
    offers: list[Offer] = []
    if named:
        offers.append(
            Offer(AtLeast(named), NOTE, tuple(m for ms in named.values() for m in ms))
        )
    for code, found in codes.items():
        if code in exclusive:
            offers.append(Offer([code], NOTE, tuple(found)))
    return offers


def _latest_readings(candidates: list[Candidate]) -> list[Candidate]:
    """Of several measurements of one item, the latest in the note counts."""
    readings = {r.id for r in load_nlp_content().values.readings}
    last: dict[str, int] = {}
    for candidate in candidates:
        if candidate.mention.source in readings:
            last[candidate.item] = max(
                last.get(candidate.item, -1), candidate.mention.start
            )
    return [
        c
        for c in candidates
        if c.mention.source not in readings or c.mention.start == last[c.item]
    ]


def _valid(
    form: Any, candidate: Candidate, value: Any, when: date, not_used: list[NotUsed]
) -> bool:
    try:
        facts_from_answers(form, {candidate.item: value}, when)
    except AnswersError as exc:
        reason = "; ".join(p.message for p in exc.problems)
        not_used.append(NotUsed(candidate.item, value, candidate.mention, reason))
        return False
    return True


# ---- merging with the person's answers -------------------------------------------


@dataclass
class _Open:
    item: str
    offers: tuple[Offer, ...]


def _merge(
    bundle: Content, given: dict[str, Any], offers: dict[str, list[Offer]]
) -> tuple[dict[str, list[Offer]], dict[str, str], list[_Open]]:
    """Every item's possible values; the items with more than one are conflicts."""
    form = bundle.form
    merged: dict[str, list[Offer]] = {k: [Offer(v, ANSWER)] for k, v in given.items()}
    sources: dict[str, str] = {}
    conflicts: list[_Open] = []
    for item, note_offers in offers.items():
        spec = form.items.get(item)
        answer = given.get(item)
        options = [Offer(answer, ANSWER)] if answer is not None else []
        if spec is not None and spec.kind == FactKind.multi:
            options = _merge_multi(spec.exclusive_codes, options, note_offers)
        else:
            options += [o for o in note_offers if o.value != answer]
        merged[item] = options
        if answer is None or len(options) > 1:
            sources[item] = NOTE if answer is None else "answer and note"
        if len(options) > 1:
            conflicts.append(_Open(item, tuple(options)))
    return merged, sources, conflicts


def _merge_multi(
    exclusive: frozenset[str], answer: list[Offer], note: list[Offer]
) -> list[Offer]:
    """The person's list with the note's codes added; "none" against codes is a conflict."""
    partial = [o for o in note if isinstance(o.value, AtLeast)]
    nothing = [o for o in note if not isinstance(o.value, AtLeast)]
    if not answer:
        return partial + nothing if partial else nothing
    given = frozenset(str(v).lower() for v in _as_list(answer[0].value))
    added = frozenset(c for o in partial for c in o.value) - given
    options = list(answer)
    if added:
        union = sorted((given - exclusive) | added)
        mentions = tuple(m for o in partial for m in o.mentions)
        options.append(Offer(union, "answer and note", mentions))
    if nothing and not (given <= exclusive):
        options += nothing
    return options


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


# ---- choosing among disagreeing values -------------------------------------------


@dataclass
class _Chosen:
    answers: dict[str, Any]
    why: dict[str, str]


def _choose(
    bundle: Content,
    merged: dict[str, list[Offer]],
    conflicts: list[_Open],
    when: date,
    sources: dict[str, str],
) -> _Chosen:
    answers = {item: offers[0].value for item, offers in merged.items() if offers}
    why: dict[str, str] = {}
    for conflict in conflicts:
        best: tuple[tuple[int, int], int] | None = None
        for index, offer in enumerate(conflict.offers):
            trial = {**answers, conflict.item: offer.value}
            key = _severity(
                screen(trial, screening_date=when, content=bundle, sources=sources)
            )
            if best is None or key > best[0]:
                best = (key, index)
        assert best is not None
        chosen = conflict.offers[best[1]]
        answers[conflict.item] = chosen.value
        why[conflict.item] = (
            f"sources disagree; the {chosen.source}'s value is used because it leads to "
            "more caution. A clinician should check this item."
        )
    return _Chosen(answers, why)


def _severity(result: ScreeningResult) -> tuple[int, int]:
    return (
        SEVERITY[result.disposition],
        sum(SEVERITY[f.level] for f in result.findings),
    )


def _keep_answer_findings(
    bundle: Content,
    baseline: ScreeningResult,
    chosen: _Chosen,
    given: dict[str, Any],
    when: date,
    sources: dict[str, str],
) -> _Chosen:
    """A note never takes away a serious finding the person's answers gave."""
    kept = {
        f.rule_id
        for f in baseline.findings
        if f.level in _KEPT_LEVELS or f.domain == "suicide_risk"
    }
    result = screen(
        chosen.answers, screening_date=when, content=bundle, sources=sources
    )
    lost = kept - {f.rule_id for f in result.findings}
    if not lost:
        return chosen
    answers = {**chosen.answers, **given}
    why = dict(chosen.why)
    for item in given:
        if item in why:
            why[item] = (
                "sources disagree; the person's answer is kept so that no serious "
                "finding from it is lost. A clinician should check this item."
            )
    return _Chosen(answers, why)


def _plain(value: Any) -> Any:
    """A value as JSON can hold it (partial lists become sorted lists)."""
    if isinstance(value, frozenset):
        return sorted(value)
    return value
