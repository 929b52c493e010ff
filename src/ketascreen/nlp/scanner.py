"""Free text -> candidate answers with evidence.

Each concept mention is read in its context, decided in this order:

1. someone else's (ConText FAMILY, or a Family Hx heading) -> the concept's ``family``
   answers; another person (OTHER_EXPERIENCER) -> nothing;
2. hypothetical (a worry, plan or condition) -> nothing;
3. negated -> ``negated``; uncertain -> ``possible``;
4. under an Allergies heading -> ``allergy``;
5. a time in the same sentence that fits the concept's duration item -> the current
   answers and that duration; one beyond the item's range, or "in college" -> past;
6. non-medical use (NONMEDICAL_USE) -> ``nonmedical``;
7. historical (ConText, or a history heading) -> ``past``; otherwise ``present``.

Qualifiers (same-sentence detail such as "well controlled" or "BID") add to a mention
about the person. Measurements, amounts and drinking come from ``values.yaml``. The
scanner only proposes answers; :mod:`.merge` chooses among disagreeing ones.
"""

from __future__ import annotations

import re
import warnings
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from typing import Any

from ketascreen.errors import InputError, Problem
from ketascreen.nlp.pipeline import (
    TEXT_KEY,
    SectionIndex,
    build_pipeline,
    doc_text,
    note_text,
)
from ketascreen.nlp.prefilter import Guarded, guard
from ketascreen.nlp.rules import Concept, NlpContent, Screener, load_nlp_content
from ketascreen.nlp.times import TimeMention, find_times
from ketascreen.screening import get_content

DEFAULT_MAX_BYTES = 200_000
_ROUND = 1  # decimals kept on durations in months


class NoteError(InputError):
    """A note that cannot be read (empty, too long, not text)."""


@dataclass(frozen=True)
class Modifier:
    """A ConText modifier that applied to a mention."""

    category: str
    text: str


@dataclass(frozen=True)
class Mention:
    """Where in the note an answer came from.

    Args:
        source: the concept or value pattern id.
        text: the words matched.
        start: character offset in the note.
        end: end offset in the note.
        sentence: the sentence it is in.
        context: how it was read (present, past, negated, possible, family, ...).
        modifiers: the ConText modifiers that applied.
        section: the note heading it falls under, if any.
        detail: anything else the clinician should know (the time read, a choice).
    """

    source: str
    text: str
    start: int
    end: int
    sentence: str
    context: str
    modifiers: tuple[Modifier, ...] = ()
    section: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Candidate:
    """One answer a mention gives."""

    item: str
    value: Any
    mention: Mention


@dataclass(frozen=True)
class Ignored:
    """A mention that gave no answer, and why (shown to the clinician)."""

    mention: Mention
    reason: str


@dataclass
class NoteScan:
    """What a note says: candidate answers, and mentions that gave none."""

    candidates: list[Candidate] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


def read_note(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Decode and check a note's bytes.

    Raises:
        NoteError: empty, over ``max_bytes``, binary or not UTF-8.
    """
    if len(data) > max_bytes:
        raise NoteError(
            [
                Problem(
                    "note",
                    f"is {len(data):,} bytes; the limit is {max_bytes:,} "
                    "(KETASCREEN_NOTE_MAX_BYTES)",
                )
            ]
        )
    if b"\x00" in data:
        raise NoteError([Problem("note", "looks like a binary file, not text")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NoteError(
            [Problem("note", f"is not UTF-8 text (byte {exc.start}: {exc.reason})")]
        ) from exc
    check_note(text, max_bytes)
    return text


def check_note(text: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Reject an empty, oversized or control-character-laden note."""
    if not text.strip():
        raise NoteError([Problem("note", "is empty")])
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # half a surrogate pair: no tokenizer takes it
        message = "is not text (it holds an unpaired surrogate)"
        raise NoteError([Problem("note", message)]) from None
    if size > max_bytes:
        raise NoteError(
            [Problem("note", f"is {size:,} bytes; the limit is {max_bytes:,}")]
        )
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise NoteError([Problem("note", "looks like a binary file, not text")])


def scan(text: str, today: date, max_bytes: int = DEFAULT_MAX_BYTES) -> NoteScan:
    """Read a note into candidate answers.

    Args:
        text: the note.
        today: the screening date, for "in March" and "2 months ago".
        max_bytes: the size cap.

    Returns:
        Candidate answers with evidence, and the mentions that gave none.

    Raises:
        NoteError: the note is empty, too long or not text.
    """
    check_note(text, max_bytes)
    content = load_nlp_content()
    with warnings.catch_warnings():
        # W036: a medspaCy matcher with phrase rules only has an empty token matcher
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        nlp = build_pipeline()
        clean = _normalise(text)
        doc = nlp.make_doc(clean)
        doc.user_data[TEXT_KEY] = clean  # the components read it, not Doc.text
        for _, component in nlp.pipeline:
            doc = component(doc)
    result = NoteScan()
    full = doc_text(doc)
    sents = [
        _Sentence(sent.start, sent.start_char, full[sent.start_char : sent.end_char])
        for sent in doc.sents
    ]
    note = _Note(sents, SectionIndex(doc), {})
    token_starts = [sent.start for sent in sents]
    for ent in doc.ents:
        concept = content.concepts.get(ent.label_)
        if concept is not None:
            index = bisect_right(token_starts, ent.start) - 1
            _read_mention(content, concept, ent, note, index, today, result)
    _read_values(content, doc, note, result)
    return result


@dataclass(frozen=True)
class _Sentence:
    """A sentence's first token, offset and text (spaCy rebuilds ``.text`` each time)."""

    start: int
    start_char: int
    text: str


@dataclass(frozen=True)
class _Note:
    """What one scan keeps about its note: sentences, headings, times per sentence."""

    sents: list[_Sentence]
    sections: SectionIndex
    times: dict[int, list[TimeMention]]


def _normalise(text: str) -> str:
    """Same length as the input, so offsets stay true: odd spaces become spaces."""
    return text.translate(_SPACES)


_SPACES = {ord(ch): " " for ch in "\u00a0\u2007\u202f\t\u200b"}


# ---- concepts ----------------------------------------------------------------------


def _read_mention(
    content: NlpContent,
    concept: Concept,
    ent: Any,
    note: _Note,
    index: int,
    today: date,
    out: NoteScan,
) -> None:
    sents = note.sents
    sent = sents[index]
    if concept.requires is not None and not _compiled(concept.requires).search(
        sent.text
    ):
        return  # "relapsing-remitting MS" is not a relapse into drinking
    found = [m for m in ent._.modifiers if not _is_heading(m, ent.doc)]
    modifiers = tuple(
        Modifier(str(m.category), _modifier_text(m, ent.doc)) for m in found
    )
    categories = {
        modifier.category
        for raw, modifier in zip(found, modifiers, strict=True)
        if _counts(concept, modifier) and not _own_words(raw, ent)
    }
    if concept.not_with is not None and _compiled(concept.not_with).search(sent.text):
        categories.add("HYPOTHETICAL")
    if concept.past_cue is not None:
        before = sent.text[
            max(0, ent.start_char - sent.start_char - 60) : ent.start_char
            - sent.start_char
        ]
        if _compiled(concept.past_cue + r"[^.;\n]{0,30}$").search(before):
            categories.add("HISTORICAL")
    section = note.sections.at(ent.start)
    reads_as = _reads_as(content, section)
    context, detail, timed = _context(
        content, concept, ent, sent, categories, reads_as, today, note
    )
    mention = Mention(
        source=concept.id,
        text=ent.text,
        start=ent.start_char,
        end=ent.end_char,
        sentence=sent.text.strip(),
        context=context,
        modifiers=modifiers,
        section=section,
        detail=detail,
    )
    if context in ("other", "hypothetical"):
        out.ignored.append(Ignored(mention, _IGNORED[context]))
        return
    answers = dict(concept.answers_for(context))
    if context in ("present", "past", "nonmedical", "nonmedical_past", "allergy"):
        following = sents[index + 1].text if index + 1 < len(sents) else ""
        at = ent.start_char - sent.start_char
        for item, value in _qualifiers(concept, sent.text, following, at).items():
            answers[item] = value
    answers.update(timed)
    if not answers:
        out.ignored.append(
            Ignored(mention, f"a {context} mention of this answers nothing")
        )
        return
    for item, value in answers.items():
        out.candidates.append(Candidate(item, value, mention))


_IGNORED = {
    "other": "about another person",
    "hypothetical": "a worry, plan or condition, not a fact",
}


def _context(
    content: NlpContent,
    concept: Concept,
    ent: Any,
    sent: Any,
    categories: set[str],
    reads_as: str | None,
    today: date,
    note: _Note,
) -> tuple[str, str | None, dict[str, Any]]:
    """How a mention is meant, a note on why, and the answers its time gives."""
    if "FAMILY" in categories or reads_as == "family":
        if "NEGATED_EXISTENCE" in categories:
            return (
                "other",
                None,
                {},
            )  # "no family history of ...": nothing about the person
        return "family", None, {}
    if "OTHER_EXPERIENCER" in categories:
        return "other", None, {}
    if "HYPOTHETICAL" in categories:
        return "hypothetical", None, {}
    if "NEGATED_EXISTENCE" in categories:
        return "negated", None, {}
    if "POSSIBLE_EXISTENCE" in categories:
        return "possible", None, {}
    if reads_as == "allergies":
        return "allergy", None, {}
    nonmedical = "NONMEDICAL_USE" in categories
    current = "nonmedical" if nonmedical else "present"
    if concept.time is not None and current in concept.time.contexts:
        time = _nearest_time(content, ent, sent, today, concept.time.habit, note)
        if time is not None:
            return _timed(concept, time, current)
    if "HISTORICAL" in categories or reads_as == "past":
        return ("nonmedical_past" if nonmedical else "past"), None, {}
    return current, None, {}


def _timed(
    concept: Concept, time: TimeMention, current: str
) -> tuple[str, str | None, dict[str, Any]]:
    assert concept.time is not None
    link = concept.time
    past = "nonmedical_past" if current == "nonmedical" else "past"
    if time.months is None:
        return past, f"'{time.text}': in the past, time not known", {}
    months = round(time.months, _ROUND)
    note = f"'{time.text}' read as {months:g} months" + (
        " or more" if time.at_least else ""
    )
    answers: dict[str, Any] = {}
    for band in link.bands:
        if band.holds(months):
            answers.update(band.answers)
    if (
        link.past_after is not None
        and time.kind == "point"
        and months > link.past_after
    ):
        return past, note + " (past)", answers
    if link.item is None:
        return current, note, answers
    maximum = get_content().form.items[link.item].maximum
    if maximum is not None and months > maximum:
        if link.beyond_maximum == "past":
            return past, note + f", beyond {link.item}'s {maximum:g}", answers
        return current, note + f", beyond {link.item}'s {maximum:g}: not used", answers
    return current, note, {**answers, link.item: months, **link.within}


def _nearest_time(
    content: NlpContent, ent: Any, sent: Any, today: date, habit: bool, note: _Note
) -> TimeMention | None:
    found = note.times.get(sent.start_char)
    if found is None:
        found = find_times(sent.text, today, content.values.number_words)
        note.times[sent.start_char] = found
    times = [t for t in found if habit or not t.habit]
    if not times:
        return None
    start = ent.start_char - sent.start_char
    end = ent.end_char - sent.start_char
    nearest = min(
        times,
        key=lambda t: (
            max(t.start - end, start - t.end, 0) + (0 if t.start >= start else 5)
        ),
    )
    if nearest.habit:
        # "most weekends from 2015 to 2020": the habit ended when the period did
        ended = [t for t in times if _ends_period(t, sent.text)]
        if ended:
            return ended[-1]
    return nearest


_PERIOD_END = re.compile(r"(?:\bto|\buntil|\btill|\bthrough|\bthru|[-–])\s*$", re.I)


def _ends_period(time: TimeMention, sentence: str) -> bool:
    """A past date that closes a period: "to 2020", "until March", "2015-2019"."""
    if time.habit or time.kind != "point" or not time.months:
        return False
    return bool(_PERIOD_END.search(sentence[max(0, time.start - 10) : time.start]))


_CLAUSE = re.compile(r"[,;]")


def _qualifiers(
    concept: Concept, sentence: str, following: str, mention_at: int
) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for qualifier in concept.qualifiers:
        if qualifier.reach == "next":
            text = sentence + " " + following
        elif qualifier.reach == "clause":
            text = _CLAUSE.split(sentence[mention_at:], maxsplit=1)[0]
        else:
            text = sentence
        if _compiled(qualifier.regex).search(text):
            for item, value in qualifier.answers.items():
                answers.setdefault(item, value)
    return answers


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _counts(concept: Concept, modifier: Modifier) -> bool:
    if modifier.category in concept.ignore_modifiers:
        return False
    if modifier.category != "HISTORICAL" or not concept.past_only_with:
        return True
    return modifier.text.lower() in concept.past_only_with


_PEOPLE = frozenset({"FAMILY", "OTHER_EXPERIENCER"})
_FIRST_PERSON = re.compile(r"\b(?:i|i['’]?m|i['’]?ve|i['’]?d|i['’]?ll|ive|im)\b", re.I)


def _own_words(modifier: Any, ent: Any) -> bool:
    """A relative named earlier, then "I ..." before the mention: the writer's own.

    "my girlfriend moved out and now i just can't see the point" is about the writer,
    not the girlfriend; "my sister told me she wants to die" stays the sister's.
    """
    if str(modifier.category) not in _PEOPLE:
        return False
    trigger_end = modifier.modifier_span[1]
    if trigger_end > ent.start:
        return False
    return bool(_FIRST_PERSON.search(ent.doc[trigger_end : ent.end].text))


_HEADING_WORDS = frozenset({"hx", "history", "pmh", "pmhx", "pph", "psh", "fh", "fhx"})


def _is_heading(modifier: Any, doc: Any) -> bool:
    """A history word that is a note heading ("Psych Hx:") is the section's business.

    The heading colours its section (sections.yaml); read as a ConText trigger it would
    make everything after it past, "sees therapist weekly" included.
    """
    _, end = modifier.modifier_span
    return bool(
        modifier.category == "HISTORICAL"
        and end < len(doc)
        and doc[end].text == ":"
        and doc[end - 1].lower_ in _HEADING_WORDS
    )


def _modifier_text(modifier: Any, doc: Any) -> str:
    start, end = modifier.modifier_span
    return str(doc[start:end].text)


def _reads_as(content: NlpContent, section: str | None) -> str | None:
    if section is None:
        return None
    return content.section_reads_as.get(section)


# ---- values ------------------------------------------------------------------------


def _read_values(content: NlpContent, doc: Any, note: _Note, out: NoteScan) -> None:
    """Measurements and amounts over the whole text; drinking sentence by sentence."""
    sents, sections = note.sents, note.sections
    read = note_text(doc)
    text = read.text
    char_starts = [sent.start_char for sent in sents]

    def where(match: re.Match[str], source: str) -> Mention:
        sent = sents[max(0, bisect_right(char_starts, match.start()) - 1)]
        section = sections.at(sent.start)
        return _value_mention(source, match, sent.text, 0, section)

    for reading in content.values.readings:
        guarded = _guarded(reading.regex, tuple(reading.needles))
        for match in guarded.finditer(read):
            for group, item in reading.items.items():
                raw = match.groupdict().get(group)
                if raw is not None:
                    mention = where(match, reading.id)
                    # the reading's own place, not its label's: a repeat is later
                    start = match.start(group)
                    mention = replace(
                        mention,
                        start=start,
                        end=match.end(),
                        text=text[start : match.end()],
                    )
                    out.candidates.append(Candidate(item, int(raw), mention))
    for amount in content.values.amounts:
        guarded = _guarded(amount.regex, tuple(amount.needles))
        for match in guarded.finditer(read):
            if _set_aside(out, match.start(), match.end()):
                continue  # "my wife is 19 weeks pregnant": hers, not the person's
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            for item, value in amount.answers.items():
                filled = _fill(value, groups, amount.codes)
                if filled is not None:
                    out.candidates.append(
                        Candidate(item, filled, where(match, amount.id))
                    )
    for screener in content.values.screeners:
        for item, code, match in _screener_answers(screener, text):
            out.candidates.append(Candidate(item, code, where(match, screener.id)))
    # The note as written: its plain form has lost "é" ("bottles of rosé").
    if not _compiled(content.values.drinking.drinking_regex).search(text):
        return
    for sent in sents:
        sentence = sent.text
        for item, value, match in _drinking(content, sentence):
            mention = _value_mention(
                "drinking",
                match,
                sentence,
                sent.start_char,
                sections.at(sent.start),
            )
            out.candidates.append(Candidate(item, value, mention))


_RANGE = re.compile(r"([1-9])\s*(?:-|–|to)\s*q?\s*([1-9])", re.I)


def _screener_answers(
    screener: Screener, text: str
) -> Iterator[tuple[str, str, re.Match[str]]]:
    """(item, answer code, match) for each numbered answer to a screener the note names."""
    if not _compiled(screener.cue).search(text):
        return
    for pattern in screener.patterns:
        for match in _compiled(pattern).finditer(text):
            code = screener.answers.get(match.group("answer").lower())
            if code is None:
                continue
            for number in _question_numbers(match.group("numbers")):
                item = screener.items.get(number)
                if item is not None:
                    yield item, code, match


def _question_numbers(text: str) -> list[int]:
    """ "Q1 and Q3" -> [1, 3]; "Q1-Q3" -> [1, 2, 3]."""
    numbers: list[int] = []
    for first, last in _RANGE.findall(text):
        numbers.extend(range(int(first), int(last) + 1))
    rest = _RANGE.sub(" ", text)
    numbers.extend(int(n) for n in re.findall(r"[1-9]", rest))
    return sorted(set(numbers))


def _set_aside(out: NoteScan, start: int, end: int) -> bool:
    """Whether a concept mention over these characters was about someone else, or not so."""
    return any(
        ignored.mention.start < end and start < ignored.mention.end
        for ignored in out.ignored
        if ignored.mention.context in _NOT_THE_PERSONS
    )


_NOT_THE_PERSONS = frozenset({"family", "other", "hypothetical", "negated"})


@cache
def _guarded(regex: str, needles: tuple[str, ...] = ()) -> Guarded:
    return guard(regex, needles)


def _value_mention(
    source: str, match: re.Match[str], sentence: str, offset: int, section: str | None
) -> Mention:
    return Mention(
        source=source,
        text=match.group(0),
        start=offset + match.start(),
        end=offset + match.end(),
        sentence=sentence.strip(),
        context="present",
        section=section,
    )


def _fill(value: Any, groups: dict[str, str], codes: dict[str, str]) -> Any:
    if not (isinstance(value, str) and value.startswith("{") and value.endswith("}")):
        return value
    name = value[1:-1]
    raw = groups.get(name) or groups.get(f"{name}2")
    if raw is None:
        return None
    if raw.isdigit():
        return int(raw)
    return codes.get(raw.lower(), raw.lower())


def _drinking(
    content: NlpContent, text: str
) -> Iterator[tuple[str, int, re.Match[str]]]:
    """AUDIT-C answers from what a sentence says about drinking.

    How often (auditc_1), how much on a drinking day (auditc_2) and how often six or
    more (auditc_3) are each answered only when the sentence says so.
    """
    rules = content.values.drinking
    words = content.values.number_words
    if not _compiled(rules.drinking_regex).search(text):
        return
    quantity: tuple[float, re.Match[str]] | None = None
    days: tuple[float, re.Match[str]] | None = None
    for match in _compiled(rules.regex).finditer(text):
        groups = match.groupdict()
        n = _number(
            groups.get("n2") or groups.get("n4") or groups.get("n") or groups.get("n3"),
            words,
        )
        unit = (groups.get("unit") or groups.get("unit2") or "").lower()
        per = re.sub(
            r"\s+", " ", (groups.get("per") or groups.get("per2") or "").lower()
        )
        if n is None or per in rules.per_total:
            continue  # a weekly total says neither how often nor how much at a time
        per_unit = next((v for k, v in rules.units.items() if unit.startswith(k)), 1.0)
        quantity = quantity or (n * per_unit, match)
        if per in rules.days_per_week:
            days = days or (rules.days_per_week[per], match)
    for match in _compiled(rules.days_regex).finditer(text):
        found = _days(match, rules.words, words)
        if found is not None and days is None:
            days = (found, match)
    if days is not None:
        yield "auditc_1", _band(rules.frequency, days[0]), days[1]
    if quantity is not None:
        yield "auditc_2", _band(rules.quantity, quantity[0]), quantity[1]
    heavy = _compiled(rules.heavy_regex).search(text)
    if heavy is not None:
        when = re.sub(r"\s+", " ", heavy.group("when").lower())
        per_week = rules.heavy_words.get(
            when, rules.heavy_words.get(when.removeprefix("on "))
        )
        if per_week is not None:
            yield "auditc_3", _band(rules.heavy_frequency, per_week), heavy
            return
    if quantity is not None and days is not None and quantity[0] >= rules.heavy_at:
        yield "auditc_3", _band(rules.heavy_frequency, days[0]), quantity[1]
        return
    never = _compiled(rules.never_heavy_regex).search(text)
    if never is not None:
        yield "auditc_3", 0, never


_WEEKDAY = re.compile(r"\b(?:mon|tue|wed|thu|fri|sat|sun)")


def _days(
    match: re.Match[str], when_words: dict[str, float], numbers: dict[str, float]
) -> float | None:
    groups = match.groupdict()
    if groups.get("weekdays"):  # "Fri + Sat", "on Friday and Saturday evenings"
        return float(
            len({day[:3] for day in _WEEKDAY.findall(groups["weekdays"].lower())})
        )
    if groups.get("when"):
        when = re.sub(r"\s+", " ", groups["when"].lower())
        return when_words.get(when, when_words.get(when.removeprefix("on ")))
    count = _number(groups.get("d2") or groups.get("d"), {**numbers, **when_words})
    if count is None:
        return None
    return (
        count if (groups.get("unit") or "").lower() in ("week", "wk") else count / 4.33
    )


def _band(bands: list[Any], value: float) -> int:
    for band in bands:
        if band.up_to is None or value <= band.up_to:
            return int(band.value)
    return int(bands[-1].value)


def _number(text: str | None, words: dict[str, float]) -> float | None:
    if text is None:
        return None
    cleaned = re.sub(r"\s+", " ", text.strip().lower())
    try:
        return float(cleaned)
    except ValueError:
        return words.get(cleaned)
