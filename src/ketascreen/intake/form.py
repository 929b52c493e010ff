"""The flattened form: every askable item in order, with its section and display logic.

Built from the questionnaire file and the instruments it includes. The form is also
where the fact vocabulary comes from: items, instrument scores, bands and flags,
derived facts and external facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ketascreen.content.questionnaire import (
    InstrumentRef,
    Item,
    QuestionnaireFile,
    Section,
)
from ketascreen.domain.facts import FactSpec, Vocabulary
from ketascreen.domain.types import FactKind
from ketascreen.instruments.model import InstrumentFile, scoped_values
from ketascreen.logic.compiler import Evaluator, compile_condition
from ketascreen.logic.schema import All, Condition


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a choice item."""

    value: str | int
    label: str
    help: str | None = None
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class FormItem:
    """One askable item, from the questionnaire or an instrument."""

    id: str
    kind: FactKind
    text: str
    label: str
    section: str
    help: str | None
    choices: tuple[Choice, ...]
    unit: str | None
    minimum: float | None
    maximum: float | None
    integer: bool
    units: Mapping[str, float]
    show_if: Evaluator | None
    audience: str
    instrument: str | None
    derive_months_ago: bool
    codes: tuple[str | int, ...] = ()
    accept: Mapping[str | int, str | int] = field(default_factory=dict)
    """Exact spellings accepted for coded items, mapped to their fact value."""
    number_range: tuple[float, float] | None = None
    """For plain number items: the inclusive range a number may take."""
    multi_codes: frozenset[str] = frozenset()
    exclusive_codes: frozenset[str] = frozenset()
    condition: Condition | None = None
    """The source of ``show_if`` (``{param: NAME}`` unresolved), for adapters."""

    def visible(self, facts: Mapping[str, Any]) -> bool:
        """Whether to ask this item given the facts so far (unknown gate: ask)."""
        return self.show_if is None or self.show_if(facts) is not False

    def __post_init__(self) -> None:
        object.__setattr__(self, "codes", tuple(c.value for c in self.choices))
        object.__setattr__(self, "accept", _accepted(self.kind, self.codes))
        if self.kind == FactKind.multi:
            object.__setattr__(self, "multi_codes", frozenset(map(str, self.codes)))
            exclusive = frozenset(str(c.value) for c in self.choices if c.exclusive)
            object.__setattr__(self, "exclusive_codes", exclusive)
        number = self.kind == FactKind.number and not self.choices
        if number and self.minimum is not None and self.maximum is not None:
            object.__setattr__(self, "number_range", (self.minimum, self.maximum))


@dataclass(frozen=True, slots=True)
class FormSection:
    """A page of the form."""

    id: str
    title: str
    intro: str | None
    audience: str
    items: tuple[FormItem, ...]
    instruction: dict[str, str]


@dataclass(frozen=True)
class Form:
    """The whole form and the fact vocabulary it defines."""

    id: str
    version: str
    title: str
    intro: str
    sections: tuple[FormSection, ...]
    items: Mapping[str, FormItem]
    external: Mapping[str, FactSpec]
    vocabulary: Vocabulary
    coded: Mapping[str, Mapping[Any, str | int]] = field(default_factory=dict)
    """Item id to its exact accepted spellings, for coded items (validation fast path)."""
    instruments: Mapping[str, InstrumentFile] = field(default_factory=dict)
    """The instrument files the form was built from (codes and wording, for adapters)."""
    params: Mapping[str, float] = field(default_factory=dict)
    """The parameter values the display conditions were compiled with."""


_SPELLINGS: dict[str, tuple[str, ...]] = {
    "yes": ("yes", "Yes", "YES", "y", "Y", "true", "True"),
    "no": ("no", "No", "NO", "n", "N", "false", "False"),
    "unsure": ("unsure", "Unsure", "not sure", "Not sure", "don't know", "unknown"),
}


def _accepted(
    kind: FactKind, codes: tuple[str | int, ...]
) -> dict[str | int, str | int]:
    """Exact spellings for a coded item (the fast path of answer validation)."""
    accept: dict[str | int, str | int] = {}
    if kind in (FactKind.yes_no, FactKind.yes_no_unsure):
        wanted = (
            ("yes", "no", "unsure") if kind == FactKind.yes_no_unsure else ("yes", "no")
        )
        for value in wanted:
            accept.update(dict.fromkeys(_SPELLINGS[value], value))
    elif kind in (FactKind.single, FactKind.number):
        for code in codes:
            accept[code] = code
            accept[str(code)] = code
    return accept


def build_form(
    questionnaire: QuestionnaireFile,
    instruments: Mapping[str, InstrumentFile],
    params: Mapping[str, float],
    extra: tuple[str, ...] = (),
) -> Form:
    """Flatten the questionnaire and its instruments into a form.

    Args:
        questionnaire: the questionnaire file.
        instruments: instruments by id (all that the questionnaire or ``extra`` name).
        params: parameter values for conditions.
        extra: ids of instruments a clinic added; asked in a final section.

    Returns:
        The form.
    """
    sections: list[FormSection] = []
    for section in questionnaire.sections:
        sections.append(_section(section, instruments, params))
    for inst_id in extra:
        inst = instruments[inst_id]
        ref = InstrumentRef(instrument=inst_id)
        page = Section(id=f"extra_{inst_id}", title=inst.name, items=[ref])
        sections.append(_section(page, instruments, params))
    items = {item.id: item for s in sections for item in s.items}
    external = {
        e.id: FactSpec(
            id=e.id, kind=e.kind, label=e.label, origin="external", codes=tuple(e.codes)
        )
        for e in questionnaire.external_facts
    }
    vocab = _vocabulary(items, instruments, external)
    return Form(
        questionnaire.id,
        questionnaire.version,
        questionnaire.title,
        questionnaire.intro,
        tuple(sections),
        items,
        external,
        vocab,
        {item.id: item.accept for item in items.values() if item.accept},
        dict(instruments),
        dict(params),
    )


def _join(*conds: Condition | None) -> Condition | None:
    present = [c for c in conds if c is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else All(all=present)


def _section(
    section: Section,
    instruments: Mapping[str, InstrumentFile],
    params: Mapping[str, float],
) -> FormSection:
    items: list[FormItem] = []
    instruction: dict[str, str] = {}
    for entry in section.items:
        if isinstance(entry, Item):
            cond = _join(section.show_if, entry.show_if)
            items.append(_own_item(entry, section, cond, params))
            continue
        inst = instruments[entry.instrument]
        if inst.instructions:
            instruction[inst.id] = inst.instructions
        for it in inst.items:
            cond = _join(section.show_if, entry.show_if, it.show_if)
            responses = inst.responses_for(it)
            numeric = bool(responses) and all(
                isinstance(r.value, int) for r in responses
            )
            kind = (
                FactKind.text
                if it.kind == "text"
                else (FactKind.number if numeric else FactKind.single)
            )
            items.append(
                FormItem(
                    id=it.id,
                    kind=kind,
                    text=it.text,
                    label=f"{inst.short_name} {it.id.rsplit('_', 1)[-1]}: {it.text}",
                    section=section.id,
                    help=None,
                    choices=tuple(Choice(r.value, r.label) for r in responses),
                    unit=None,
                    minimum=None,
                    maximum=None,
                    integer=numeric,
                    units={},
                    show_if=(
                        compile_condition(cond, scoped_values(params, inst.id))
                        if cond
                        else None
                    ),
                    audience=section.audience,
                    instrument=inst.id,
                    derive_months_ago=False,
                    condition=cond,
                )
            )
    return FormSection(
        section.id,
        section.title,
        section.intro,
        section.audience,
        tuple(items),
        instruction,
    )


def _own_item(
    item: Item, section: Section, cond: Condition | None, params: Mapping[str, float]
) -> FormItem:
    return FormItem(
        id=item.id,
        kind=item.fact_kind,
        text=item.text,
        label=item.label or item.text,
        section=section.id,
        help=item.help,
        choices=tuple(
            Choice(o.code, o.label, o.help, o.exclusive) for o in item.options
        ),
        unit=item.unit,
        minimum=item.minimum,
        maximum=item.maximum,
        integer=item.integer,
        units=dict(item.units),
        show_if=compile_condition(cond, params) if cond else None,
        audience=item.audience if item.audience != "person" else section.audience,
        instrument=None,
        derive_months_ago=item.derive_months_ago,
        condition=cond,
    )


_YES_NO = {
    FactKind.yes_no: ("yes", "no"),
    FactKind.yes_no_unsure: ("yes", "no", "unsure"),
}


def _vocabulary(
    items: Mapping[str, FormItem],
    instruments: Mapping[str, InstrumentFile],
    external: Mapping[str, FactSpec],
) -> Vocabulary:
    facts: dict[str, FactSpec] = {}
    used_instruments: dict[str, None] = {}
    for item in items.values():
        codes = _YES_NO.get(item.kind, item.codes)
        facts[item.id] = FactSpec(
            id=item.id,
            kind=item.kind,
            label=item.label,
            origin="instrument_item" if item.instrument else "item",
            codes=codes,
            unit=item.unit,
            minimum=item.minimum,
            maximum=item.maximum,
            section=item.section,
        )
        if item.instrument:
            used_instruments[item.instrument] = None
        if item.derive_months_ago:
            fid = f"{item.id}_months_ago"
            facts[fid] = FactSpec(
                id=fid,
                kind=FactKind.number,
                label=f"{item.label} (months ago)",
                origin="derived",
                unit="months",
                section=item.section,
            )
    for inst_id in used_instruments:
        inst = instruments[inst_id]
        for score in inst.scores:
            fid = f"{inst.id}.{score.id}"
            facts[fid] = FactSpec(
                id=fid,
                kind=FactKind.number,
                label=f"{inst.short_name} {score.name}",
                origin="score",
                minimum=0,
                maximum=score.maximum,
            )
            if score.bands:
                facts[fid + "_band"] = FactSpec(
                    id=fid + "_band",
                    kind=FactKind.single,
                    label=f"{inst.short_name} {score.name} band",
                    origin="band",
                    codes=tuple(b.label for b in score.bands),
                )
        for flag in inst.flags:
            fid = f"{inst.id}.{flag.id}"
            facts[fid] = FactSpec(
                id=fid,
                kind=FactKind.boolean,
                label=f"{inst.short_name}: {flag.label}",
                origin="flag",
                codes=(True, False),
            )
    facts.update(external)
    return Vocabulary(facts=facts)
