"""The routes file: the forms of ketamine and which findings weigh on each."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ketascreen.content.base import ContentModel, FileHeader

Effect = Literal["contraindicated", "weighs_against", "extra_care"]


class RouteWeight(ContentModel):
    """Findings (by rule id or by domain) that weigh on a route."""

    rules: list[str] = Field(
        default_factory=list, description="Rule ids that trigger it."
    )
    domains: list[str] = Field(
        default_factory=list, description="Any finding in a domain."
    )
    effect: Effect
    patient_note: str
    clinician_note: str
    references: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_trigger(self) -> RouteWeight:
        if not self.rules and not self.domains:
            raise ValueError("a route weight needs rules or domains that trigger it")
        return self


class Route(ContentModel):
    """One form of ketamine."""

    id: str
    name: str
    patient_summary: str = Field(description="Plain words, grade 8 or below.")
    onset: str
    intensity: str
    supervision: str
    monitoring: str
    setting: Literal["clinic", "take_home", "clinic_only_rems"]
    references: list[str] = Field(min_length=1)
    weights: list[RouteWeight] = Field(default_factory=list)


class RoutesFile(FileHeader):
    """All routes."""

    effect_words: dict[Effect, str] = Field(
        description="How each effect is said to the person: 'For you, this form ...'."
    )

    preference_item: str | None = Field(
        default=None, description="Questionnaire item holding the person's preferences."
    )
    routes: list[Route]
