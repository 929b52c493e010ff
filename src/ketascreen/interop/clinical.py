"""FHIR R4 clinical resources -> ketascreen answers.

A health system's record (Condition, Observation, MedicationStatement,
MedicationRequest, AllergyIntolerance, Patient; a Bundle of them is flattened) becomes
the same answers mapping a person gives, so ``ketascreen.screen`` can run on it. What a
code means lives in the code maps (``data/codes/*.yaml``, see :mod:`.codes`); this
module only reads statuses, dates and values.

Rules:

- **Absence is never "no".** No Condition for X leaves X unknown. Only explicit
  negatives that a code map declares may answer "no" (a refuted ketamine allergy, a
  "no known allergy" record, a recent negative test where the map sets a window).
- A Condition or AllergyIntolerance counts when its clinical status is active,
  recurrence or relapse (or absent) and it is not refuted or entered in error. An
  inactive, remission or resolved one answers only items that ask "ever"; otherwise
  it is reported with reason "inactive".
- A yes is never lost: when resources disagree on a yes/no item, yes wins over unsure,
  and unsure over no. Multi-select items collect every mapped value.
- Observations count when final, amended or corrected. Numbers (BP, heart rate)
  come from the most recent one: CLINICAL.md says nothing about choosing among
  repeated readings, so the latest panel is used and older readings are reported
  back. Onsets and birth dates that are partial (``2024-03``) are read as late as
  they can be, so an event never looks older, nor a person older, than it may be.
- Every code that gives no answer comes back in ``unmapped`` with its reason.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from ketascreen.domain.types import FactKind
from ketascreen.errors import Problem
from ketascreen.intake.answers import normalise
from ketascreen.intake.form import Form
from ketascreen.interop.codes import (
    Answer,
    CodeMapping,
    CodeMaps,
    Group,
    Result,
    groups_for,
    load_code_maps,
)
from ketascreen.interop.outcome import FhirError, problems_from_validation

Resource = dict[str, Any]
Coding = tuple[str | None, str | None, str | None]
"""(system, code, display) of the code an answer or a report is about."""

ACTIVE = frozenset({"active", "recurrence", "relapse"})
INACTIVE = frozenset({"inactive", "remission", "resolved"})
FINAL = frozenset({"final", "amended", "corrected"})
GENDER = "http://hl7.org/fhir/administrative-gender"
_YES_NO_RANK = {"no": 0, "unsure": 1, "yes": 2}
_NOT_PRESENT = {
    "inactive": "inactive",
    "refuted": "refuted",
    "error": "entered in error",
}


@dataclass(frozen=True)
class Unmapped:
    """A code (or resource) that gave no answer, and why.

    Args:
        resource_type: e.g. ``Condition``.
        id: the resource id, if it has one.
        system: the code's system, if any.
        code: the code, if any.
        display: the code's display or the concept's text, if any.
        reason: why it gave no answer (unknown code, inactive, refuted, ...).
    """

    resource_type: str
    id: str | None
    system: str | None
    code: str | None
    display: str | None
    reason: str


@dataclass(frozen=True)
class ClinicalAnswers:
    """Answers read from a record.

    Args:
        answers: item id to value, valid for :func:`ketascreen.screen`.
        unmapped: every code that gave no answer, with the reason.
        sources: item or fact id to the resources (``Type/id``) that supplied it;
            instrument scores are listed here without an answer.
    """

    answers: dict[str, Any]
    unmapped: tuple[Unmapped, ...]
    sources: dict[str, list[str]]


@dataclass(frozen=True)
class _Origin:
    resource_type: str
    id: str | None
    ref: str


@dataclass(frozen=True)
class _Candidate:
    item: str
    value: Any
    origin: _Origin
    coding: Coding
    rank: tuple[float, ...] = ()


@dataclass
class _Collector:
    form: Form
    today: date
    maps: CodeMaps
    medications: dict[str, Resource] = field(default_factory=dict)
    candidates: list[_Candidate] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def unmap(self, origin: _Origin, coding: Coding, reason: str) -> None:
        self.unmapped.append(Unmapped(origin.resource_type, origin.id, *coding, reason))

    def note(self, fact: str, origin: _Origin) -> None:
        refs = self.sources.setdefault(fact, [])
        if origin.ref not in refs:
            refs.append(origin.ref)

    def add(self, answer: Answer, value: Any, origin: _Origin, coding: Coding) -> None:
        self.add_ranked(answer.item, value, origin, coding, ())

    def add_ranked(
        self,
        item: str,
        value: Any,
        origin: _Origin,
        coding: Coding,
        rank: tuple[float, ...],
    ) -> None:
        if item not in self.form.items:
            self.unmap(origin, coding, f"{item} is not in this questionnaire")
            return
        self.candidates.append(_Candidate(item, value, origin, coding, rank))


def answers_from_resources(
    resources: Iterable[Mapping[str, Any]] | Mapping[str, Any],
    form: Form,
    *,
    today: date | None = None,
    codes: CodeMaps | None = None,
) -> ClinicalAnswers:
    """Read a record's clinical resources as questionnaire answers.

    Args:
        resources: FHIR R4 resources as JSON (a Bundle, or any iterable of resources
            and Bundles).
        form: the form the answers are for (``get_content().form``).
        today: the screening date (default: today); ages, onsets and recency are
            measured from it.
        codes: code maps to use (default: the bundled ones).

    Returns:
        The answers, what was left unmapped and why, and where each answer came from.

    Raises:
        FhirError: a resource is not valid FHIR R4; one problem per field, located
            as ``Condition[0].clinicalStatus``.
    """
    when = today or date.today()  # noqa: DTZ011 - the clinic's local date is meant
    parsed = parse_resources(resources)
    acc = _Collector(form, when, codes or load_code_maps())
    acc.medications = _medication_index(parsed)
    for where, resource in parsed:
        _HANDLERS.get(resource["resourceType"], _unused)(
            acc, resource, _origin(where, resource)
        )
    return _finish(acc)


def parse_resources(
    resources: Iterable[Mapping[str, Any]] | Mapping[str, Any],
) -> list[tuple[str, Resource]]:
    """Validate resources with ``fhir.resources`` (R4B) and flatten Bundles.

    Args:
        resources: a resource, a Bundle, or an iterable of them.

    Returns:
        (location, resource as plain JSON) for every resource, Bundle entries in order.

    Raises:
        FhirError: one problem per invalid field, for all resources at once.
    """
    items = [resources] if isinstance(resources, Mapping) else list(resources)
    problems: list[Problem] = []
    parsed: list[tuple[str, Resource]] = []
    for index, raw in enumerate(items):
        parsed += _parse_one(raw, index, problems)
    if problems:
        raise FhirError(problems)
    return parsed


def _parse_one(
    raw: Any, index: int, problems: list[Problem]
) -> list[tuple[str, Resource]]:
    kind = raw.get("resourceType") if isinstance(raw, Mapping) else None
    if not isinstance(kind, str):
        problems.append(
            Problem(
                f"[{index}]", "expected a FHIR resource (an object with resourceType)"
            )
        )
        return []
    where = f"{kind}[{index}]"
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError):
        problems.append(Problem(where, f"unknown resource type {kind!r}"))
        return []
    try:
        resource = model.model_validate(dict(raw)).model_dump(
            mode="json", exclude_none=True
        )
    except ValidationError as exc:
        problems += problems_from_validation(exc, where)
        return []
    return _flatten(resource, where)


def _flatten(resource: Resource, where: str) -> list[tuple[str, Resource]]:
    if resource["resourceType"] != "Bundle":
        return [(where, resource)]
    flat: list[tuple[str, Resource]] = []
    for number, entry in enumerate(resource.get("entry", [])):
        if "resource" in entry:
            flat += _flatten(entry["resource"], f"{where}.entry[{number}].resource")
    return flat


def _origin(where: str, resource: Resource) -> _Origin:
    kind, rid = resource["resourceType"], resource.get("id")
    return _Origin(kind, rid, f"{kind}/{rid}" if rid else where)


def _medication_index(parsed: list[tuple[str, Resource]]) -> dict[str, Resource]:
    return {
        f"Medication/{r['id']}": r
        for _, r in parsed
        if r["resourceType"] == "Medication" and "id" in r
    }


# ---- codes -------------------------------------------------------------------------


def _codings(concept: Resource | None) -> list[Coding]:
    if not concept:
        return []
    found = [
        (c.get("system"), c.get("code"), c.get("display"))
        for c in concept.get("coding", [])
    ]
    return found or [(None, None, concept.get("text"))]


def _mappings(
    acc: _Collector, coding: Coding, kind: str
) -> tuple[list[CodeMapping], str]:
    """The mappings of one coding for this resource type, or why there are none."""
    system, code, _ = coding
    if code is None:
        return [], "no coding"
    if system is None:
        return [], "coding without a system"
    found = acc.maps.lookup(system, code)
    usable = groups_for(found, kind)
    return usable, "unknown code" if not found else f"code not used for {kind}"


def _by_name(
    acc: _Collector, concept: Resource | None, kind: str
) -> list[tuple[Coding, CodeMapping]]:
    """Mappings whose listed names equal the concept's text or a coding's display."""
    if not concept:
        return []
    names = [
        concept.get("text"),
        *(c.get("display") for c in concept.get("coding", [])),
    ]
    return [
        ((m.system, m.code, name), m)
        for name in names
        if name
        for m in groups_for(acc.maps.by_name(name), kind)
    ]


def _map_concept(
    acc: _Collector, origin: _Origin, concept: Resource | None
) -> list[tuple[Coding, CodeMapping]]:
    """Every (coding, mapping) of a concept; reports the codings when none maps."""
    pairs: list[tuple[Coding, CodeMapping]] = []
    reasons: list[tuple[Coding, str]] = []
    for coding in _codings(concept):
        found, reason = _mappings(acc, coding, origin.resource_type)
        pairs += [(coding, m) for m in found]
        reasons.append((coding, reason))
    pairs = pairs or _by_name(acc, concept, origin.resource_type)
    if not pairs:
        for coding, reason in reasons or [((None, None, None), "no code")]:
            acc.unmap(origin, coding, reason)
    return pairs


# ---- conditions and allergies ------------------------------------------------------


def _presence(resource: Resource) -> str:
    """present, inactive, refuted or error, from the two statuses."""
    verification = _first_code(resource.get("verificationStatus"))
    if verification == "entered-in-error":
        return "error"
    if verification == "refuted":
        return "refuted"
    clinical = _first_code(resource.get("clinicalStatus"))
    return "inactive" if clinical in INACTIVE else "present"


def _first_code(concept: Resource | None) -> str | None:
    codings = (concept or {}).get("coding", [])
    return codings[0].get("code") if codings else None


def _answers_for(group: Group, presence: str) -> list[Answer]:
    if presence == "present":
        return group.answers
    if presence == "inactive":
        return [a for a in group.answers if a.ever]
    return group.if_refuted if presence == "refuted" else []


def _condition(acc: _Collector, resource: Resource, origin: _Origin) -> None:
    presence = _presence(resource)
    onset = resource.get("onsetDateTime")
    for coding, mapping in _map_concept(acc, origin, resource.get("code")):
        if _apply(acc, origin, coding, mapping.group, presence) and onset:
            _onset(acc, origin, coding, mapping.group, onset)


def _allergy(acc: _Collector, resource: Resource, origin: _Origin) -> None:
    presence = _presence(resource)
    for coding, mapping in _map_concept(acc, origin, resource.get("code")):
        _apply(acc, origin, coding, mapping.group, presence)


def _apply(
    acc: _Collector, origin: _Origin, coding: Coding, group: Group, presence: str
) -> bool:
    """Add the group's answers for this presence; report why when there are none."""
    if group.unmapped_reason:
        acc.unmap(origin, coding, group.unmapped_reason)
        return False
    answers = _answers_for(group, presence)
    if not answers:
        acc.unmap(origin, coding, _NOT_PRESENT.get(presence, "no answer for this code"))
        return False
    for answer in answers:
        acc.add(answer, answer.value, origin, coding)
    return presence in ("present", "inactive")


def _onset(
    acc: _Collector, origin: _Origin, coding: Coding, group: Group, onset: str
) -> None:
    """Time since onset for the group's duration item, in days (the form converts)."""
    if not group.onset_item:
        return
    if _earliest_day(onset) > acc.today:
        acc.unmap(origin, coding, f"onset {onset} is after the screening date")
        return
    days = (acc.today - min(_latest_day(onset), acc.today)).days
    value = {"value": days, "unit": "days"}
    acc.add_ranked(group.onset_item, value, origin, coding, (-days,))


# ---- medications -------------------------------------------------------------------


def _medication(acc: _Collector, resource: Resource, origin: _Origin) -> None:
    concept = _medication_concept(acc, resource)
    if concept is None:
        acc.unmap(
            origin,
            (None, None, None),
            "medicationReference not found (include the Medication)",
        )
        return
    reason = _not_current(resource)
    if reason:
        for coding in _codings(concept) or [(None, None, None)]:
            acc.unmap(origin, coding, reason)
        return
    for coding, mapping in _map_concept(acc, origin, concept):
        _apply(acc, origin, coding, mapping.group, "present")


def _not_current(resource: Resource) -> str | None:
    """Why a statement or request is not a medicine taken now (None: it is)."""
    if resource.get("doNotPerform"):
        return "doNotPerform"
    status = resource.get("status")
    return None if status == "active" else f"status {status}"


def _medication_concept(acc: _Collector, resource: Resource) -> Resource | None:
    if "medicationCodeableConcept" in resource:
        concept: Resource = resource["medicationCodeableConcept"]
        return concept
    ref = resource.get("medicationReference", {}).get("reference", "")
    contained = {f"#{r.get('id')}": r for r in resource.get("contained", [])}
    medication = contained.get(ref) or acc.medications.get(ref)
    return medication.get("code", {}) if medication is not None else None


# ---- observations ------------------------------------------------------------------


def _observation(acc: _Collector, resource: Resource, origin: _Origin) -> None:
    parts = [resource, *resource.get("component", [])]
    status = resource.get("status")
    if status not in FINAL:
        for part in parts:
            for coding in _codings(part.get("code")):
                acc.unmap(origin, coding, f"status {status}")
        return
    when = _instant(resource)
    used = [_observation_part(acc, origin, part, when) for part in parts[1:]]
    _observation_part(acc, origin, resource, when, report=not any(used))


def _observation_part(
    acc: _Collector,
    origin: _Origin,
    part: Resource,
    when: datetime | None,
    *,
    report: bool = True,
) -> bool:
    """Map one coded part (the observation or a component); True if a code mapped."""
    pairs: list[tuple[Coding, CodeMapping]] = []
    for coding in _codings(part.get("code")):
        found, reason = _mappings(acc, coding, origin.resource_type)
        pairs += [(coding, m) for m in found]
        if not found and report:
            acc.unmap(origin, coding, reason)
    for coding, mapping in pairs:
        _observation_group(acc, origin, coding, mapping.group, part, when)
    return bool(pairs)


def _observation_group(
    acc: _Collector,
    origin: _Origin,
    coding: Coding,
    group: Group,
    part: Resource,
    when: datetime | None,
) -> None:
    if group.unmapped_reason:
        acc.unmap(origin, coding, group.unmapped_reason)
        return
    for fact in group.noted_as:
        acc.note(fact, origin)
    if group.results:
        _result(acc, origin, coding, group, part, when)
    for answer in group.answers:
        if answer.value is None:
            _number(acc, origin, coding, group, answer, part, when)
        else:
            acc.add(answer, answer.value, origin, coding)


def _number(
    acc: _Collector,
    origin: _Origin,
    coding: Coding,
    group: Group,
    answer: Answer,
    part: Resource,
    when: datetime | None,
) -> None:
    quantity = part.get("valueQuantity", {})
    if "value" not in quantity:
        acc.unmap(origin, coding, "no numeric value")
        return
    unit = quantity.get("code") or quantity.get("unit")
    if group.units and unit is not None and unit not in group.units:
        acc.unmap(origin, coding, f"unit {unit!r} is not one of {group.units}")
        return
    value = quantity["value"]
    item = acc.form.items.get(answer.item)
    if item is not None and item.integer:
        value = int(Decimal(str(value)).to_integral_value(ROUND_HALF_UP))
    acc.add_ranked(answer.item, value, origin, coding, _time_rank(when))


def _result(
    acc: _Collector,
    origin: _Origin,
    coding: Coding,
    group: Group,
    part: Resource,
    when: datetime | None,
) -> None:
    result = _match_result(group.results, part)
    if result is None:
        acc.unmap(origin, coding, "result not recognised")
        return
    if result.negative and not _recent(acc.today, when, group.negative_within_days):
        acc.unmap(origin, coding, _negative_reason(group.negative_within_days))
        return
    for answer in result.answers:
        acc.add_ranked(answer.item, answer.value, origin, coding, _time_rank(when))


def _match_result(results: list[Result], part: Resource) -> Result | None:
    """The first listed result the value or interpretation matches (positives first)."""
    concepts = [part.get("valueCodeableConcept"), *part.get("interpretation", [])]
    codes = {(s, c) for concept in concepts for s, c, _ in _codings(concept)}
    words = {
        str(w).strip().casefold()
        for w in (
            part.get("valueString"),
            (part.get("valueCodeableConcept") or {}).get("text"),
        )
        if w
    }
    for result in sorted(results, key=lambda r: r.negative):
        names = {n.casefold() for n in result.names}
        if (result.system, result.code) in codes or names & words:
            return result
    return None


def _recent(today: date, when: datetime | None, within: int | None) -> bool:
    if within is None or when is None:
        return False
    return 0 <= (today - when.date()).days <= within


def _negative_reason(within: int | None) -> str:
    if within is None:
        return "negative result: no recency window is set (negative_within_days), so the answer stays unknown"
    return f"negative result older than {within} days"


# ---- patients and other resources ---------------------------------------------------


def _patient(acc: _Collector, resource: Resource, origin: _Origin) -> None:
    birth = resource.get("birthDate")
    if birth:
        youngest = _latest_day(birth)
        age = acc.today.year - youngest.year
        age -= (acc.today.month, acc.today.day) < (youngest.month, youngest.day)
        acc.add_ranked("age", age, origin, (None, None, f"birthDate {birth}"), ())
    gender = resource.get("gender")
    if gender:
        reason = "gender is not sex assigned at birth; sex_at_birth is left unanswered"
        acc.unmap(origin, (GENDER, gender, None), reason)


def _unused(acc: _Collector, resource: Resource, origin: _Origin) -> None:
    if resource["resourceType"] != "Medication":  # read through references
        acc.unmap(origin, (None, None, None), "resource type not used")


_HANDLERS = {
    "Condition": _condition,
    "AllergyIntolerance": _allergy,
    "Observation": _observation,
    "MedicationStatement": _medication,
    "MedicationRequest": _medication,
    "Patient": _patient,
}


# ---- dates -------------------------------------------------------------------------


def _earliest_day(text: str) -> date:
    """The first day a FHIR date or dateTime (possibly partial) can mean."""
    parts = [int(p) for p in text[:10].split("-")]
    return date(*parts, *[1] * (3 - len(parts)))


def _latest_day(text: str) -> date:
    """The last day a FHIR date or dateTime (possibly partial) can mean.

    Used for ages and onsets: the latest day gives the youngest age and the most
    recent event, so a partial date never makes a finding look less recent.
    """
    parts = [int(p) for p in text[:10].split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else 12
    day = parts[2] if len(parts) > 2 else calendar.monthrange(year, month)[1]
    return date(year, month, day)


def _instant(resource: Resource) -> datetime | None:
    """When an observation applies (effective[x]); partial dates at their start."""
    text = (
        resource.get("effectiveDateTime")
        or resource.get("effectiveInstant")
        or resource.get("effectivePeriod", {}).get("end")
        or resource.get("effectivePeriod", {}).get("start")
    )
    if not text:
        return None
    if len(text) <= 10:
        return datetime.combine(_earliest_day(text), datetime.min.time(), UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _time_rank(when: datetime | None) -> tuple[float, ...]:
    return (1.0, when.timestamp()) if when else (0.0, 0.0)


# ---- result ------------------------------------------------------------------------


def _finish(acc: _Collector) -> ClinicalAnswers:
    by_item: dict[str, list[_Candidate]] = {}
    for candidate in acc.candidates:
        by_item.setdefault(candidate.item, []).append(candidate)
    answers: dict[str, Any] = {}
    for item, candidates in by_item.items():
        chosen = _choose(acc, item, candidates)
        if chosen is not None and _valid(acc, item, chosen, candidates):
            answers[item] = chosen
    return ClinicalAnswers(answers, tuple(acc.unmapped), acc.sources)


def _choose(acc: _Collector, item: str, candidates: list[_Candidate]) -> Any:
    """One value per item; every candidate that did not supply it is reported back."""
    kind = acc.form.items[item].kind
    if kind == FactKind.multi:
        chosen: Any = sorted({c.value for c in candidates})
        used = candidates
    else:
        best = max(enumerate(candidates), key=lambda ic: (_rank(kind, ic[1]), ic[0]))[1]
        chosen = best.value
        used = [c for c in candidates if c.value == chosen]
    for candidate in candidates:
        if candidate in used:
            acc.note(item, candidate.origin)
        else:
            acc.unmap(
                candidate.origin,
                candidate.coding,
                f"{item}: {chosen!r} from another resource is used",
            )
    return chosen


def _rank(kind: FactKind, candidate: _Candidate) -> tuple[float, ...]:
    if kind in (FactKind.yes_no, FactKind.yes_no_unsure):
        return (float(_YES_NO_RANK.get(candidate.value, -1)),)
    return candidate.rank


def _valid(
    acc: _Collector, item: str, value: Any, candidates: list[_Candidate]
) -> bool:
    """Check the chosen value as the questionnaire would; report it when invalid."""
    try:
        normalise(acc.form.items[item], value, acc.today)
    except ValueError as exc:
        for candidate in candidates:
            acc.unmap(candidate.origin, candidate.coding, f"{item}: {exc}")
        acc.sources.pop(item, None)
        return False
    return True
