"""The intake as one FHIR R4 Questionnaire, following SDC conventions.

``questionnaire_resource(form)`` turns the flattened form into Questionnaire JSON that
``fhir.resources`` (R4B, wire-compatible with R4) validates and LHC-Forms renders.

Shape:

- One ``group`` per section (linkId = section id, text = title), starting with the
  section intro as a ``display`` item (linkId ``<section>-intro``). Each instrument is a
  nested ``group`` (linkId = instrument id, ``code`` = its LOINC panel when it has one)
  that starts with the instrument's instructions (``<instrument>-instructions``).
- Every question's linkId is its item id: the key of the answers file.
- Choice answers are ``answerOption.valueCoding`` in :data:`ANSWERS_SYSTEM` with
  code = the stored value (a number as text), except instrument options with a LOINC
  answer code, which use ``http://loinc.org``. Instrument options carry their points
  as ``ordinalValue``. Multi-choice items repeat; "none of these" options carry
  ``questionnaire-optionExclusive``.
- Numbers and durations (decimals in the item's unit) carry ``questionnaire-unit``
  (UCUM) and ``minValue``/``maxValue``. Help text is a ``display`` child
  (``<item>-help``) with item control ``help``.
- No item is ``required``: the form has no such notion (any question may be skipped).
  Instrument totals are not items; ketascreen scores them from the answers.

Display logic. ketascreen asks an item unless its condition is *false*: an unanswered
question makes a condition unknown, and an unknown gate shows the item
(``FormItem.visible``). Each condition becomes two formulas over the answers, "it is
true" and "it is false" (Kleene logic), and the item is enabled when "it is false" does
not hold. So ``not {X eq v}`` becomes "X has no answer, or X != v". Instrument flags
(``asq.positive``) are expanded into their definitions. Facts that only notes or
records supply are never in a FHIR form, so they stay unknown, and a branch that needs
one to be known is false. A condition every item of a section (or of an instrument)
shares goes on that group; the rest goes on the item, as:

- one flat ``enableWhen`` list with ``enableBehavior``, when one list can say it. A
  ``!=`` always comes with ``exists`` for the same question: LHC-Forms' ``!=`` needs an
  answer, R4's holds without one, and the pair means the same under both;
- otherwise the SDC ``enableWhenExpression`` extension (FHIRPath over ``%resource``).
  No item of the bundled content needs it; a ``count`` condition, or "all of several
  any-of lists", would.

Display conditions on computed scores, bands or derived facts cannot be said in a form
and raise ``ValueError``.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from fhir.resources.R4B.questionnaire import Questionnaire

from ketascreen.domain.types import FactKind
from ketascreen.instruments.model import InstrumentFile, Response, scoped_values
from ketascreen.intake.form import Form, FormItem, FormSection
from ketascreen.interop.response import ANSWERS_SYSTEM, LOINC, UCUM
from ketascreen.logic.schema import (
    All,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)

__all__ = ["ENABLE_WHEN_EXPRESSION", "QUESTIONNAIRE_URL", "questionnaire_resource"]

QUESTIONNAIRE_URL = "http://ketascreen.org/fhir/Questionnaire/ketascreen-intake"
_EXT = "http://hl7.org/fhir/StructureDefinition/"
_SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
ENABLE_WHEN_EXPRESSION = _SDC + "sdc-questionnaire-enableWhenExpression"
_ITEM_CONTROL = _EXT + "questionnaire-itemControl"
_ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
_ORDINAL = _EXT + "ordinalValue"
_UNIT = _EXT + "questionnaire-unit"
_EXCLUSIVE = _EXT + "questionnaire-optionExclusive"
_YES_NO = (("yes", "Yes"), ("no", "No"), ("unsure", "Not sure"))
#: The unit words of the content files, as UCUM codes.
_UCUM_CODES: Mapping[str, str] = {
    "years": "a",
    "months": "mo",
    "weeks": "wk",
    "days": "d",
    "mmHg": "mm[Hg]",
    "beats/min": "/min",
    "mg/day": "mg/d",
}
_TYPES: Mapping[FactKind, str] = {
    FactKind.duration: "decimal",
    FactKind.date: "date",
    FactKind.text: "text",
}

# ---- formulas over answers ---------------------------------------------------------


@dataclass(frozen=True)
class _Exists:
    """The question has an answer (``present``), or has none."""

    question: str
    present: bool


@dataclass(frozen=True)
class _In:
    """The question is answered and an answer is one of ``answers`` (negated: none is).

    ``others`` are the single-choice options not in ``answers`` (empty otherwise).
    """

    question: str
    answers: tuple[tuple[str, Any], ...]
    negated: bool = False
    others: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class _Compare:
    """The question is answered and its answer compares with ``answer`` by ``op``."""

    question: str
    op: str
    answer: tuple[str, Any]


@dataclass(frozen=True)
class _Or:
    parts: tuple[_F, ...]


@dataclass(frozen=True)
class _And:
    parts: tuple[_F, ...]


@dataclass(frozen=True)
class _AtLeast:
    need: int
    parts: tuple[_F, ...]


@dataclass(frozen=True)
class _Const:
    value: bool


_F: TypeAlias = _Exists | _In | _Compare | _Or | _And | _AtLeast | _Const
_Pair: TypeAlias = tuple[_F, _F]
TRUE = _Const(True)
FALSE = _Const(False)
_FLIP = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}


def _or(*parts: _F) -> _F:
    """Any of the parts, simplified."""
    return _join(_Or, parts, unit=FALSE, zero=TRUE)


def _and(*parts: _F) -> _F:
    """All of the parts, simplified."""
    return _join(_And, parts, unit=TRUE, zero=FALSE)


def _join(kind: type[_Or] | type[_And], parts: Sequence[_F], unit: _F, zero: _F) -> _F:
    """Flatten, drop units and repeats, stop at a zero, absorb redundant parts."""
    flat: list[_F] = []
    for part in parts:
        for p in _terms(part, kind):
            if p == zero:
                return zero
            if p != unit and p not in flat:
                flat.append(p)
    if any(_Exists(e.question, not e.present) in flat for e in _exists(flat)):
        return zero  # "answered or not" is always true, "answered and not" never
    flat = _absorbed(flat, kind)
    if not flat:
        return unit
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def _terms(formula: _F, kind: type[_Or] | type[_And]) -> tuple[_F, ...]:
    """The parts of a formula of this kind, or the formula alone."""
    return formula.parts if isinstance(formula, kind) else (formula,)


def _exists(parts: Sequence[_F]) -> list[_Exists]:
    return [p for p in parts if isinstance(p, _Exists)]


def _absorbed(parts: list[_F], kind: type[_Or] | type[_And]) -> list[_F]:
    """Drop parts the others already imply (``a or (a and b)`` is ``a``)."""
    dual = _And if kind is _Or else _Or
    kept: list[_F] = []
    for i, part in enumerate(parts):
        others = set(kept + parts[i + 1 :])
        if isinstance(part, dual) and any(
            set(_terms(d, kind)) <= others for d in part.parts
        ):
            continue
        kept.append(part)
    return kept


def _at_least(need: int, parts: Sequence[_F]) -> _F:
    """At least ``need`` of the parts."""
    need -= sum(p == TRUE for p in parts)
    live = [p for p in parts if not isinstance(p, _Const)]
    if need <= 0:
        return TRUE
    if need > len(live):
        return FALSE
    if need == 1:
        return _or(*live)
    return _and(*live) if need == len(live) else _AtLeast(need, tuple(live))


def _negate(f: _F) -> _F:
    """The negation, with negations pushed down to the answers."""
    if isinstance(f, _Const):
        return _Const(not f.value)
    if isinstance(f, _Exists):
        return _Exists(f.question, not f.present)
    if isinstance(f, _In):
        flipped = _In(f.question, f.answers, not f.negated, f.others)
        return _or(_Exists(f.question, False), flipped)
    if isinstance(f, _Compare):
        flipped_op = _Compare(f.question, _FLIP[f.op], f.answer)
        return _or(_Exists(f.question, False), flipped_op)
    if isinstance(f, _Or):
        return _and(*map(_negate, f.parts))
    if isinstance(f, _And):
        return _or(*map(_negate, f.parts))
    return _at_least(len(f.parts) - f.need + 1, [_negate(p) for p in f.parts])


# ---- conditions to formulas --------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    """One answer option of a choice item."""

    value: str | int
    coding: tuple[str, str]
    label: str
    ordinal: float | None = None
    exclusive: bool = False

    @property
    def answer(self) -> tuple[str, Any]:
        """The option as an enableWhen answer."""
        return ("answerCoding", self.coding)


@dataclass(frozen=True)
class _Scope:
    """What a condition is read against: the form and the parameter values."""

    form: Form
    params: Mapping[str, float]


_TESTS: Mapping[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "in": lambda x, v: x in v,
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}
_SYMBOLS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def _pair(cond: Condition, scope: _Scope) -> _Pair:
    """Formulas for "the condition is true" and "the condition is false"."""
    if isinstance(cond, FactTest):
        return _fact_pair(cond, scope)
    if isinstance(cond, Not):
        inner = _pair(cond.not_, scope)
        return inner[1], inner[0]
    if isinstance(cond, Count):
        return _count_pair(cond, scope)
    parts = cond.all if isinstance(cond, All) else cond.any
    pairs = [_pair(c, scope) for c in parts]
    trues, falses = [p[0] for p in pairs], [p[1] for p in pairs]
    if isinstance(cond, All):
        return _and(*trues), _or(*falses)
    return _or(*trues), _and(*falses)


def _count_pair(cond: Count, scope: _Scope) -> _Pair:
    """At least N true; false when more than (parts - N) are false."""
    need = math.ceil(_resolve(cond.gte, scope.params))
    pairs = [_pair(c, scope) for c in cond.count]
    holds = _at_least(need, [p[0] for p in pairs])
    return holds, _at_least(len(pairs) - need + 1, [p[1] for p in pairs])


def _resolve(operand: Any, params: Mapping[str, float]) -> Any:
    return params[operand.param] if isinstance(operand, ParamRef) else operand


def _fact_pair(test: FactTest, scope: _Scope) -> _Pair:
    """A fact test on a question, an instrument flag, or an external fact."""
    form, value = scope.form, _resolve(test.operand(test.op), scope.params)
    if test.fact in form.items:
        return _question_pair(form.items[test.fact], test.op, value, form)
    flag = _flag(form, test.fact)
    if flag is not None:
        inst_id, when = flag
        inner = _pair(when, _Scope(form, scoped_values(form.params, inst_id)))
        return _flag_pair(inner, test.op, value)
    if test.fact in form.external:
        return _absent_pair(test.op)
    raise ValueError(
        f"display condition on {test.fact!r}: a FHIR form cannot test a computed "
        "score, band or derived fact"
    )


def _flag(form: Form, fact: str) -> tuple[str, Condition] | None:
    """The instrument and definition of a flag fact (``asq.positive``), if it is one."""
    inst_id, _, flag_id = fact.partition(".")
    inst = form.instruments.get(inst_id)
    found = [f.when for f in inst.flags if f.id == flag_id] if inst else []
    return (inst_id, found[0]) if found else None


def _flag_pair(inner: _Pair, op: str, value: Any) -> _Pair:
    """A test on a flag, whose own "true" and "false" formulas are ``inner``."""
    holds, fails = inner
    if op in ("known", "unknown"):
        known = (_or(holds, fails), _and(_negate(holds), _negate(fails)))
        return known if op == "known" else (known[1], known[0])
    if op in ("eq", "ne"):
        pair = _flag_equals(inner, value)
        return pair if op == "eq" else (pair[1], pair[0])
    if op == "in":
        pairs = [_flag_equals(inner, v) for v in value]
        return _or(*(p[0] for p in pairs)), _and(*(p[1] for p in pairs))
    raise ValueError(f"a flag cannot be tested with {op!r}")


def _flag_equals(inner: _Pair, value: Any) -> _Pair:
    """A flag equals ``value``: true/false, or never for a value that is not boolean."""
    if not isinstance(value, bool):
        return FALSE, _or(*inner)
    return inner if value else (inner[1], inner[0])


def _absent_pair(op: str) -> _Pair:
    """A fact a FHIR form never holds: always unknown."""
    if op == "known":
        return FALSE, TRUE
    return (TRUE, FALSE) if op == "unknown" else (FALSE, FALSE)


def _question_pair(item: FormItem, op: str, value: Any, form: Form) -> _Pair:
    """A fact test on a question of the form."""
    if op in ("known", "unknown"):
        pair = (_Exists(item.id, True), _Exists(item.id, False))
        return pair if op == "known" else (pair[1], pair[0])
    if item.kind == FactKind.multi:
        return _multi_pair(item, op, value)
    options = _options(item, form)
    if options:
        return _choice_pair(item.id, options, op, value)
    return _plain_pair(item, op, value)


def _choice_pair(q: str, options: Sequence[_Option], op: str, value: Any) -> _Pair:
    """A test on a single-choice question: which options satisfy it."""
    if op not in _TESTS:
        raise ValueError(f"{q}: a single-choice question cannot be tested with {op!r}")
    chosen = tuple(o.answer for o in options if _satisfies(op, o.value, value))
    others = tuple(o.answer for o in options if o.answer not in chosen)
    if not chosen:
        return FALSE, _Exists(q, True)
    if not others:
        return _Exists(q, True), FALSE
    return _In(q, chosen, False, others), _In(q, chosen, True, others)


def _satisfies(op: str, stored: Any, value: Any) -> bool:
    """Whether a stored value passes the test (as the condition compiler decides)."""
    try:
        return bool(_TESTS[op](stored, value))
    except TypeError:
        return False


def _multi_pair(item: FormItem, op: str, value: Any) -> _Pair:
    """``contains`` or ``contains_any`` on a multi-choice question."""
    if op not in ("contains", "contains_any"):
        raise ValueError(f"{item.id}: a multi-choice question needs contains(_any)")
    wanted = [value] if op == "contains" else list(value)
    codes = tuple(("answerCoding", (ANSWERS_SYSTEM, c)) for c in wanted)
    if not codes:
        return FALSE, _Exists(item.id, True)
    return _In(item.id, codes), _In(item.id, codes, negated=True)


def _plain_pair(item: FormItem, op: str, value: Any) -> _Pair:
    """A test on a number, duration, date or text question."""
    q = item.id
    if op in _SYMBOLS:
        symbol, answer = _SYMBOLS[op], _answer_for(item, value)
        return _Compare(q, symbol, answer), _Compare(q, _FLIP[symbol], answer)
    if op not in ("eq", "ne", "in"):
        raise ValueError(f"{q}: cannot test this question with {op!r}")
    values = value if op == "in" else [value]
    answers = tuple(_answer_for(item, v) for v in values)
    pair = (_In(q, answers), _In(q, answers, negated=True))
    return (pair[1], pair[0]) if op == "ne" else pair


def _answer_for(item: FormItem, value: Any) -> tuple[str, Any]:
    """An enableWhen answer of the item's type."""
    if item.kind == FactKind.date:
        return ("answerDate", str(value))
    if item.kind == FactKind.text:
        return ("answerString", str(value))
    if item.integer and float(value).is_integer():
        return ("answerInteger", int(value))
    return ("answerDecimal", float(value))


def _visible(item: FormItem, form: Form) -> _F:
    """When the form asks the item: unless its condition is false."""
    if item.condition is None:
        return TRUE
    params = form.params
    if item.instrument is not None:
        params = scoped_values(params, item.instrument)
    return _negate(_pair(item.condition, _Scope(form, params))[1])


def _factor(formulas: Sequence[_F]) -> tuple[_F, list[_F]]:
    """The conditions every formula shares (for a group), and what is left of each."""
    conjuncts = [_terms(f, _And) for f in formulas]
    first, rest = (conjuncts[0], conjuncts[1:]) if conjuncts else ((), [])
    common = [c for c in first if all(c in other for other in rest)]
    left = [_and(*(c for c in terms if c not in common)) for terms in conjuncts]
    return _and(*common), left


# ---- formulas to enableWhen or FHIRPath --------------------------------------------


def _enable(formula: _F) -> dict[str, Any]:
    """``enableWhen`` + ``enableBehavior``, or the enableWhenExpression extension."""
    if formula == TRUE:
        return {}
    flat = _flat(formula)
    if flat is not None:
        return {"enableWhen": flat[1], "enableBehavior": flat[0]}
    expression = {"language": "text/fhirpath", "expression": _fhirpath(formula)}
    return {
        "extension": [{"url": ENABLE_WHEN_EXPRESSION, "valueExpression": expression}]
    }


def _flat(formula: _F) -> tuple[str, list[dict[str, Any]]] | None:
    """One enableWhen list and its behaviour, when one list can say the formula."""
    if isinstance(formula, _Or | _And):
        behaviours = ["any" if isinstance(formula, _Or) else "all"]
        atoms = formula.parts
    else:
        behaviours, atoms = ["any", "all"], (formula,)
    for behaviour in behaviours:
        rendered = [_when(atom, behaviour) for atom in atoms]
        if all(r is not None for r in rendered):
            when = _unique([w for r in rendered for w in r or ()])
            if behaviour == "all" or _paired(when):
                return behaviour, when
    return None


def _unique(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for i, e in enumerate(entries) if e not in entries[:i]]


def _paired(when: list[dict[str, Any]]) -> bool:
    """In an "any" list, every "!=" comes with "exists = false" for its question."""
    absent = {w["question"] for w in when if w.get("answerBoolean") is False}
    return all(w["question"] in absent for w in when if w["operator"] == "!=")


def _when(atom: _F, behaviour: str) -> list[dict[str, Any]] | None:
    """The enableWhen entries for one atom in an any/all list (None: cannot)."""
    if isinstance(atom, _Exists):
        return [_entry(atom.question, "exists", ("answerBoolean", atom.present))]
    if isinstance(atom, _Compare):
        return [_entry(atom.question, atom.op, atom.answer)]
    if isinstance(atom, _In):
        return _in_when(atom, behaviour)
    return None


def _in_when(atom: _In, behaviour: str) -> list[dict[str, Any]] | None:
    """``=`` / ``!=`` entries for an answer-set atom."""
    q, answers, others = atom.question, atom.answers, atom.others
    answered = [_entry(q, "exists", ("answerBoolean", True))]
    if behaviour == "any" and not atom.negated:
        return [_entry(q, "=", a) for a in answers]
    if behaviour == "any":
        if len(answers) == 1:
            return [_entry(q, "!=", answers[0])]
        return [_entry(q, "=", o) for o in others] if others else None
    if atom.negated:
        return answered + [_entry(q, "!=", a) for a in answers]
    if len(answers) == 1:
        return [_entry(q, "=", answers[0])]
    return answered + [_entry(q, "!=", o) for o in others] if others else None


def _entry(question: str, op: str, answer: tuple[str, Any]) -> dict[str, Any]:
    key, value = answer
    if key == "answerCoding":
        value = {"system": value[0], "code": value[1]}
    return {"question": question, "operator": op, key: value}


def _fhirpath(f: _F) -> str:
    """The formula as FHIRPath over the QuestionnaireResponse (``%resource``)."""
    if isinstance(f, _Const):
        return "true" if f.value else "false"
    if isinstance(f, _Exists):
        return f"{_answers_of(f.question)}.{'exists' if f.present else 'empty'}()"
    if isinstance(f, _In):
        return _in_path(f)
    if isinstance(f, _Compare):
        test = f"value {f.op} {_literal(f.answer)}"
        return f"{_answers_of(f.question)}.where({test}).exists()"
    if isinstance(f, _AtLeast):
        counts = " + ".join(f"iif({_fhirpath(p)}, 1, 0)" for p in f.parts)
        return f"({counts}) >= {f.need}"
    joiner = " or " if isinstance(f, _Or) else " and "
    return "(" + joiner.join(_fhirpath(p) for p in f.parts) + ")"


def _answers_of(question: str) -> str:
    return f"%resource.repeat(item).where(linkId = {_quote(question)}).answer"


def _in_path(atom: _In) -> str:
    answers = _answers_of(atom.question)
    match = " or ".join(f"({_match(a)})" for a in atom.answers)
    if atom.negated:
        return f"({answers}.exists() and {answers}.where({match}).empty())"
    return f"{answers}.where({match}).exists()"


def _match(answer: tuple[str, Any]) -> str:
    key, value = answer
    if key == "answerCoding":
        return f"value.system = {_quote(value[0])} and value.code = {_quote(value[1])}"
    return f"value = {_literal(answer)}"


def _literal(answer: tuple[str, Any]) -> str:
    key, value = answer
    if key == "answerDate":
        return f"@{value}"
    return _quote(value) if isinstance(value, str) else repr(value)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- the resource ------------------------------------------------------------------


def questionnaire_resource(
    form: Form, *, url: str = QUESTIONNAIRE_URL
) -> dict[str, Any]:
    """The form as one FHIR R4 Questionnaire (SDC), validated with fhir.resources.

    Args:
        form: the flattened form (``content.form``).
        url: the Questionnaire's canonical URL.

    Returns:
        The Questionnaire as JSON-ready data.

    Raises:
        ValueError: a display condition tests a fact a form cannot hold (a score,
            band or derived fact), or the resource does not validate.
    """
    data = {
        "resourceType": "Questionnaire",
        "id": form.id,
        "meta": {"profile": [_SDC + "sdc-questionnaire"]},
        "url": url,
        "version": form.version,
        "name": "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", form.id)),
        "title": form.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": form.intro,
        "copyright": _copyright(form) or None,
        "item": [_section(section, form) for section in form.sections],
    }
    model = Questionnaire.model_validate(data)
    return model.model_dump(mode="json", exclude_none=True)


def _copyright(form: Form) -> str:
    """The licence notices of the instruments the form includes."""
    used = dict.fromkeys(i.instrument for i in form.items.values() if i.instrument)
    notices = [form.instruments[i] for i in used]
    return "\n\n".join(f"{inst.short_name}: {inst.licence.notice}" for inst in notices)


def _section(section: FormSection, form: Form) -> dict[str, Any]:
    """One section as a group (its shared condition on the group)."""
    shared, own = _factor([_visible(item, form) for item in section.items])
    intro = [_display(f"{section.id}-intro", section.intro)] if section.intro else []
    children = intro + _children(section.items, own, form)
    return _group(section.id, section.title, children, shared)


def _children(
    items: Sequence[FormItem], own: Sequence[_F], form: Form
) -> list[dict[str, Any]]:
    """Own questions as they are; each run of an instrument's items as a group."""
    out: list[dict[str, Any]] = []
    pairs = zip(items, own, strict=True)
    for inst_id, run in itertools.groupby(pairs, key=lambda p: p[0].instrument):
        members = list(run)
        if inst_id is None:
            out += [_question(item, f, form) for item, f in members]
        else:
            out.append(_panel(form.instruments[inst_id], members, form))
    return out


def _panel(
    inst: InstrumentFile, members: Sequence[tuple[FormItem, _F]], form: Form
) -> dict[str, Any]:
    """An instrument's items as a group with its LOINC panel code and instructions."""
    shared, own = _factor([f for _, f in members])
    children = [_question(m[0], f, form) for m, f in zip(members, own, strict=True)]
    if inst.instructions:
        children.insert(0, _display(f"{inst.id}-instructions", inst.instructions))
    group = _group(inst.id, inst.name, children, shared)
    if inst.loinc:
        group["code"] = [_coding(LOINC, inst.loinc, inst.name)]
    return group


def _group(
    link_id: str, text: str, children: list[dict[str, Any]], enable: _F
) -> dict[str, Any]:
    group = {"linkId": link_id, "text": text, "type": "group", "item": children}
    return group | _enable(enable)


def _display(link_id: str, text: str, control: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": link_id, "text": text, "type": "display"}
    if control:
        item["extension"] = [_item_control(control)]
    return item


def _question(item: FormItem, enable: _F, form: Form) -> dict[str, Any]:
    """One question: type, codes, options or unit and bounds, help, display logic."""
    options = _options(item, form)
    data: dict[str, Any] = {"linkId": item.id, "text": item.text}
    data["type"] = "choice" if options else _type(item)
    data |= _item_code(item, form)
    if item.kind == FactKind.multi:
        data["repeats"] = True
    if options:
        data["answerOption"] = [_option_json(o) for o in options]
    if item.help:
        data["item"] = [_display(f"{item.id}-help", item.help, "help")]
    logic = _enable(enable)
    extensions = _extensions(item, bool(options)) + logic.pop("extension", [])
    return data | logic | ({"extension": extensions} if extensions else {})


def _type(item: FormItem) -> str:
    if item.kind == FactKind.number:
        return "integer" if item.integer else "decimal"
    return _TYPES.get(item.kind, "string")


def _item_code(item: FormItem, form: Form) -> dict[str, Any]:
    """The item's LOINC code, for instrument items that have one."""
    source = _source(item, form)
    if source is None or source[1] is None:
        return {}
    return {"code": [_coding(LOINC, source[1], item.text)]}


def _source(item: FormItem, form: Form) -> tuple[list[Response], str | None] | None:
    """An instrument item's responses and LOINC code (None for our own items)."""
    inst = form.instruments.get(item.instrument or "")
    found = [i for i in inst.items if i.id == item.id] if inst else []
    if inst is None or not found:
        return None
    return inst.responses_for(found[0]), found[0].loinc


def _options(item: FormItem, form: Form) -> tuple[_Option, ...]:
    """The answer options of a choice item (none for other items)."""
    if item.kind in (FactKind.yes_no, FactKind.yes_no_unsure):
        shown = _YES_NO if item.kind == FactKind.yes_no_unsure else _YES_NO[:2]
        return tuple(_Option(v, (ANSWERS_SYSTEM, v), label) for v, label in shown)
    source = _source(item, form)
    if source is not None:
        return tuple(_instrument_option(r) for r in source[0])
    return tuple(
        _Option(c.value, (ANSWERS_SYSTEM, str(c.value)), c.label, None, c.exclusive)
        for c in item.choices
    )


def _instrument_option(response: Response) -> _Option:
    """An instrument response: its LOINC answer code when it has one, and its points."""
    loinc = response.loinc
    coding = (LOINC, loinc) if loinc else (ANSWERS_SYSTEM, str(response.value))
    return _Option(response.value, coding, response.label, response.points)


def _option_json(option: _Option) -> dict[str, Any]:
    data: dict[str, Any] = {"valueCoding": _coding(*option.coding, option.label)}
    extensions: list[dict[str, Any]] = []
    if option.ordinal is not None:
        extensions.append({"url": _ORDINAL, "valueDecimal": option.ordinal})
    if option.exclusive:
        extensions.append({"url": _EXCLUSIVE, "valueBoolean": True})
    return data | ({"extension": extensions} if extensions else {})


def _extensions(item: FormItem, choice: bool) -> list[dict[str, Any]]:
    """Item control for choices; unit and bounds for numbers and durations."""
    if choice:
        multi = item.kind == FactKind.multi
        return [_item_control("check-box" if multi else "radio-button")]
    found: list[dict[str, Any]] = []
    if item.unit:
        found.append({"url": _UNIT, "valueCoding": _unit(item.unit)})
    key = "valueInteger" if _type(item) == "integer" else "valueDecimal"
    for name, bound in (("minValue", item.minimum), ("maxValue", item.maximum)):
        if bound is not None:
            number = int(bound) if key == "valueInteger" else float(bound)
            found.append({"url": _EXT + name, key: number})
    return found


def _unit(unit: str) -> dict[str, str]:
    """A UCUM coding for a unit word (display only when it has no known code)."""
    code = _UCUM_CODES.get(unit)
    return _coding(UCUM, code, unit) if code else {"display": unit}


def _item_control(code: str) -> dict[str, Any]:
    coding = _coding(_ITEM_CONTROL_SYSTEM, code, None)
    return {"url": _ITEM_CONTROL, "valueCodeableConcept": {"coding": [coding]}}


def _coding(system: str, code: str, display: str | None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    return coding | ({"display": display} if display else {})
