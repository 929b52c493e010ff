"""Code maps kept as data: what a SNOMED CT, ICD-10-CM, RxNorm or LOINC code means as
an answer to the questionnaire.

One YAML file per code system lives in ``data/codes/``. A file holds groups of codes;
every code in a group means the same answers. Clinicians review and change these files
without touching code; :func:`unknown_targets` checks that every mapped item and value
exists in the questionnaire.

```
CodeMaps.lookup(system, code) -> [CodeMapping(system, code, display, group)]
                                         group.answers / if_refuted / results / ...
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Self

from pydantic import Field, model_validator

from ketascreen.content.base import ContentModel, FileHeader
from ketascreen.content.files import DATA, load_model
from ketascreen.domain.types import FactKind
from ketascreen.errors import ContentError, Problem
from ketascreen.intake.form import Form

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"

FILES: dict[str, str] = {
    "snomed": SNOMED,
    "icd10cm": ICD10CM,
    "rxnorm": RXNORM,
    "loinc": LOINC,
}
"""File name (without ``.yaml``) to the FHIR system URL its codes belong to."""

ResourceType = Literal[
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
]


class Answer(ContentModel):
    """What a code means as one answer."""

    item: str = Field(description="Questionnaire item id.")
    value: str | None = Field(
        default=None,
        description="The answer; for multi-select items it is added to the set. "
        "Leave it out for number items: the observation's value is used.",
    )
    ever: bool = Field(
        default=False,
        description="The item asks about 'ever', so an inactive (resolved, remission) "
        "record still gives this answer.",
    )


class Result(ContentModel):
    """A coded observation result (e.g. a pregnancy test's positive) and its answers."""

    system: str
    code: str
    display: str
    names: list[str] = Field(
        default_factory=list, description="Exact result words (valueString), any case."
    )
    negative: bool = Field(
        default=False,
        description="An explicit negative: used only within the group's "
        "negative_within_days of the screening date.",
    )
    answers: list[Answer] = Field(min_length=1)


class Code(ContentModel):
    """One code of a group."""

    code: str
    display: str
    prefix: bool = Field(
        default=False,
        description="Also match longer codes that start with this one (ICD-10-CM "
        "categories). The longest match wins.",
    )
    names: list[str] = Field(
        default_factory=list,
        description="Exact names (medication text or display, any case) that mean "
        "this code.",
    )
    evidence: Literal["V", "S", "U"] | None = Field(
        default=None, description="Overrides the group's evidence for this code."
    )


class Group(ContentModel):
    """Codes that mean the same answers."""

    id: str
    resources: list[ResourceType] = Field(
        min_length=1, description="Resource types whose codes this group reads."
    )
    evidence: Literal["V", "S", "U"] = Field(
        description="How the codes were checked (CLINICAL.md tags): V primary or "
        "official source, S third-party copy, U from common use, not re-checked."
    )
    note: str | None = None
    answers: list[Answer] = Field(default_factory=list)
    if_refuted: list[Answer] = Field(
        default_factory=list,
        description="Answers an explicit refutation gives (e.g. a refuted allergy).",
    )
    noted_as: list[str] = Field(
        default_factory=list,
        description="Fact ids (instrument scores) whose sources list the resource; "
        "no answer is set.",
    )
    results: list[Result] = Field(default_factory=list)
    negative_within_days: int | None = Field(
        default=None,
        ge=0,
        description="How recent a negative result must be to answer 'no'. Unset: "
        "negative results never answer.",
    )
    units: list[str] = Field(
        default_factory=list,
        description="Accepted units (UCUM code or unit text) for number answers.",
    )
    panel: bool = Field(
        default=False, description="A panel whose components carry the values."
    )
    onset_item: str | None = Field(
        default=None,
        description="Duration item (months ago) set from the condition's onset.",
    )
    unmapped_reason: str | None = Field(
        default=None,
        description="Known codes deliberately left unmapped, and why (reported back).",
    )
    codes: list[Code] = Field(min_length=1)

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        used = (
            self.answers or self.if_refuted or self.noted_as or self.results
        ) or self.panel
        if bool(used) == bool(self.unmapped_reason):
            raise ValueError(
                "give answers, if_refuted, noted_as, results or panel, "
                "or else unmapped_reason (not both)"
            )
        return self


class CodeFile(FileHeader):
    """One code system's map."""

    system: str = Field(description="The FHIR system URL of every code here.")
    source: str = Field(description="Where the codes were checked.")
    note: str = Field(description="How codes were chosen, and what was left out.")
    references: list[str] = Field(
        default_factory=list, description="Reference keys (references.yaml)."
    )
    groups: list[Group]


@dataclass(frozen=True)
class CodeMapping:
    """A code found in a map, with the group that says what it means.

    Args:
        system: the FHIR system URL.
        code: the code as written in the map (a prefix for prefix entries).
        display: the map's display for it.
        group: the group it belongs to.
    """

    system: str
    code: str
    display: str
    group: Group


@dataclass(frozen=True)
class CodeMaps:
    """All code maps, indexed for lookup."""

    files: dict[str, CodeFile]
    exact: dict[tuple[str, str], list[CodeMapping]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, CodeMapping]]] = field(default_factory=dict)
    names: dict[str, list[CodeMapping]] = field(default_factory=dict)

    def lookup(self, system: str, code: str) -> list[CodeMapping]:
        """What a code means; prefix entries match longer codes, the longest wins.

        Args:
            system: the FHIR system URL.
            code: the code as the record gives it (ICD-10-CM with or without dot).

        Returns:
            The mappings (several when groups share a code); empty when unknown.
        """
        key = normal_code(system, code)
        found = [(len(key), m) for m in self.exact.get((system, key), [])]
        found += [
            (len(p), m)
            for p, m in self.prefixes.get(system, [])
            if key.startswith(p) and len(p) < len(key)
        ]
        if not found:
            return []
        longest = max(length for length, _ in found)
        return [m for length, m in found if length == longest]

    def by_name(self, name: str) -> list[CodeMapping]:
        """Mappings whose listed names equal ``name`` exactly (any case).

        Args:
            name: a medication or substance name as written in the record.

        Returns:
            The mappings; empty when no listed name matches.
        """
        return list(self.names.get(name.strip().casefold(), []))


def normal_code(system: str, code: str) -> str:
    """A code as compared: trimmed; ICD-10-CM also upper case without the dot.

    Args:
        system: the FHIR system URL.
        code: the code.

    Returns:
        The comparable form.
    """
    code = code.strip()
    return code.replace(".", "").upper() if system == ICD10CM else code


def build_code_maps(files: dict[str, CodeFile]) -> CodeMaps:
    """Index code files for lookup.

    Args:
        files: file name to its validated content.

    Returns:
        The indexed maps.
    """
    maps = CodeMaps(files)
    for code_file in files.values():
        for group in code_file.groups:
            for entry in group.codes:
                _index(maps, code_file.system, group, entry)
    return maps


def _index(maps: CodeMaps, system: str, group: Group, entry: Code) -> None:
    mapping = CodeMapping(system, entry.code, entry.display, group)
    key = normal_code(system, entry.code)
    maps.exact.setdefault((system, key), []).append(mapping)
    if entry.prefix:
        maps.prefixes.setdefault(system, []).append((key, mapping))
    for name in entry.names:
        maps.names.setdefault(name.strip().casefold(), []).append(mapping)


@lru_cache(maxsize=1)
def load_code_maps() -> CodeMaps:
    """Load (once per process) the bundled code maps from ``data/codes/``.

    Returns:
        The indexed maps.

    Raises:
        ContentError: a file is malformed, names the wrong system or repeats a code.
    """
    files: dict[str, CodeFile] = {}
    for name, system in FILES.items():
        path = DATA / "codes" / f"{name}.yaml"
        code_file, _ = load_model(CodeFile, path)
        problems = _file_problems(code_file, system)
        if problems:
            raise ContentError(str(path), problems)
        files[name] = code_file
    return build_code_maps(files)


def _file_problems(code_file: CodeFile, system: str) -> list[Problem]:
    problems = []
    if code_file.system != system:
        problems.append(Problem("system", f"expected {system}"))
    seen: set[tuple[str, str]] = set()
    for group in code_file.groups:
        problems += _unverified_negatives(group)
        for entry in group.codes:
            key = (group.id, normal_code(system, entry.code))
            if key in seen:
                problems.append(Problem(group.id, f"code {entry.code} is repeated"))
            seen.add(key)
    return problems


def _unverified_negatives(group: Group) -> list[Problem]:
    """A code tagged U must not set a "no": a wrong negative hides a finding."""
    says_no = any(a.value == "no" for a in [*group.answers, *group.if_refuted])
    unverified = [c.code for c in group.codes if (c.evidence or group.evidence) == "U"]
    if says_no and unverified:
        return [Problem(group.id, f"unverified codes {unverified} cannot answer 'no'")]
    return []


def unknown_targets(maps: CodeMaps, form: Form) -> list[Problem]:
    """Every mapped item, value and noted fact that the form does not have.

    Args:
        maps: the code maps.
        form: the questionnaire's form (``get_content().form``).

    Returns:
        One problem per unknown target, located as ``file.group``; empty when all exist.
    """
    problems = []
    for name, code_file in maps.files.items():
        for group in code_file.groups:
            where = f"{name}.{group.id}"
            problems += [Problem(where, m) for m in _group_targets(group, form)]
    return problems


def _group_targets(group: Group, form: Form) -> list[str]:
    answers = [*group.answers, *group.if_refuted]
    answers += [a for r in group.results for a in r.answers]
    messages = [m for a in answers if (m := _answer_target(a, form))]
    messages += [
        f"noted fact {f!r} is not in the form's vocabulary"
        for f in group.noted_as
        if f not in form.vocabulary.facts
    ]
    onset = form.items.get(group.onset_item or "")
    if group.onset_item and (onset is None or onset.kind != FactKind.duration):
        messages.append(f"onset_item {group.onset_item!r} is not a duration item")
    return messages


_YES_NO: dict[FactKind, tuple[str, ...]] = {
    FactKind.yes_no: ("yes", "no"),
    FactKind.yes_no_unsure: ("yes", "no", "unsure"),
}


def _answer_target(answer: Answer, form: Form) -> str | None:
    item = form.items.get(answer.item)
    if item is None:
        return f"item {answer.item!r} is not in the questionnaire"
    if answer.value is None:
        ok = item.kind == FactKind.number and not item.choices
        return None if ok else f"item {answer.item!r} needs a value"
    allowed = _YES_NO.get(item.kind, tuple(str(c) for c in item.codes))
    if answer.value not in allowed:
        return f"{answer.value!r} is not a value of {answer.item!r} ({list(allowed)})"
    return None


def groups_for(
    mappings: Iterable[CodeMapping], resource_type: str
) -> list[CodeMapping]:
    """The mappings whose group reads codes of this resource type.

    Args:
        mappings: found mappings.
        resource_type: e.g. ``Condition``.

    Returns:
        Those that apply.
    """
    return [m for m in mappings if resource_type in m.group.resources]
