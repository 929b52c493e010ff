"""The note scanner's content: concepts, sections and value patterns, read from data.

Everything clinical the scanner knows lives in ``data/nlp/``: which words name which
concept (``concepts/*.yaml``, one file per domain), what each concept means for the
questionnaire's items depending on its context (affirmed, past, denied, possible,
someone else's, non-medical use), note headings (``sections.yaml``), and the patterns
for measurements, amounts and times (``values.yaml``). Answers are written exactly as a
person would answer the item, so they pass the same validation.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ketascreen.content.base import ContentModel, FileHeader
from ketascreen.content.files import DATA, load_model
from ketascreen.errors import ContentError, Problem
from ketascreen.intake.answers import normalise
from ketascreen.intake.form import Form

Answers = dict[str, Any]
"""Item id to an answer, as a person would give it (lists are "at least these")."""

CONTEXTS = (
    "present",
    "past",
    "negated",
    "possible",
    "family",
    "nonmedical",
    "nonmedical_past",
    "allergy",
)
"""How a mention is meant, in the order the scanner decides it (see scanner.py)."""


class TimeBand(ContentModel):
    """Answers a time gives when it falls in a range (months before screening)."""

    below: float | None = None
    at_least: float | None = None
    answers: Answers

    def holds(self, months: float) -> bool:
        """Does ``months`` fall in this band?"""
        return (self.below is None or months < self.below) and (
            self.at_least is None or months >= self.at_least
        )


class TimeLink(ContentModel):
    """What a time in the same sentence as the concept answers."""

    item: str | None = Field(
        default=None,
        description=(
            "A duration item (months): how long ago an event was ('2 months ago', "
            "'in March', 'until 2019') or how long a state has lasted ('sober six years')."
        ),
    )
    bands: list[TimeBand] = Field(
        default_factory=list,
        description="Answers by how long ago ('last seizure 2022': seizure-free for 12 months).",
    )
    why: str | None = None
    past_after: float | None = Field(
        default=None,
        description=(
            "Months after which a dated mention is past ('manic episode 2019', "
            "'until 2023'); 'since 2021' and 'for 5 years' still go on."
        ),
    )
    habit: bool = Field(
        default=False,
        description="Frequency words ('daily', 'currently') mean it goes on now (drug use).",
    )
    beyond_maximum: Literal["drop", "past"] = Field(
        default="drop",
        description=(
            "When the time is longer than the item allows: drop it, or read the "
            "mention as past (e.g. drug use more than 12 months ago)."
        ),
    )
    contexts: list[Literal["present", "past", "nonmedical", "nonmedical_past"]] = Field(
        default=["present", "past", "nonmedical", "nonmedical_past"],
        description="How a mention must be read for the time to apply (a prescribed medicine has no 'last use').",
    )
    within: Answers = Field(
        default_factory=dict,
        description="Extra answers when the time fits the item (e.g. drugs in the past year).",
    )


class Pattern(ContentModel):
    """A regular expression with the words that any match must contain.

    The needles let the scanner skip the search when none is in the note; they must
    be lower case, and every possible match must contain one of them.
    """

    pattern: str
    needles: list[str] = Field(min_length=1)

    @field_validator("needles")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        if any(n != n.lower() for n in value):
            raise ValueError("needles must be lower case")
        return value


class Qualifier(ContentModel):
    """Detail in the same sentence: "HTN, well controlled", "Klonopin 1 mg BID"."""

    regex: str = Field(
        description="Case-insensitive; searched in the mention's sentence."
    )
    answers: Answers
    why: str | None = None
    reach: Literal["sentence", "next", "clause"] = Field(
        default="sentence",
        description=(
            "Search the mention's sentence, it and the next one, or only from the "
            "mention to the next comma ('sertraline daily, clonazepam PRN')."
        ),
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class Concept(ContentModel):
    """Words for one thing a note can say, and what it means for the items."""

    id: str
    terms: list[str] = Field(
        default_factory=list, description="Phrases matched case-insensitively."
    )
    exact: list[str] = Field(
        default_factory=list,
        description="Abbreviations matched only as written (SI, MI, ICH), so 'mi' or 'si' in other words do not count.",
    )
    patterns: list[list[dict[str, Any]]] = Field(
        default_factory=list, description="spaCy token patterns for variable phrasing."
    )
    regex: list[str | Pattern] = Field(
        default_factory=list,
        description=(
            "Regular expressions (case-insensitive) for phrasing tokens cannot say; "
            "a pattern may list needles, words one of which any match contains."
        ),
    )
    present: Answers = Field(
        default_factory=dict, description="Affirmed, about the person, now."
    )
    past: Answers | None = Field(
        default=None, description="In the past only (default: the same as present)."
    )
    negated: Answers = Field(default_factory=dict, description="Denied or ruled out.")
    possible: Answers = Field(
        default_factory=dict, description="Uncertain, suspected or not ruled out."
    )
    family: Answers = Field(
        default_factory=dict, description="A first-degree relative has it."
    )
    nonmedical: Answers | None = Field(
        default=None,
        description="Used other than as prescribed (default: the same as present).",
    )
    nonmedical_past: Answers | None = Field(
        default=None,
        description="Used other than as prescribed, in the past (default: the same as past).",
    )
    allergy: Answers = Field(
        default_factory=dict, description="Listed under an Allergies heading."
    )
    qualifiers: list[Qualifier] = Field(
        default_factory=list,
        description="Words in the same sentence that add detail to a mention about the person.",
    )
    time: TimeLink | None = None
    requires: str | None = Field(
        default=None,
        description="A regex the sentence must contain ('relapse' counts only near alcohol or drugs).",
    )
    ignore_modifiers: list[str] = Field(
        default_factory=list,
        description="ConText categories that do not apply ('his Adderall' is still the person's use).",
    )
    not_with: str | None = Field(
        default=None,
        description=(
            "A regex that, found in the sentence, makes a mention not a fact about now "
            "('trying for a baby next year'); kept narrow, per concept."
        ),
    )
    past_cue: str | None = Field(
        default=None,
        description=(
            "A regex matched on the words just before a mention that make it past "
            "('they gave me Benadryl', 'tried Zoloft', 'was on Suboxone')."
        ),
    )
    past_only_with: list[str] = Field(
        default_factory=list,
        description=(
            "If set, a historical modifier counts only when its trigger is one of these "
            "words ('stopped', 'tried'): 'Hx bipolar, on lithium' keeps lithium current."
        ),
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: list[str | Pattern]) -> list[str | Pattern]:
        for pattern in value:
            re.compile(pattern if isinstance(pattern, str) else pattern.pattern)
        return value

    @field_validator("requires", "past_cue", "not_with")
    @classmethod
    def _requires_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @model_validator(mode="after")
    def _some_words(self) -> Concept:
        if not (self.terms or self.exact or self.patterns or self.regex):
            raise ValueError(f"concept {self.id!r} has no terms, exact or patterns")
        return self

    def answers_for(self, context: str) -> Answers:
        """The answers a mention in this context gives."""
        if context == "past":
            return self.present if self.past is None else self.past
        if context == "nonmedical":
            return self.present if self.nonmedical is None else self.nonmedical
        if context == "nonmedical_past":
            if self.nonmedical_past is None:
                return self.answers_for("past")
            return self.nonmedical_past
        answers: Answers = getattr(self, context)
        return answers


class ConceptFile(FileHeader):
    """One domain's concepts."""

    source: str
    concepts: list[Concept]


class Section(ContentModel):
    """A note heading and how it colours what is under it."""

    category: str
    titles: list[str] = Field(
        min_length=1, description="Heading words, without the colon."
    )
    reads_as: Literal["family", "past", "allergies"] | None = Field(
        default=None,
        description=(
            "family: mentions are a relative's; past: history, not now; allergies: "
            "substances listed are allergies."
        ),
    )


class SectionFile(FileHeader):
    """Note headings."""

    source: str
    sections: list[Section]


class Reading(ContentModel):
    """A measurement pattern (regex with named groups) and the items it fills."""

    id: str
    regex: str
    items: dict[str, str] = Field(
        description="Named group to number item (e.g. sys: bp_systolic)."
    )
    needles: list[str] = Field(
        default_factory=list, description="Words any match contains (for speed)."
    )
    choose: Literal["latest", "highest", "first"] = Field(
        default="latest", description="Which of several readings counts."
    )
    why: str = Field(description="Why this reading is the one that counts (cited).")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class Amount(ContentModel):
    """An answer a pattern gives directly (age, pregnancy weeks, drinking)."""

    id: str
    regex: str
    answers: Answers = Field(
        default_factory=dict,
        description="Answers given when it matches; '{group}' is replaced by that named group.",
    )
    codes: dict[str, str] = Field(
        default_factory=dict,
        description="What a matched word means as an answer code (f: female).",
    )
    needles: list[str] = Field(
        default_factory=list, description="Words any match contains (for speed)."
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class DrinkBand(ContentModel):
    """Drinks per week (or per drinking day) to an AUDIT-C response value."""

    up_to: float | None = Field(description="Upper bound (inclusive); null = no bound.")
    value: int


class Drinking(ContentModel):
    """How stated drinking maps onto the AUDIT-C items."""

    source: str
    regex: str = Field(
        description="An amount: n (or n3), range top n2 (or n4), unit (or unit2), per (or per2)."
    )
    units: dict[str, float] = Field(
        default_factory=dict, description="Standard drinks per unit where not one."
    )
    days_per_week: dict[str, float] = Field(
        description="Drinking days a week a 'per' word implies (a day: 7)."
    )
    per_total: list[str] = Field(
        default_factory=list,
        description="'per' words that give a total, not a typical day (a week, a month).",
    )
    days_regex: str = Field(description="How often: d, d2 and unit, or a 'when' word.")
    drinking_regex: str = Field(
        description="Words that show a sentence is about drinking."
    )
    words: dict[str, float] = Field(
        description="Frequency words to drinking days a week."
    )
    heavy_regex: str = Field(description="Heavy occasions with a 'when' word.")
    heavy_words: dict[str, float] = Field(
        description="'when' words to heavy days a week."
    )
    never_heavy_regex: str = Field(description="Statements of no heavy occasions.")
    frequency: list[DrinkBand] = Field(description="Drinking days a week to auditc_1.")
    quantity: list[DrinkBand] = Field(
        description="Drinks on a drinking day to auditc_2."
    )
    heavy_at: float = Field(
        description="Drinks on one occasion that count as heavy (auditc_3)."
    )
    heavy_frequency: list[DrinkBand] = Field(
        description="Heavy days a week to auditc_3."
    )


class Screener(ContentModel):
    """Numbered answers to a named screener written into a note ("ASQ: yes to Q1, Q3").

    Read only when the note names the screener (``cue``); each pattern has the named
    groups ``numbers`` (e.g. "Q1 and Q3", "Q1-Q3") and ``answer`` (a word in
    ``answers``).
    """

    id: str
    cue: str = Field(description="Regex that names the screener in the note.")
    items: dict[int, str] = Field(description="Question number to questionnaire item.")
    answers: dict[str, str] = Field(description="Answer word to answer code.")
    patterns: list[str]

    @field_validator("cue", "patterns")
    @classmethod
    def _compiles(cls, value: str | list[str]) -> str | list[str]:
        for pattern in [value] if isinstance(value, str) else value:
            re.compile(pattern)
        return value


class ValueFile(FileHeader):
    """Measurements, amounts, screeners, drinking and the words for numbers."""

    source: str
    readings: list[Reading]
    amounts: list[Amount]
    screeners: list[Screener] = Field(default_factory=list)
    drinking: Drinking
    number_words: dict[str, float]


class NlpContent:
    """All of the scanner's data, checked against the questionnaire."""

    def __init__(
        self,
        concepts: list[Concept],
        sections: list[Section],
        values: ValueFile,
        versions: dict[str, str],
    ) -> None:
        self.concepts = {c.id: c for c in concepts}
        self.sections = sections
        self.section_reads_as = {
            s.category: s.reads_as for s in sections if s.reads_as is not None
        }
        self.values = values
        self.versions = versions


@lru_cache(maxsize=1)
def load_nlp_content() -> NlpContent:
    """Load and check ``data/nlp``; cached per process."""
    folder = DATA / "nlp"
    concepts: list[Concept] = []
    versions: dict[str, str] = {}
    for path in sorted(
        (p for p in (folder / "concepts").iterdir() if p.name.endswith(".yaml")),
        key=lambda p: p.name,
    ):
        file, _ = load_model(ConceptFile, path)
        concepts.extend(file.concepts)
        versions[file.id] = file.version
    sections, _ = load_model(SectionFile, folder / "sections.yaml")
    values, _ = load_model(ValueFile, folder / "values.yaml")
    versions[sections.id] = sections.version
    versions[values.id] = values.version
    seen: set[str] = set()
    for concept in concepts:
        if concept.id in seen:
            raise ContentError(
                "data/nlp/concepts", [Problem(concept.id, "concept id used twice")]
            )
        seen.add(concept.id)
    return NlpContent(concepts, sections.sections, values, versions)


def check_against_form(content: NlpContent, form: Form) -> list[Problem]:
    """Every answer the data can give must be a valid answer to a real item."""
    problems: list[Problem] = []
    for concept in content.concepts.values():
        for context in CONTEXTS:
            for item, value in concept.answers_for(context).items():
                problems.extend(_check(form, f"{concept.id}.{context}", item, value))
        for qualifier in concept.qualifiers:
            for item, value in qualifier.answers.items():
                problems.extend(_check(form, f"{concept.id}.qualifier", item, value))
        if concept.time is not None:
            link = concept.time
            spec = form.items.get(link.item) if link.item else None
            if link.item is not None and (spec is None or spec.unit != "months"):
                problems.append(
                    Problem(f"{concept.id}.time", f"{link.item} is not a duration item")
                )
            extra = [link.within, *(band.answers for band in link.bands)]
            for answers in extra:
                for item, value in answers.items():
                    problems.extend(_check(form, f"{concept.id}.time", item, value))
    for reading in content.values.readings:
        for item in reading.items.values():
            if item not in form.items:
                problems.append(Problem(reading.id, f"unknown item {item!r}"))
    for screener in content.values.screeners:
        for item in screener.items.values():
            for code in screener.answers.values():
                problems.extend(_check(form, screener.id, item, code))
    return problems


def _check(form: Form, where: str, item: str, value: Any) -> list[Problem]:
    spec = form.items.get(item)
    if spec is None:
        if item in form.external:
            return []
        return [Problem(where, f"unknown item {item!r}")]
    if isinstance(value, str) and "{" in value:
        return []
    try:
        normalise(spec, value, date.min)
    except (ValueError, TypeError) as exc:
        return [Problem(where, f"{item}: {exc}")]
    return []
