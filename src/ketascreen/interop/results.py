"""A screening result as a FHIR R4 Bundle (type ``collection``).

The Bundle holds, in this order:

1. when the result carries crisis help, a DetectedIssue for the crisis (severity
   ``high``, whatever the finding levels), so a suicide-risk signal is never buried;
2. a QuestionnaireResponse with the answers, grouped by section (``linkId`` = section
   id, then item id); unanswered items are left out (unknown, never "no");
3. a RiskAssessment with one prediction per flagged domain and the overall result
   in a note;
4. one DetectedIssue per finding (our rule id in ``CodeSystem/rules``);
5. one Observation per instrument score (its LOINC code, or ``CodeSystem/scores``).

Entries refer to each other by ``urn:uuid`` full URLs. Every resource is checked with
the ``fhir.resources`` R4B models before the Bundle is returned.

Level mappings. These are display choices for systems that read FHIR codes, not
clinical thresholds; the finding level itself is kept in an extension:

==========================  ==========================  ==========================
finding level               DetectedIssue.severity      RiskAssessment risk
==========================  ==========================  ==========================
urgent_safety               high                        high
not_recommended_now         high                        high
needs_specialist_review     moderate                    moderate
prepare_first               low                         low
info                        low                         (never flags a domain)
==========================  ==========================  ==========================

A domain's risk comes from its most severe finding. Risk codes are from
``http://terminology.hl7.org/CodeSystem/risk-probability``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from ketascreen.domain.outcome import (
    Crisis,
    Evidence,
    Finding,
    InstrumentScore,
    Reference,
    ScreeningResult,
)
from ketascreen.domain.types import SEVERITY, FactKind, Level
from ketascreen.instruments.model import InstrumentFile
from ketascreen.intake.answers import facts_from_answers
from ketascreen.intake.form import Form, FormItem, FormSection

BASE = "http://ketascreen.org/fhir"
QUESTIONNAIRE = f"{BASE}/Questionnaire"
ANSWERS_SYSTEM = f"{BASE}/CodeSystem/answers"
RULES_SYSTEM = f"{BASE}/CodeSystem/rules"
DOMAINS_SYSTEM = f"{BASE}/CodeSystem/domains"
SCORES_SYSTEM = f"{BASE}/CodeSystem/scores"
ALERTS_SYSTEM = f"{BASE}/CodeSystem/alerts"
SCREENING_SYSTEM = f"{BASE}/NamingSystem/screening"
REFERENCES_URI = f"{BASE}/references#"
CITATION_EXT = f"{BASE}/StructureDefinition/citation"
LEVEL_EXT = f"{BASE}/StructureDefinition/finding-level"
DOMAIN_EXT = f"{BASE}/StructureDefinition/finding-domain"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RISK_SYSTEM = "http://terminology.hl7.org/CodeSystem/risk-probability"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: Finding level -> DetectedIssue.severity (see the module docstring).
ISSUE_SEVERITY: Mapping[Level, str] = {
    Level.urgent_safety: "high",
    Level.not_recommended_now: "high",
    Level.needs_specialist_review: "moderate",
    Level.prepare_first: "low",
    Level.info: "low",
}

#: Finding level -> risk-probability code and display (see the module docstring).
RISK: Mapping[Level, tuple[str, str]] = {
    Level.urgent_safety: ("high", "High likelihood"),
    Level.not_recommended_now: ("high", "High likelihood"),
    Level.needs_specialist_review: ("moderate", "Moderate likelihood"),
    Level.prepare_first: ("low", "Low likelihood"),
    Level.info: ("low", "Low likelihood"),
}

#: Crisis urgency -> code and display in the ketascreen alerts system.
CRISIS_CODES: Mapping[bool, tuple[str, str]] = {
    True: ("crisis-urgent", "Suicide-risk signal: urgent, crisis help first"),
    False: ("crisis", "Suicide-risk signal: crisis help shown"),
}

#: The words the web form shows for yes/no answers.
YES_NO_LABELS: Mapping[str, str] = {"yes": "Yes", "no": "No", "unsure": "Not sure"}

#: Duration unit names (as in the questionnaire) -> UCUM codes.
UCUM_UNITS: Mapping[str, str] = {
    "days": "d",
    "weeks": "wk",
    "months": "mo",
    "years": "a",
}

YES_NO_KINDS = (FactKind.yes_no, FactKind.yes_no_unsure)

_UNIDENTIFIED = {"display": "The person screened (not identified in this bundle)"}


@dataclass(frozen=True)
class _Context:
    """What every resource of one Bundle shares."""

    when: str
    subject: dict[str, Any]
    url: Callable[[str], str]
    identifier: dict[str, str] | None

    def ref(self, key: str) -> dict[str, str]:
        """A reference to another entry of the Bundle."""
        return {"reference": self.url(key)}


def result_bundle(
    result: ScreeningResult,
    *,
    answers: Mapping[str, Any],
    form: Form,
    screening_id: str | None = None,
    created_at: datetime | None = None,
    patient_reference: str | None = None,
    instruments: Mapping[str, InstrumentFile] | None = None,
    domain_titles: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Express one screening result as a validated FHIR R4 Bundle.

    Args:
        result: the screening result.
        answers: the answers that were screened (item id to value).
        form: the form the answers belong to (``get_content().form``).
        screening_id: a stable id; it becomes the Bundle's and the response's
            identifier and makes the ``urn:uuid`` full URLs repeatable.
        created_at: when the screening was done (timezone-aware; default now, UTC).
        patient_reference: a reference to the person (``Patient/123``), if known.
        domain_titles: domain id to its clinician-facing title (``{d: i.title
            for d, i in content.domains.items()}``), for the RiskAssessment.
        instruments: instrument files by id (``{i: c.file for i, c in
            content.instruments.items()}``), to code options that carry a LOINC
            answer code; without them every option uses the ketascreen answers system.

    Returns:
        The Bundle as JSON-ready data.

    Raises:
        AnswersError: the answers are not valid for the form.
        ValueError: ``created_at`` has no timezone.
        pydantic.ValidationError: a resource failed FHIR validation (a bug).
    """
    ctx = _context(screening_id, created_at, patient_reference)
    screened_on = date.fromisoformat(result.screening_date)
    entries: list[tuple[str, dict[str, Any]]] = []
    if result.crisis is not None:
        entries.append(("crisis", _crisis_issue(ctx, result.crisis)))
    response = _response(ctx, form, answers, screened_on, _answer_loincs(instruments))
    entries.append(("response", response))
    entries.append(("risk", _risk_assessment(ctx, result, domain_titles or {})))
    entries += [(f"finding/{i}", _issue(ctx, f)) for i, f in enumerate(result.findings)]
    entries += [
        (f"score/{i}", _observation(ctx, s, form))
        for i, s in enumerate(result.instrument_scores)
    ]
    return _bundle(ctx, entries)


def _context(
    screening_id: str | None, created_at: datetime | None, patient: str | None
) -> _Context:
    """The shared time, subject, identifier and full-URL maker."""
    when = created_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("created_at needs a timezone (FHIR dateTimes with a time do)")
    identifier = (
        None
        if screening_id is None
        else {"system": SCREENING_SYSTEM, "value": screening_id}
    )
    return _Context(
        when=when.isoformat(timespec="seconds"),
        subject={"reference": patient} if patient else dict(_UNIDENTIFIED),
        url=_url_maker(screening_id),
        identifier=identifier,
    )


def _url_maker(screening_id: str | None) -> Callable[[str], str]:
    """``urn:uuid`` full URLs: repeatable for a screening id, otherwise random."""
    seed = uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE}/screening/{screening_id}")
    made: dict[str, str] = {}

    def url(key: str) -> str:
        if key not in made:
            value = uuid.uuid5(seed, key) if screening_id else uuid.uuid4()
            made[key] = f"urn:uuid:{value}"
        return made[key]

    return url


def _bundle(ctx: _Context, entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Validate every resource and the Bundle; return the Bundle's JSON data."""
    for _, resource in entries:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": ctx.when,
        "entry": [{"fullUrl": ctx.url(k), "resource": r} for k, r in entries],
    }
    if ctx.identifier:
        bundle["identifier"] = ctx.identifier
    Bundle.model_validate(bundle)
    # A deep copy that is certain to be JSON-ready, with no dicts shared by entries.
    copied: dict[str, Any] = json.loads(json.dumps(bundle))
    return copied


# ---- QuestionnaireResponse ---------------------------------------------------------


def _answer_loincs(
    instruments: Mapping[str, InstrumentFile] | None,
) -> dict[tuple[str, str | int], str]:
    """(item id, stored value) -> LOINC answer code, for options that have one."""
    codes: dict[tuple[str, str | int], str] = {}
    for inst in (instruments or {}).values():
        for item in inst.items:
            for response in inst.responses_for(item):
                # ``loinc`` is an optional field that older content lacks.
                code = getattr(response, "loinc", None)
                if isinstance(code, str) and code:
                    codes[(item.id, response.value)] = code
    return codes


def _response(
    ctx: _Context,
    form: Form,
    answers: Mapping[str, Any],
    screened_on: date,
    loincs: Mapping[tuple[str, str | int], str],
) -> dict[str, Any]:
    """The QuestionnaireResponse: answered items grouped by section."""
    values = facts_from_answers(form, answers, screened_on).values
    groups = [_group(s, values, loincs) for s in form.sections]
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE}/{form.id}|{form.version}",
        "status": "completed",
        "subject": ctx.subject,
        "authored": ctx.when,
    }
    if ctx.identifier:
        response["identifier"] = ctx.identifier
    return _with(response, "item", [g for g in groups if g["item"]])


def _group(
    section: FormSection,
    values: Mapping[str, Any],
    loincs: Mapping[tuple[str, str | int], str],
) -> dict[str, Any]:
    """One section's answered items (an empty ``item`` list when none)."""
    items = [
        {
            "linkId": item.id,
            "text": item.text,
            "answer": _answers(item, values[item.id], loincs),
        }
        for item in section.items
        if values.get(item.id) is not None
    ]
    return {"linkId": section.id, "text": section.title, "item": items}


def _answers(
    item: FormItem, value: Any, loincs: Mapping[tuple[str, str | int], str]
) -> list[dict[str, Any]]:
    """The FHIR answers for one item's (normalised) value."""
    if item.kind == FactKind.multi:
        chosen = [code for code in item.codes if code in value]
        return [_coded(item, code, loincs) for code in chosen]
    if item.kind in YES_NO_KINDS or item.choices:
        return [_coded(item, value, loincs)]
    if item.kind == FactKind.duration:
        return [{"valueQuantity": _duration(item, value)}]
    if item.kind == FactKind.number:
        return [_number(item, value)]
    if item.kind == FactKind.date:
        return [{"valueDate": value}]
    return [{"valueString": str(value)}]


def _coded(
    item: FormItem, value: str | int, loincs: Mapping[tuple[str, str | int], str]
) -> dict[str, Any]:
    """A choice as valueCoding: LOINC when the option has a code, else ours."""
    labels: dict[str | int, str] = {c.value: c.label for c in item.choices}
    if not labels:
        labels.update(YES_NO_LABELS)
    loinc = loincs.get((item.id, value))
    coding = {
        "system": LOINC if loinc else ANSWERS_SYSTEM,
        "code": loinc or str(value),
        "display": labels.get(value, str(value)),
    }
    return {"valueCoding": coding}


def _number(item: FormItem, value: float) -> dict[str, Any]:
    """valueInteger for whole-number items, valueDecimal otherwise."""
    if item.integer or isinstance(value, int):
        return {"valueInteger": int(value)}
    return {"valueDecimal": value}


def _duration(item: FormItem, value: float) -> dict[str, Any]:
    """A duration in the item's own unit, with its UCUM code when there is one."""
    quantity: dict[str, Any] = {"value": value, "unit": item.unit}
    ucum = UCUM_UNITS.get(item.unit or "")
    if ucum:
        quantity.update(system=UCUM, code=ucum)
    return quantity


# ---- RiskAssessment ----------------------------------------------------------------


def _risk_assessment(
    ctx: _Context, result: ScreeningResult, titles: Mapping[str, str]
) -> dict[str, Any]:
    """The overall picture: one prediction per flagged domain, the result in a note."""
    assessment: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": ctx.subject,
        "occurrenceDateTime": ctx.when,
        "basis": [ctx.ref("response")],
        "method": {"text": f"ketascreen ruleset {result.ruleset_version}"},
        "note": [{"text": _disposition_note(result)}],
    }
    predictions = [_prediction(d, result.findings, titles) for d in result.domains]
    return _with(assessment, "prediction", [p for p in predictions if p])


def _disposition_note(result: ScreeningResult) -> str:
    """The overall result in words, with its machine name."""
    return f"Overall result: {result.disposition_label} ({result.disposition.value})."


def _prediction(
    domain: str, findings: Iterable[Finding], titles: Mapping[str, str]
) -> dict[str, Any] | None:
    """One domain's prediction, from its findings that change the disposition."""
    own = [f for f in findings if f.domain == domain and f.level != Level.info]
    if not own:
        return None
    level = max((f.level for f in own), key=SEVERITY.__getitem__)
    code, display = RISK[level]
    rationale = " ".join(dict.fromkeys(f.clinician_rationale for f in own))
    return {
        "outcome": {
            "coding": [
                {
                    "system": DOMAINS_SYSTEM,
                    "code": domain,
                    "display": titles.get(domain, domain),
                }
            ],
            "text": titles.get(domain, domain),
        },
        "qualitativeRisk": {
            "coding": [{"system": RISK_SYSTEM, "code": code, "display": display}]
        },
        "rationale": rationale,
    }


# ---- DetectedIssue -----------------------------------------------------------------


def _crisis_issue(ctx: _Context, crisis: Crisis) -> dict[str, Any]:
    """The crisis as the first, high-severity issue, with the ways to get help."""
    code, display = CRISIS_CODES[crisis.urgent]
    coding = {"system": ALERTS_SYSTEM, "code": code, "display": display}
    return {
        "resourceType": "DetectedIssue",
        "status": "final",
        "code": {"coding": [coding], "text": crisis.title},
        "severity": "high",
        "patient": ctx.subject,
        "identifiedDateTime": ctx.when,
        "detail": crisis.clinician_note,
        "evidence": [
            {"detail": [ctx.ref("response")], "code": [{"text": crisis.title}]}
        ],
        "mitigation": [
            {"action": {"text": f"{r.name}: {r.contact}. {r.detail}"}}
            for r in crisis.resources
        ],
    }


def _issue(ctx: _Context, finding: Finding) -> dict[str, Any]:
    """One finding: rule, severity, rationale, evidence and citations."""
    coding = {"system": RULES_SYSTEM, "code": finding.rule_id, "display": finding.title}
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "extension": _finding_extensions(finding),
        "status": "final",
        "code": {"coding": [coding], "text": finding.title},
        "severity": ISSUE_SEVERITY[finding.level],
        "patient": ctx.subject,
        "identifiedDateTime": ctx.when,
        "detail": finding.clinician_rationale,
    }
    evidence = [_evidence(ctx, e) for e in finding.evidence]
    issue = _with(issue, "evidence", evidence)
    if finding.references:
        issue["reference"] = _reference_uri(finding.references[0])
    return issue


def _finding_extensions(finding: Finding) -> list[dict[str, Any]]:
    """The level, domain and full citations, which DetectedIssue has no field for."""
    return [
        {"url": LEVEL_EXT, "valueCode": finding.level.value},
        {"url": DOMAIN_EXT, "valueCode": finding.domain},
        *(
            {"url": CITATION_EXT, "valueString": _citation(r)}
            for r in finding.references
        ),
    ]


def _evidence(ctx: _Context, evidence: Evidence) -> dict[str, Any]:
    """One evidence item: what was seen, against which test, in the answers."""
    text = (
        f"{evidence.label} [{evidence.fact}] = {_shown(evidence.value)}; "
        f"test: {evidence.test}; source: {evidence.source}"
    )
    return {"code": [{"text": text}], "detail": [ctx.ref("response")]}


def _shown(value: Any) -> str:
    """A fact value in words (unknown stays unknown)."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(map(str, value)))
    return str(value)


def _reference_uri(reference: Reference) -> str:
    """A URI for a cited source (DetectedIssue.reference is a uri, not a citation)."""
    return REFERENCES_URI + reference.key


def _citation(reference: Reference) -> str:
    """The citation text, with its key and verification tag."""
    tag = f" [{reference.tag}]" if reference.tag else ""
    return f"{reference.key}{tag}: {reference.citation}"


# ---- Observation -------------------------------------------------------------------


def _observation(ctx: _Context, score: InstrumentScore, form: Form) -> dict[str, Any]:
    """One instrument score as a survey Observation."""
    category = {"system": CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [category]}],
        "code": _score_code(score, form),
        "subject": ctx.subject,
        "effectiveDateTime": ctx.when,
        "derivedFrom": [ctx.ref("response")],
        **_score_value(score),
        "note": [{"text": _score_note(score)}],
    }
    if score.band:
        observation["interpretation"] = [{"text": score.band}]
    return observation


def _score_code(score: InstrumentScore, form: Form) -> dict[str, Any]:
    """The score's LOINC code, or its fact id in the ketascreen scores system."""
    if score.loinc:
        coding = {"system": LOINC, "code": score.loinc, "display": score.score}
    else:
        coding = {"system": SCORES_SYSTEM, "code": _score_fact(score, form)}
    return {"coding": [coding], "text": score.score}


def _score_fact(score: InstrumentScore, form: Form) -> str:
    """The fact id of a score (``phq9.total``); the instrument id if not found."""
    prefix = score.instrument + "."
    for fact_id, spec in form.vocabulary.facts.items():
        ours = spec.origin == "score" and fact_id.startswith(prefix)
        if ours and spec.label.endswith(score.score):
            return fact_id
    return score.instrument


def _score_value(score: InstrumentScore) -> dict[str, Any]:
    """valueInteger for whole scores, valueQuantity otherwise, or why it is absent."""
    if score.value is None:
        reason = {"system": ABSENT_SYSTEM, "code": "unknown", "display": "Unknown"}
        return {"dataAbsentReason": {"coding": [reason], "text": "Items unanswered"}}
    if float(score.value).is_integer():
        return {"valueInteger": int(score.value)}
    unit = {"system": UCUM, "code": "{score}", "unit": "{score}"}
    return {"valueQuantity": {"value": score.value, **unit}}


def _score_note(score: InstrumentScore) -> str:
    """The score against its maximum and band, and any unanswered items."""
    shown = "unknown" if score.value is None else f"{score.value:g}"
    note = f"{score.name}: {shown} of {score.maximum:g}"
    if score.band:
        note += f"; band: {score.band}"
    if score.missing_items:
        note += f"; unanswered items: {', '.join(score.missing_items)}"
    return note + "."


def _with(resource: dict[str, Any], key: str, values: list[Any]) -> dict[str, Any]:
    """The resource with ``key`` set, unless the list is empty (FHIR has no [])."""
    if values:
        resource[key] = values
    return resource
