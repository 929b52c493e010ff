"""A FHIR R4 QuestionnaireResponse becomes ketascreen answers.

Two kinds of response are understood:

- **Ours.** ``questionnaire`` is ketascreen's canonical
  (``http://ketascreen.org/fhir/Questionnaire/<form id>``, optionally ``|version``).
  Items are matched by ``linkId`` (= item id; groups may nest), values are converted
  and then checked by the same validation ``screen`` uses. Answers to items the
  form would not show for these answers (``FormItem.visible``) are left out.
- **A foreign, LOINC-coded instrument** (e.g. the LHC-Forms PHQ-9). Its Questionnaire
  must come along: contained, in the Bundle, or passed as ``questionnaire=``. Items
  are matched by LOINC code to the instruments' ``loinc`` fields, never by linkId;
  answers by LOINC answer code (``Response.loinc``), ``ordinalValue`` or number.
  Answers the Questionnaire's enableWhen hides are left out, as SDC requires
  (``enableWhenExpression`` is not evaluated: such items count as shown).

Every answer that is not used is listed in ``ResponseAnswers.ignored`` with the
reason. Missing answers stay unknown; nothing here turns them into "no".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, Literal

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ketascreen.domain.types import FactKind
from ketascreen.errors import AnswersError, Problem
from ketascreen.instruments.model import Response
from ketascreen.instruments.scoring import CompiledInstrument, score_into
from ketascreen.intake.answers import FactSet, facts_from_answers
from ketascreen.intake.form import Form, FormItem
from ketascreen.interop.outcome import FhirError, problems_from_validation
from ketascreen.screening import get_content

__all__ = [
    "ANSWERS_SYSTEM",
    "LOINC",
    "ResponseAnswers",
    "answers_from_response",
    "disabled_link_ids",
    "read_questionnaire",
]

BASE = "http://ketascreen.org/fhir"
ANSWERS_SYSTEM = f"{BASE}/CodeSystem/answers"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_URLS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
    }
)
#: UCUM duration codes -> the unit words the questionnaire uses.
UCUM_UNITS: Mapping[str, str] = {
    "d": "days",
    "wk": "weeks",
    "mo": "months",
    "a": "years",
}
USABLE_STATUSES = ("in-progress", "completed", "amended", "stopped")
_QR = "QuestionnaireResponse"
_SIMPLE = ("valueInteger", "valueDecimal", "valueDate", "valueString", "valueBoolean")
_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


@dataclass(frozen=True)
class ResponseAnswers:
    """Answers read from a QuestionnaireResponse.

    Attributes:
        answers: item id to value, ready for ``screen`` (only the answers used).
        ignored: answers not used, each with its place in the response and why.
        source: ``"ketascreen"``, or the foreign Questionnaire's canonical (or
            ``http://loinc.org|<panel>`` when it has no canonical).
    """

    answers: dict[str, Any]
    ignored: tuple[Problem, ...]
    source: str


# ---- foreign Questionnaires, read leniently ---------------------------------------


class _Lenient(BaseModel):
    """Only the parts of a Questionnaire this module reads; anything else is kept."""

    model_config = ConfigDict(extra="allow", frozen=True)


class QCoding(_Lenient):
    """A Coding (system and code)."""

    system: str | None = None
    code: str | None = None


class QEnableWhen(_Lenient):
    """One enableWhen condition; its ``answer[x]`` stays in the extra fields."""

    question: str
    operator: Literal["exists", "=", "!=", ">", "<", ">=", "<="]

    @property
    def answer(self) -> Any:
        """The ``answer[x]`` value the condition compares with."""
        extra = self.model_extra or {}
        return next((v for k, v in extra.items() if k.startswith("answer")), None)


class QItem(_Lenient):
    """A Questionnaire item: linkId, codes, options, enableWhen and children."""

    linkId: str
    type: str | None = None
    code: list[QCoding] = Field(default_factory=list)
    answerOption: list[dict[str, Any]] = Field(default_factory=list)
    enableWhen: list[QEnableWhen] = Field(default_factory=list)
    enableBehavior: Literal["all", "any"] = "any"
    item: list[QItem] = Field(default_factory=list)

    @property
    def loinc_codes(self) -> list[str]:
        """The item's LOINC codes."""
        return [c.code for c in self.code if c.system == LOINC and c.code]


class QQuestionnaire(_Lenient):
    """A Questionnaire as far as mapping answers needs it."""

    resourceType: Literal["Questionnaire"]
    url: str | None = None
    version: str | None = None
    code: list[QCoding] = Field(default_factory=list)
    item: list[QItem] = Field(default_factory=list)


def read_questionnaire(data: Mapping[str, Any]) -> QQuestionnaire:
    """Read a Questionnaire leniently (only linkId, code, options, enableWhen).

    Strict R4 validation would refuse many real forms (e.g. LHC-Forms' variable
    names contain ``_``, which ``Expression.name`` does not allow).

    Args:
        data: the Questionnaire's JSON data.

    Returns:
        The parts of the Questionnaire used to map answers.

    Raises:
        FhirError: a part this module reads is malformed.
    """
    try:
        return QQuestionnaire.model_validate(data)
    except ValidationError as exc:
        raise FhirError(problems_from_validation(exc, "Questionnaire")) from None


# ---- the public entry point --------------------------------------------------------


def answers_from_response(
    data: Mapping[str, Any],
    form: Form,
    *,
    questionnaire: Mapping[str, Any] | None = None,
    instruments: Mapping[str, CompiledInstrument] | None = None,
    screening_date: date | None = None,
) -> ResponseAnswers:
    """Turn a QuestionnaireResponse into ketascreen answers.

    Args:
        data: a QuestionnaireResponse (its Questionnaire may be contained), or a
            Bundle holding one QuestionnaireResponse and optionally its Questionnaire.
        form: the form the answers are for (``content.form``).
        questionnaire: the foreign Questionnaire, when it does not come with ``data``.
        instruments: the content's instruments (``content.instruments``), for their
            LOINC codes and scores; default: those of the default content.
        screening_date: the date dates are checked against (default: the response's
            ``authored`` date, else today).

    Returns:
        The answers, the answers not used and why, and where they came from.

    Raises:
        FhirError: the response is not valid FHIR, was entered in error, belongs to
            a Questionnaire that cannot be resolved, or holds invalid answers.
    """
    response, came_with = _unpack(data)
    _check(response)
    compiled = get_content().instruments if instruments is None else instruments
    when = screening_date or _authored(response)
    if _is_ours(response.get("questionnaire"), form):
        return _from_ours(response, form, compiled, when)
    given = questionnaire if questionnaire is not None else came_with
    if given is None:
        raise FhirError([_unresolved(response, form)])
    return _from_foreign(response, read_questionnaire(given), form, compiled, when)


def disabled_link_ids(
    questionnaire: Mapping[str, Any], response: Mapping[str, Any]
) -> frozenset[str]:
    """The linkIds a Questionnaire's enableWhen disables for a response's answers.

    R4 rules: ``exists`` compares whether there is an answer; ``=`` and the orderings
    hold when any answer satisfies them; ``!=`` holds when no answer is equal;
    ``enableBehavior`` all/any (default any). Children of a disabled item are
    disabled, and a disabled item's answers count as absent for other conditions.

    Args:
        questionnaire: the Questionnaire's JSON data.
        response: the QuestionnaireResponse's JSON data (not validated here).

    Returns:
        The disabled linkIds.
    """
    form = read_questionnaire(questionnaire)
    return _disabled(form.item, _given(_answered(response.get("item"), _QR)))


# ---- reading the envelope ----------------------------------------------------------


def _unpack(
    data: Mapping[str, Any],
) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """The QuestionnaireResponse and the Questionnaire that came with it, if any."""
    kind = data.get("resourceType") if isinstance(data, Mapping) else None
    if kind == "Bundle":
        return _from_bundle(data)
    if kind == _QR:
        return data, _pick(_resources(data.get("contained")), data)
    message = "expected a QuestionnaireResponse, or a Bundle holding one"
    raise FhirError([Problem("resourceType", message)])


def _from_bundle(
    bundle: Mapping[str, Any],
) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
    """The one QuestionnaireResponse of a Bundle, and its Questionnaire if present."""
    entries = [e for e in bundle.get("entry") or () if isinstance(e, Mapping)]
    resources = _resources([e.get("resource") for e in entries])
    responses = [r for r in resources if r.get("resourceType") == _QR]
    if len(responses) != 1:
        message = f"expected one QuestionnaireResponse, found {len(responses)}"
        raise FhirError([Problem("Bundle.entry", message)])
    response = responses[0]
    contained = _resources(response.get("contained"))
    return response, _pick(resources, response) or _pick(contained, response)


def _resources(values: Any) -> list[Mapping[str, Any]]:
    """The resources in a list (anything else left out)."""
    return [v for v in values or () if isinstance(v, Mapping)]


def _pick(
    resources: Sequence[Mapping[str, Any]], response: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The Questionnaire the response names; else the only one, if it has no url."""
    found = [r for r in resources if r.get("resourceType") == "Questionnaire"]
    wanted = str(response.get("questionnaire") or "").split("|")[0]
    named = [q for q in found if wanted and _names(q, wanted)]
    if named:
        return named[0]
    alone = len(found) == 1 and not (found[0].get("url") and wanted)
    return found[0] if alone else None


def _names(questionnaire: Mapping[str, Any], url: str) -> bool:
    """Whether a reference (canonical, ``#id`` or ``Questionnaire/id``) names it."""
    ident = questionnaire.get("id")
    return url in (questionnaire.get("url"), f"#{ident}", f"Questionnaire/{ident}")


def _check(response: Mapping[str, Any]) -> None:
    """Validate the response (without its contained resources) and its status."""
    body = {k: v for k, v in response.items() if k != "contained"}
    try:
        QuestionnaireResponse.model_validate(body)
    except ValidationError as exc:
        raise FhirError(problems_from_validation(exc, _QR)) from None
    status = response.get("status")
    if status == "entered-in-error":
        message = "entered-in-error: this response was withdrawn and cannot be screened"
        raise FhirError([Problem(f"{_QR}.status", message)])
    if status not in USABLE_STATUSES:
        message = f"unknown status {status!r}; expected one of {list(USABLE_STATUSES)}"
        raise FhirError([Problem(f"{_QR}.status", message)])


def _authored(response: Mapping[str, Any]) -> date:
    """The date the response was authored, or today."""
    try:
        return date.fromisoformat(str(response.get("authored"))[:10])
    except ValueError:
        return date.today()  # noqa: DTZ011 - the clinic's local date is meant


def _is_ours(canonical: Any, form: Form) -> bool:
    """Whether a canonical names ketascreen's Questionnaire (any base, any version)."""
    url = str(canonical or "").split("|")[0]
    return ("/" + url).endswith(f"/Questionnaire/{form.id}")


def _unresolved(response: Mapping[str, Any], form: Form) -> Problem:
    """The error for a response whose Questionnaire is neither ours nor given."""
    named = response.get("questionnaire")
    ours = f"{BASE}/Questionnaire/{form.id}"
    what = (
        f"{named!r} is not ketascreen's Questionnaire and it did not come with the "
        "response"
        if named
        else "the response names no Questionnaire and none came with it"
    )
    return Problem(
        f"{_QR}.questionnaire",
        f"{what}. Send the Questionnaire it answers (contained, in the Bundle, or as "
        f"questionnaire=) so its items can be matched by LOINC code, or answer "
        f"ketascreen's own Questionnaire ({ours}).",
    )


# ---- walking the answers -----------------------------------------------------------


@dataclass(frozen=True)
class _Answered:
    """One answered item of the response."""

    link_id: str
    path: str
    answers: tuple[Mapping[str, Any], ...]


def _answered(items: Any, prefix: str) -> list[_Answered]:
    """Every answered item, depth first (nested items and answer items included)."""
    found: list[_Answered] = []
    for i, item in enumerate(items or ()):
        path = f"{prefix}.item[{i}]"
        answers = tuple(item.get("answer") or ())
        if answers:
            found.append(_Answered(str(item.get("linkId")), path, answers))
        found += _answered(item.get("item"), path)
        for j, answer in enumerate(answers):
            found += _answered(answer.get("item"), f"{path}.answer[{j}]")
    return found


def _value_of(answer: Mapping[str, Any]) -> tuple[str, Any]:
    """The ``value[x]`` of an answer, as (key, value)."""
    for key, value in answer.items():
        if key.startswith("value"):
            return key, value
    raise ValueError("the answer has no value")


class _Unmapped(Exception):
    """An answer with no ketascreen value: listed as ignored, not an error."""


@dataclass
class _Collected:
    """Answers gathered from a response, with their paths, problems and skips."""

    raw: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[Problem] = field(default_factory=list)

    def add(self, item_id: str, found: _Answered, convert: Callable[[], Any]) -> None:
        """Convert one answered item; note a problem or a skip instead if need be."""
        if item_id in self.raw:
            self.problems.append(
                Problem(found.path, f"{found.link_id}: {item_id} is answered twice")
            )
            return
        try:
            self.raw[item_id] = convert()
            self.paths[item_id] = found.path
        except _Unmapped as exc:
            self.skip(found, str(exc))
        except ValueError as exc:
            self.problems.append(Problem(found.path, f"{found.link_id}: {exc}"))

    def skip(self, found: _Answered, reason: str) -> None:
        """List an answer as not used."""
        self.ignored.append(Problem(found.path, f"{found.link_id}: {reason}"))


def _validated(form: Form, collected: _Collected, when: date) -> FactSet:
    """Check the answers as ``screen`` does; problems point into the response."""
    try:
        facts = facts_from_answers(form, collected.raw, when)
    except AnswersError as exc:
        moved = [_at(collected.paths, p) for p in exc.problems]
        raise FhirError(collected.problems + moved) from None
    if collected.problems:
        raise FhirError(collected.problems)
    return facts


def _at(paths: Mapping[str, str], problem: Problem) -> Problem:
    """An answers problem, placed at its item in the response."""
    where = paths.get(problem.where, f"{_QR}.item")
    return Problem(where, f"{problem.where}: {problem.message}")


# ---- instrument LOINC codes, from the content --------------------------------------


@dataclass(frozen=True)
class _Codes:
    """The instruments' LOINC codes, read from their files."""

    items: Mapping[str, str]
    """Item LOINC code -> item id."""
    answers: Mapping[str, Mapping[str, str | int]]
    """Item id -> LOINC answer code -> stored value."""
    points: Mapping[str, Mapping[float, str | int]]
    """Item id -> points -> stored value (only points that name one response)."""
    scores: Mapping[str, str]
    """Score LOINC code -> score name."""


def _codes(instruments: Mapping[str, CompiledInstrument]) -> _Codes:
    """Collect the LOINC codes of the instruments' items, answers and scores."""
    files = [c.file for c in instruments.values()]
    pairs = [(inst, item) for inst in files for item in inst.items]
    return _Codes(
        items={item.loinc: item.id for _, item in pairs if item.loinc},
        answers={i.id: _answer_codes(inst.responses_for(i)) for inst, i in pairs},
        points={i.id: _unique_points(inst.responses_for(i)) for inst, i in pairs},
        scores={s.loinc: s.name for inst in files for s in inst.scores if s.loinc},
    )


def _answer_codes(responses: list[Response]) -> dict[str, str | int]:
    """LOINC answer code -> stored value."""
    return {r.loinc: r.value for r in responses if r.loinc}


def _unique_points(responses: list[Response]) -> dict[float, str | int]:
    """Points -> stored value, for points that only one response gives."""
    seen: dict[float, list[str | int]] = {}
    for r in responses:
        if r.points is not None:
            seen.setdefault(r.points, []).append(r.value)
    return {p: values[0] for p, values in seen.items() if len(values) == 1}


# ---- our own Questionnaire ---------------------------------------------------------


def _from_ours(
    response: Mapping[str, Any],
    form: Form,
    instruments: Mapping[str, CompiledInstrument],
    when: date,
) -> ResponseAnswers:
    """Answers to ketascreen's Questionnaire, matched by linkId."""
    answer_codes = _codes(instruments).answers
    collected = _Collected()
    for found in _answered(response.get("item"), _QR):
        item = form.items.get(found.link_id)
        codes = answer_codes.get(found.link_id, {})
        collected.add(found.link_id, found, partial(_our_value, item, found, codes))
    facts = _validated(form, collected, when)
    for item_id in _hidden(form, facts.values, instruments):
        reason = "not shown by the form for these answers; answer not used"
        collected.skip(_Answered(item_id, collected.paths[item_id], ()), reason)
        del collected.raw[item_id]
    return ResponseAnswers(collected.raw, tuple(collected.ignored), "ketascreen")


def _our_value(
    item: FormItem | None, found: _Answered, codes: Mapping[str, str | int]
) -> Any:
    """One item's answers as an answers value (a list for multi-select)."""
    values = [_plain(item, answer, codes) for answer in found.answers]
    if item is not None and item.kind == FactKind.multi:
        return values
    return values[0] if len(values) == 1 else values


def _plain(
    item: FormItem | None, answer: Mapping[str, Any], codes: Mapping[str, str | int]
) -> Any:
    """One FHIR answer as the value the answers validation expects."""
    key, value = _value_of(answer)
    if key == "valueCoding":
        return _our_code(item, value, codes)
    if key == "valueQuantity":
        return _quantity(item, value)
    if key == "valueDateTime":
        return str(value)[:10]
    if key in _SIMPLE:
        return value
    raise ValueError(f"{key} answers are not used by ketascreen")


def _our_code(
    item: FormItem | None, coding: Mapping[str, Any], codes: Mapping[str, str | int]
) -> Any:
    """A coded answer: a LOINC answer code of the option, or our stored value."""
    system, code = coding.get("system"), coding.get("code")
    if system == LOINC:
        if isinstance(code, str) and code in codes:
            return codes[code]
        raise ValueError(f"LOINC answer code {code!r} is not an option of this item")
    if system not in (None, ANSWERS_SYSTEM):
        raise ValueError(f"codes from {system} are not used; use {ANSWERS_SYSTEM}")
    stored = item.codes if item is not None else ()
    return next((c for c in stored if str(c) == code), code)


def _quantity(item: FormItem | None, quantity: Mapping[str, Any]) -> Any:
    """A Quantity in the item's unit, or a duration in a unit the item accepts."""
    value = quantity.get("value")
    unit = UCUM_UNITS.get(quantity.get("code") or "") or quantity.get("unit")
    if item is None or unit is None or unit == item.unit:
        return value
    if item.kind == FactKind.duration and unit in item.units:
        return {"value": value, "unit": unit}
    raise ValueError(f"unit {unit!r} is not this item's unit ({item.unit})")


def _hidden(
    form: Form, values: Mapping[str, Any], instruments: Mapping[str, CompiledInstrument]
) -> list[str]:
    """Answered items the form hides, in form order (hidden answers count as absent)."""
    kept = dict(values)
    hidden: list[str] = []
    for item in form.items.values():
        if item.id not in kept or item.show_if is None:
            continue
        if not item.visible(_scored(kept, instruments)):
            hidden.append(item.id)
            kept.pop(item.id)
            kept.pop(f"{item.id}_months_ago", None)
    return hidden


def _scored(
    values: Mapping[str, Any], instruments: Mapping[str, CompiledInstrument]
) -> dict[str, Any]:
    """The facts with instrument scores, bands and flags (display logic reads them)."""
    scored = dict(values)
    for inst in instruments.values():
        score_into(inst, scored)
    return scored


# ---- a foreign, LOINC-coded Questionnaire ------------------------------------------


def _from_foreign(
    response: Mapping[str, Any],
    questionnaire: QQuestionnaire,
    form: Form,
    instruments: Mapping[str, CompiledInstrument],
    when: date,
) -> ResponseAnswers:
    """Answers to a foreign Questionnaire, matched by the items' LOINC codes."""
    codes = _codes(instruments)
    index = dict(_index(questionnaire.item))
    answered = _answered(response.get("item"), _QR)
    off = _disabled(questionnaire.item, _given(answered))
    collected = _Collected()
    for found in answered:
        qitem = index.get(found.link_id)
        _take(found, qitem, found.link_id in off, codes, form, collected)
    _validated(form, collected, when)
    source = _source(questionnaire, response)
    return ResponseAnswers(collected.raw, tuple(collected.ignored), source)


def _index(items: list[QItem]) -> Iterator[tuple[str, QItem]]:
    """Every item of a Questionnaire by linkId."""
    for item in items:
        yield item.linkId, item
        yield from _index(item.item)


def _take(
    found: _Answered,
    qitem: QItem | None,
    hidden: bool,
    codes: _Codes,
    form: Form,
    collected: _Collected,
) -> None:
    """Use one answered foreign item, or list it as ignored with the reason."""
    target = _target(qitem, codes, form)
    reason = _skip_reason(qitem, hidden, target, codes)
    if reason is not None or qitem is None or target is None:
        collected.skip(found, reason or "not used")
        return
    item = form.items[target]
    collected.add(target, found, partial(_foreign_value, item, qitem, found, codes))


def _target(qitem: QItem | None, codes: _Codes, form: Form) -> str | None:
    """The ketascreen item a foreign item's LOINC code names, if the form has it."""
    if qitem is None:
        return None
    ids = (codes.items.get(c) for c in qitem.loinc_codes)
    return next((i for i in ids if i is not None and i in form.items), None)


def _skip_reason(
    qitem: QItem | None, hidden: bool, target: str | None, codes: _Codes
) -> str | None:
    """Why a foreign answer is not used, or None when it is."""
    if hidden:
        return "hidden by the Questionnaire's enableWhen; SDC says not to use it"
    if qitem is None:
        return "this linkId is not in the Questionnaire"
    score = next((c for c in qitem.loinc_codes if c in codes.scores), None)
    if score is not None:
        return f"{codes.scores[score]} (LOINC {score}) is computed from the items"
    if target is None:
        named = ", ".join(qitem.loinc_codes) or "no LOINC code"
        return f"no ketascreen item has this item's code ({named})"
    return None


def _foreign_value(
    item: FormItem, qitem: QItem, found: _Answered, codes: _Codes
) -> Any:
    """A foreign answer as the stored value of our instrument item."""
    if len(found.answers) != 1:
        raise ValueError(f"expected one answer, got {len(found.answers)}")
    key, value = _value_of(found.answers[0])
    if key == "valueCoding":
        return _foreign_code(item, qitem, value, codes)
    if key == "valueBoolean" and {"yes", "no"} <= set(item.codes):
        return "yes" if value else "no"
    if key in _SIMPLE:
        return value
    raise ValueError(f"{key} answers are not used by ketascreen")


def _foreign_code(
    item: FormItem, qitem: QItem, coding: Mapping[str, Any], codes: _Codes
) -> str | int:
    """A coded foreign answer: by LOINC answer code, else by its ordinal value."""
    code = coding.get("code")
    by_code = codes.answers.get(item.id, {})
    if coding.get("system") in (None, LOINC) and code in by_code:
        return by_code[str(code)]
    ordinal = _ordinal(qitem, coding)
    value = None if ordinal is None else codes.points.get(item.id, {}).get(ordinal)
    if value is None:
        raise _Unmapped(f"answer code {code!r} has no ketascreen value for {item.id}")
    return value


def _ordinal(qitem: QItem, coding: Mapping[str, Any]) -> float | None:
    """The ordinalValue of the option chosen (on the option, else on the coding)."""
    chosen = _comparable(coding)
    for option in qitem.answerOption:
        if _equal(_comparable(option.get("valueCoding")), chosen):
            return _ordinal_of(option.get("extension"))
    return _ordinal_of(coding.get("extension"))


def _ordinal_of(extensions: Any) -> float | None:
    """The ordinalValue (or itemWeight) in a list of extensions."""
    for ext in extensions or ():
        if ext.get("url") in ORDINAL_URLS:
            number = ext.get("valueDecimal", ext.get("valueInteger"))
            if _is_number(number):
                return float(number)
    return None


def _source(questionnaire: QQuestionnaire, response: Mapping[str, Any]) -> str:
    """The foreign Questionnaire's canonical, else its LOINC panel code."""
    if questionnaire.url:
        version = questionnaire.version
        return f"{questionnaire.url}|{version}" if version else questionnaire.url
    panel = next((c.code for c in questionnaire.code if c.system == LOINC), None)
    if panel:
        return f"{LOINC}|{panel}"
    return str(response.get("questionnaire") or "Questionnaire without a canonical")


# ---- enableWhen (FHIR R4) ----------------------------------------------------------


@dataclass(frozen=True)
class _Code:
    """A coded value, compared by code (and system when both have one)."""

    system: str | None
    code: str | None


def _given(answered: list[_Answered]) -> dict[str, list[Any]]:
    """LinkId -> comparable answer values."""
    given: dict[str, list[Any]] = {}
    for found in answered:
        values = [_comparable(_value_of(a)[1]) for a in found.answers if _has_value(a)]
        given.setdefault(found.link_id, []).extend(values)
    return given


def _has_value(answer: Mapping[str, Any]) -> bool:
    """Whether an answer carries a ``value[x]``."""
    return any(key.startswith("value") for key in answer)


def _comparable(raw: Any) -> Any:
    """An answer or enableWhen value in a comparable form."""
    if not isinstance(raw, Mapping):
        return raw
    if "code" in raw or "system" in raw:
        return _Code(raw.get("system"), raw.get("code"))
    return raw.get("value", raw.get("reference"))


def _disabled(items: list[QItem], given: Mapping[str, list[Any]]) -> frozenset[str]:
    """Disabled linkIds, repeated until stable (disabled answers count as absent)."""
    off: frozenset[str] = frozenset()
    for _ in range(len(given) + 2):
        live = {k: v for k, v in given.items() if k not in off}
        now = frozenset(_walk(items, live, parent_off=False))
        if now == off:
            break
        off = now
    return off


def _walk(
    items: list[QItem], live: Mapping[str, list[Any]], *, parent_off: bool
) -> Iterator[str]:
    """LinkIds that are disabled, given the answers that count."""
    for item in items:
        off = parent_off or not _enabled(item, live)
        if off:
            yield item.linkId
        yield from _walk(item.item, live, parent_off=off)


def _enabled(item: QItem, live: Mapping[str, list[Any]]) -> bool:
    """Whether an item's enableWhen conditions allow it (no conditions: yes)."""
    if not item.enableWhen:
        return True
    results = (_holds(c, live.get(c.question, [])) for c in item.enableWhen)
    return all(results) if item.enableBehavior == "all" else any(results)


def _holds(condition: QEnableWhen, values: list[Any]) -> bool:
    """One enableWhen condition, per the R4 operator definitions."""
    expected = _comparable(condition.answer)
    if condition.operator == "exists":
        return bool(values) == (expected is True)
    if condition.operator == "!=":
        return not any(_equal(v, expected) for v in values)
    if condition.operator == "=":
        return any(_equal(v, expected) for v in values)
    order = _ORDER[condition.operator]
    return any(_same_type(v, expected) and order(v, expected) for v in values)


def _equal(a: Any, b: Any) -> bool:
    """Equality across answer types (codes by code; systems when both are given)."""
    if isinstance(a, _Code) and isinstance(b, _Code):
        same_system = a.system == b.system or None in (a.system, b.system)
        return a.code == b.code and same_system
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return _same_type(a, b) and a == b


def _same_type(a: Any, b: Any) -> bool:
    """Whether two values can be compared: both numbers or both text."""
    return (_is_number(a) and _is_number(b)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def _is_number(value: Any) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
