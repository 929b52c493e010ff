"""CDS Hooks 2.0 services: the record (prefetch) in, cards out.

Two services, defined in ``data/cds_hooks.yaml``: ``patient-view`` and
``order-select`` (which fires only when ketamine or esketamine is being ordered).
Prefetched resources become answers through the code maps (``interop.clinical``),
the one screening engine judges them, and each finding becomes a card. ketascreen
never fetches from the EHR's FHIR server (nothing leaves the machine), so a category
the EHR did not prefetch is named in a card as not checked, never taken as "none";
when nothing at all was prefetched, the service answers 412.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ketascreen.content.base import ContentModel, FileHeader
from ketascreen.content.files import DATA, load_model
from ketascreen.domain.outcome import Finding, ScreeningResult
from ketascreen.domain.types import Level
from ketascreen.errors import Problem
from ketascreen.interop.clinical import Unmapped, answers_from_resources
from ketascreen.interop.outcome import FhirError, problems_from_validation
from ketascreen.rules.loader import Content
from ketascreen.screening import screen

Indicator = Literal["info", "warning", "critical"]
OVERRIDE_SYSTEM = "http://ketascreen.org/fhir/CodeSystem/cds-override-reasons"
RULE_SYSTEM = "http://ketascreen.org/fhir/CodeSystem/rules"
SUMMARY_LIMIT = 140
#: What each prefetch key holds, as resource types (the categories a card can name).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "patient": ("Patient",),
    "conditions": ("Condition",),
    "observations": ("Observation",),
    "medications": ("MedicationRequest",),
    "medication_statements": ("MedicationStatement",),
    "allergies": ("AllergyIntolerance",),
}


class OrderTrigger(ContentModel):
    """Which orders make the order-select service fire."""

    rxnorm: list[str] = Field(min_length=1)
    names: list[str] = Field(min_length=1)


class ServiceSpec(ContentModel):
    """One CDS service."""

    id: str
    hook: Literal["patient-view", "order-select"]
    title: str
    description: str
    orders: OrderTrigger | None = None


class OverrideReason(ContentModel):
    """A reason a clinician may give for not following a card."""

    code: str
    display: str


class CdsHooksFile(FileHeader):
    """The services file."""

    source: str
    source_label: str
    questionnaire_path: str
    prefetch: dict[str, str]
    services: list[ServiceSpec] = Field(min_length=1)
    indicators: dict[Level, Indicator]
    override_reasons: list[OverrideReason] = Field(min_length=1)


class CdsRequest(BaseModel):
    """A hook call from the EHR (fields the spec defines; others are kept)."""

    model_config = ConfigDict(extra="allow")
    hook: str
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class UnknownService(LookupError):
    """No service with this id."""


class NothingToJudge(Exception):
    """No prefetched data at all: the EHR must send prefetch (HTTP 412)."""


@lru_cache(maxsize=1)
def load_services() -> CdsHooksFile:
    """The bundled services file (validated once per process)."""
    return load_model(CdsHooksFile, DATA / "cds_hooks.yaml")[0]


def discovery(spec: CdsHooksFile | None = None) -> dict[str, Any]:
    """The discovery document (``GET /cds-services``).

    Args:
        spec: the services file (default: bundled).

    Returns:
        ``{"services": [...]}`` with each service's prefetch templates.
    """
    spec = spec or load_services()
    return {
        "services": [
            {
                "hook": s.hook,
                "id": s.id,
                "title": s.title,
                "description": s.description,
                "prefetch": dict(spec.prefetch),
            }
            for s in spec.services
        ]
    }


def service(service_id: str, spec: CdsHooksFile | None = None) -> ServiceSpec:
    """The service with this id.

    Raises:
        UnknownService: there is none.
    """
    spec = spec or load_services()
    for candidate in spec.services:
        if candidate.id == service_id:
            return candidate
    raise UnknownService(service_id)


def parse_request(body: Any, expected_hook: str) -> CdsRequest:
    """Validate a hook call; problems name the field.

    Raises:
        FhirError: the body is not a CDS Hooks request for this hook.
    """
    try:
        request = CdsRequest.model_validate(body)
    except ValidationError as exc:
        raise FhirError(problems_from_validation(exc, "request")) from exc
    if request.hook != expected_hook:
        message = f"this service answers the {expected_hook} hook, not {request.hook}"
        raise FhirError([Problem("request.hook", message)])
    return request


def handle(
    service_id: str,
    body: Any,
    *,
    content: Content,
    base_url: str,
    today: date | None = None,
) -> dict[str, Any]:
    """Answer one hook call with cards.

    Args:
        service_id: which service was called.
        body: the request JSON.
        content: the loaded clinical content.
        base_url: this server's address, for the questionnaire link.
        today: the screening date (default: today).

    Returns:
        ``{"cards": [...]}``.

    Raises:
        UnknownService: no such service.
        FhirError: the request or a prefetched resource is invalid.
        NothingToJudge: nothing was prefetched.
    """
    spec = load_services()
    svc = service(service_id, spec)
    request = parse_request(body, svc.hook)
    if svc.orders is not None and not _orders_ketamine(request.context, svc.orders):
        return {"cards": []}
    resources, missing = _prefetched(request.prefetch or {})
    if not resources:
        raise NothingToJudge(_nothing_message(spec))
    record = answers_from_resources(resources, content.form, today=today)
    result = screen(record.answers, content=content, screening_date=today)
    link = base_url.rstrip("/") + spec.questionnaire_path
    cards = _cards(result, spec, link, order=svc.orders is not None)
    if cards or svc.orders is not None:
        if missing:
            cards.append(_missing_card(missing, spec))
        if record.unmapped:
            cards.append(_unmapped_card(record.unmapped, spec))
    return {"cards": cards}


def _nothing_message(spec: CdsHooksFile) -> str:
    keys = ", ".join(spec.prefetch)
    return (
        "No prefetched data was sent, and ketascreen does not fetch from the EHR. "
        f"Send the prefetch keys from discovery: {keys}."
    )


class _Coding(BaseModel):
    model_config = ConfigDict(extra="allow")
    system: str | None = None
    code: str | None = None
    display: str | None = None


class _Concept(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str | None = None
    coding: list[_Coding] = []


class _Order(BaseModel):
    model_config = ConfigDict(extra="allow")
    resourceType: str
    id: str | None = None
    medicationCodeableConcept: _Concept | None = None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")
    resource: _Order


class _DraftOrders(BaseModel):
    """The parts of an order-select context the service reads."""

    model_config = ConfigDict(extra="allow")
    entry: list[_Entry] = []


def _orders_ketamine(context: Mapping[str, Any], trigger: OrderTrigger) -> bool:
    try:
        draft = _DraftOrders.model_validate(context.get("draftOrders") or {})
        selections = TypeAdapter(list[str]).validate_python(
            context.get("selections") or []
        )
    except ValidationError as exc:
        raise FhirError(problems_from_validation(exc, "request.context")) from exc
    orders = [e.resource for e in draft.entry]
    chosen = [o for o in orders if f"{o.resourceType}/{o.id}" in selections]
    return any(_is_ketamine(o, trigger) for o in chosen or orders)


def _is_ketamine(order: _Order, trigger: OrderTrigger) -> bool:
    concept = order.medicationCodeableConcept or _Concept()
    words = [concept.text or ""]
    for coding in concept.coding:
        rxnorm = "rxnorm" in (coding.system or "")
        if rxnorm and coding.code in trigger.rxnorm:
            return True
        words.append(coding.display or "")
    text = " ".join(words).lower()
    return any(name in text for name in trigger.names)


def _prefetched(prefetch: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every prefetched resource (by type, whatever its key) and the categories absent.

    A category is absent when its key was not sent (or sent as null) and no resource
    of its type came under another key. An empty search result is not absent: the
    EHR looked and found none.
    """
    resources = [r for value in prefetch.values() for r in _resources_in(value)]
    present = {r.get("resourceType") for r in resources}
    missing = [
        key
        for key, types in CATEGORIES.items()
        if prefetch.get(key) is None and not present.intersection(types)
    ]
    return resources, missing


def _resources_in(value: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(value, dict):
        return
    if "resourceType" not in value and isinstance(value.get("resource"), dict):
        value = value["resource"]  # the draft spec's {"response", "resource"} form
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or ():
            yield from _resources_in(entry)
    elif "resourceType" in value:
        yield value


def _cards(
    result: ScreeningResult, spec: CdsHooksFile, link: str, *, order: bool
) -> list[dict[str, Any]]:
    cards = [_crisis_card(result, spec)] if result.crisis is not None else []
    judged = [f for f in result.findings if not f.unresolved]
    cards += [_finding_card(f, spec, link) for f in judged]
    if order and result.unknowns:
        cards.append(_questionnaire_card(result, spec, link))
    return cards


def _card(
    summary: str, indicator: Indicator, detail: str, spec: CdsHooksFile
) -> dict[str, Any]:
    if len(summary) >= SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 2].rstrip() + "…"
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": {"label": spec.source_label},
    }


def _crisis_card(result: ScreeningResult, spec: CdsHooksFile) -> dict[str, Any]:
    crisis = result.crisis
    assert crisis is not None
    lines = [f"**{crisis.title}**", "", crisis.clinician_note, ""]
    lines += [f"- {r.name}: {r.contact} ({r.detail})" for r in crisis.resources]
    card = _card(crisis.title, "critical", "\n".join(lines), spec)
    card["source"]["topic"] = {"system": RULE_SYSTEM, "code": "crisis"}
    return card


def _finding_card(finding: Finding, spec: CdsHooksFile, link: str) -> dict[str, Any]:
    card = _card(finding.title, spec.indicators[finding.level], _detail(finding), spec)
    card["source"]["topic"] = {
        "system": RULE_SYSTEM,
        "code": finding.rule_id,
        "display": finding.title,
    }
    card["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": r.code, "display": r.display}
        for r in spec.override_reasons
    ]
    card["links"] = [_questionnaire_link(link)]
    return card


def _detail(finding: Finding) -> str:
    level = finding.level.value.replace("_", " ")
    lines = [f"**{level.capitalize()}** (rule `{finding.rule_id}`)", ""]
    lines += [finding.clinician_rationale, "", "**Evidence**"]
    lines += [f"- {e.label}: {_shown(e.value)} ({e.test})" for e in finding.evidence]
    if finding.references:
        lines += ["", "**References**"]
        lines += [f"- [{r.key}] {r.citation}" for r in finding.references]
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(map(str, value))) or "none"
    return "unknown" if value is None else str(value)


def _questionnaire_link(link: str) -> dict[str, str]:
    return {
        "label": "Open the ketascreen questionnaire",
        "url": link,
        "type": "absolute",
    }


def _questionnaire_card(
    result: ScreeningResult, spec: CdsHooksFile, link: str
) -> dict[str, Any]:
    domains = sorted({d for u in result.unknowns for d in u.domains})
    detail = (
        f"{len(result.unknowns)} screening questions need the person's own answers "
        f"(areas: {', '.join(domains)}). The record cannot answer them; they are "
        "unknown, not 'no'. Ask the person to complete the questionnaire before the "
        "first dose."
    )
    card = _card(
        "Screening questions unanswered: ask the person to complete them",
        "info",
        detail,
        spec,
    )
    card["links"] = [_questionnaire_link(link)]
    return card


def _missing_card(missing: list[str], spec: CdsHooksFile) -> dict[str, Any]:
    names = ", ".join(k.replace("_", " ") for k in missing)
    detail = (
        f"The EHR did not send: {names}. ketascreen did not check these and does not "
        "take their absence as 'none'. Review them in the chart."
    )
    return _card(f"Not checked (not sent by the EHR): {names}", "info", detail, spec)


def _unmapped_card(
    unmapped: tuple[Unmapped, ...], spec: CdsHooksFile
) -> dict[str, Any]:
    lines = [
        "ketascreen could not use these record entries; review them in the chart:",
        "",
    ]
    lines += [
        f"- {u.resource_type}/{u.id or '?'}: {u.display or u.code or 'no code'}"
        f" ({u.system or 'no system'}|{u.code or ''}): {u.reason}"
        for u in unmapped
    ]
    summary = f"{len(unmapped)} record entries not interpreted"
    return _card(summary, "info", "\n".join(lines), spec)
