"""Schema of ruleset files.

A ruleset is a main file plus the rule files it includes::

    schema_version: 1
    id: default
    version: 1.0.0
    parameters: {NAME: {value, unit, description, references, evidence}}
    include: [rules/suicide_risk.yaml, ...]
    crisis: {...}
    incomplete: {...}
    dispositions: {urgent_safety: {...}, ...}

A clinic's file names ``extends: default`` and may change parameter values, add or
replace rules (by id), ``disable`` rules, and replace the crisis resources.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ketascreen.content.base import (
    ContentModel,
    FileHeader,
    Parameter,
    ParameterOverride,
)
from ketascreen.domain.types import Disposition, Level
from ketascreen.logic.schema import Condition


class Rule(ContentModel):
    """One screening rule."""

    id: str = Field(
        pattern=r"^[a-z_]+\.[a-z0-9_]+$", description="domain.name, stable."
    )
    domain: str
    level: Level
    title: str = Field(description="Short clinician-facing title.")
    when: Condition = Field(description="Fires when this condition is true.")
    requires_instrument: str | None = Field(
        default=None,
        description="Only active when this instrument is part of the questionnaire.",
    )
    patient_message: str = Field(
        description="Warm, plain, grade 8 or below, never blaming."
    )
    clinician_rationale: str = Field(
        description="Precise and cited; {param_name} placeholders show parameter values."
    )
    next_steps: list[str] = Field(min_length=1)
    references: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _domain_prefix(self) -> Rule:
        if not self.id.startswith(self.domain + "."):
            raise ValueError(
                f"rule id {self.id!r} must start with its domain {self.domain!r}."
            )
        return self


class RulesFile(ContentModel):
    """A file of rules included by a ruleset."""

    schema_version: int
    parameters: dict[str, Parameter] = Field(
        default_factory=dict, description="Parameters the rules in this file use."
    )
    rules: list[Rule] = Field(min_length=1)


class CrisisResourceContent(ContentModel):
    """A crisis line or service."""

    name: str
    contact: str
    detail: str
    link: str | None = Field(
        default=None,
        pattern=r"^(tel|sms):",
        description="tel: or sms: link for phones.",
    )


class CrisisContent(ContentModel):
    """Crisis help shown first whenever there is a suicide-risk signal."""

    title: str
    urgent_message: str = Field(
        description="Shown when the disposition is urgent_safety."
    )
    message: str = Field(description="Shown with any other suicide-risk finding.")
    resources: list[CrisisResourceContent] = Field(min_length=1)
    reminder: str = Field(
        description="One line shown at the foot of every page and summary (local numbers)."
    )
    clinician_note: str


class IncompleteContent(ContentModel):
    """Words for a domain whose rules could not be judged because answers are missing."""

    level: Level = Level.needs_specialist_review
    title: str
    patient_message: str = Field(description="May use {topic}.")
    patient_summary: str = Field(
        description="One message for all blank areas in the person's summary; uses {topics}."
    )
    clinician_rationale: str = Field(description="May use {facts} and {rules}.")
    next_steps: list[str] = Field(min_length=1)
    references: list[str] = Field(min_length=1)


class DispositionContent(ContentModel):
    """What each disposition means, for the person and the clinician."""

    label: str
    summary: str = Field(description="One or two kind sentences for the person.")
    clinician_summary: str
    next_steps: list[str] = Field(min_length=1)


class RulesetFile(FileHeader):
    """A ruleset main file (the default, or a clinic's layer over it)."""

    title: str
    description: str | None = None
    extends: str | None = Field(
        default=None,
        description="Ruleset this one layers over, e.g. 'default' or a path.",
    )
    parameters: dict[str, Parameter | ParameterOverride] = Field(default_factory=dict)
    include: list[str] = Field(
        default_factory=list, description="Rule files, relative."
    )
    rules: list[Rule] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
    crisis: CrisisContent | None = None
    incomplete: IncompleteContent | None = None
    dispositions: dict[Disposition, DispositionContent] | None = None

    @model_validator(mode="after")
    def _base_is_complete(self) -> RulesetFile:
        if self.extends is None:
            missing = [
                name
                for name in ("crisis", "incomplete", "dispositions")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a ruleset that extends nothing needs {missing}")
            partial = [
                k for k, v in self.parameters.items() if not isinstance(v, Parameter)
            ]
            if partial:
                raise ValueError(
                    f"parameters {partial} need description and references in a base ruleset"
                )
        return self
