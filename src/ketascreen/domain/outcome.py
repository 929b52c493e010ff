"""The screening result: what every renderer and adapter reads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from ketascreen.domain.types import Disposition, Level


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Evidence(_Frozen):
    """One fact that made a finding fire (or that was unknown)."""

    fact: str = Field(description="Fact id.")
    label: str = Field(description="What the fact is, in words.")
    value: Any = Field(description="The value seen; null when unknown.")
    test: str = Field(description="The test the fact met, as the rule states it.")
    source: str = Field(description="Where the fact came from: answer, instrument, ...")


class Reference(_Frozen):
    """A cited source from the references file."""

    key: str
    citation: str
    tag: str | None = Field(default=None, description="V, S or U verification tag.")


class Finding(_Frozen):
    """A rule that fired for this person."""

    rule_id: str
    domain: str
    level: Level
    title: str = Field(description="Short clinician-facing title.")
    patient_message: str
    clinician_rationale: str
    next_steps: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    references: tuple[Reference, ...] = ()
    unresolved: bool = Field(
        default=False,
        description="True when the finding stands for rules that could not be judged "
        "because answers they need are missing.",
    )


class Unknown(_Frozen):
    """An unanswered item that a rule needed."""

    fact: str
    label: str
    domains: tuple[str, ...]
    rule_ids: tuple[str, ...]
    measured_at_clinic: bool = Field(
        default=False,
        description="True for clinic measurements (e.g. blood pressure) the person cannot "
        "give; these are listed but do not make a domain incomplete.",
    )


class ScoreBand(_Frozen):
    """One band of an instrument score."""

    label: str
    minimum: float
    maximum: float


class InstrumentScore(_Frozen):
    """A scored instrument (or one of its sub-scores)."""

    instrument: str
    name: str
    score: str
    value: float | None = Field(description="Null when items are missing.")
    maximum: float
    band: str | None
    bands: tuple[ScoreBand, ...] = ()
    flags: dict[str, bool | None] = Field(default_factory=dict)
    loinc: str | None = None
    missing_items: tuple[str, ...] = ()


class RouteConsideration(_Frozen):
    """How this person's findings weigh on one form of ketamine."""

    effect: str = Field(description="contraindicated, weighs_against or extra_care.")
    effect_words: str = Field(
        default="", description="The effect in the person's words."
    )
    rule_ids: tuple[str, ...]
    patient_note: str
    clinician_note: str
    references: tuple[Reference, ...] = ()


class RouteSummary(_Frozen):
    """One form of ketamine and what weighs on it for this person."""

    id: str
    name: str
    patient_summary: str
    onset: str
    intensity: str
    supervision: str
    monitoring: str
    considerations: tuple[RouteConsideration, ...] = ()
    preferred: bool | None = Field(default=None, description="The person's preference.")


class CrisisResource(_Frozen):
    """A way to get help now."""

    name: str
    contact: str
    detail: str
    link: str | None = None


class Crisis(_Frozen):
    """Crisis help, shown first whenever there is a suicide-risk signal."""

    urgent: bool
    title: str
    message: str
    resources: tuple[CrisisResource, ...]
    clinician_note: str = Field(
        description="What the clinic should do (NIMH ASQ pathway)."
    )


class ScreeningResult(_Frozen):
    """Everything one screening concluded; honours the contract in PRODUCT.md."""

    disposition: Disposition
    disposition_label: str
    summary: str = Field(description="One or two kind sentences for the person.")
    crisis: Crisis | None = None
    domains: tuple[str, ...] = Field(description="Domains with at least one finding.")
    findings: tuple[Finding, ...]
    routes: tuple[RouteSummary, ...]
    next_steps: tuple[str, ...]
    instrument_scores: tuple[InstrumentScore, ...]
    unknowns: tuple[Unknown, ...]
    safety_reminder: str = Field(
        default="", description="Where to get help if unsafe (from the crisis content)."
    )
    unanswered_summary: str | None = Field(
        default=None,
        description="One kind sentence about the areas left blank, if any.",
    )
    ruleset_version: str
    ruleset_hash: str
    questionnaire_version: str
    screening_date: str


#: Serialised parts of results, by identity: the engine hands out the same finding,
#: route and unknown objects for the same facts, so most of a result's JSON (about
#: 50 KB, mostly fixed wording) has been written before. Each entry holds its object,
#: so an id is never reused while cached.
_PARTS: dict[int, tuple[BaseModel, bytes]] = {}
_PARTS_LIMIT = 50_000


def result_json(result: ScreeningResult) -> bytes:
    """``result.model_dump_json()``, byte for byte, reusing parts written before."""
    fields = []
    for name in type(result).model_fields:
        value = getattr(result, name)
        if isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            json = b"[" + b",".join(_part(item) for item in value) + b"]"
        else:
            json = to_json(value)
        fields.append(b'"' + name.encode() + b'":' + json)
    return b"{" + b",".join(fields) + b"}"


def _part(model: BaseModel) -> bytes:
    cached = _PARTS.get(id(model))
    if cached is not None and cached[0] is model:
        return cached[1]
    json = model.__pydantic_serializer__.to_json(model)
    if len(_PARTS) >= _PARTS_LIMIT:
        _PARTS.clear()
    _PARTS[id(model)] = (model, json)
    return json
