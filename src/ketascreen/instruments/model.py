"""Schema of an instrument file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from ketascreen.content.base import ContentModel, FileHeader, Parameter
from ketascreen.logic.schema import Condition

LicenseStatus = Literal[
    "public_domain",
    "free",
    "non_commercial",
    "permission_required",
    "commercial_licence",
]


class Licence(ContentModel):
    """The terms an instrument comes with."""

    status: LicenseStatus
    notice: str = Field(description="The licence or copyright notice, as published.")
    redistributable: bool = Field(
        description="True when ketascreen may ship the wording in its own package."
    )


class Response(ContentModel):
    """One response option of an instrument item."""

    value: int | str = Field(description="Stored value (the fact value).")
    label: str = Field(description="The published wording of the option.")
    score: float | None = Field(
        default=None, description="Points; defaults to the value when it is a number."
    )
    loinc: str | None = Field(
        default=None,
        pattern=r"^LA\d{1,8}-\d$",
        description="LOINC answer code (LA...), when one is known.",
    )

    @property
    def points(self) -> float | None:
        """Points this response adds to a score (None when unscored)."""
        if self.score is not None:
            return self.score
        return float(self.value) if isinstance(self.value, int) else None


class InstrumentItem(ContentModel):
    """One item, with its exact published wording."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str
    responses: str | list[Response] = Field(
        description="A response set name or the options inline."
    )
    loinc: str | None = None
    show_if: Condition | None = None
    kind: Literal["choice", "text"] = "choice"


class Band(ContentModel):
    """A labelled range of a score (inclusive)."""

    label: str
    min: float
    max: float


class Score(ContentModel):
    """How one score is computed from the items."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    method: Literal["sum", "mean", "count"]
    items: list[str] = Field(min_length=1)
    count_values: list[int | str] = Field(
        default_factory=list, description="For count: the values that count."
    )
    maximum: float
    loinc: str | None = None
    gate: Condition | None = Field(
        default=None, description="When this is false the score is gate_value, unasked."
    )
    gate_value: float = 0
    bands: list[Band] = Field(default_factory=list)

    @model_validator(mode="after")
    def _count_needs_values(self) -> Score:
        if self.method == "count" and not self.count_values:
            raise ValueError("a count score needs count_values")
        return self


class Flag(ContentModel):
    """A yes/no conclusion from items and scores, e.g. a positive screen."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    when: Condition
    references: list[str] = Field(default_factory=list)


class InstrumentFile(FileHeader):
    """One validated instrument."""

    name: str
    short_name: str
    source: str = Field(description="The published source of the wording and scoring.")
    references: list[str] = Field(min_length=1)
    licence: Licence
    loinc: str | None = Field(default=None, description="Panel code, when one exists.")
    instructions: str | None = None
    response_sets: dict[str, list[Response]] = Field(default_factory=dict)
    items: list[InstrumentItem] = Field(min_length=1)
    scores: list[Score] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    notes: str | None = None

    @model_validator(mode="after")
    def _links(self) -> InstrumentFile:
        ids = {i.id for i in self.items}
        for item in self.items:
            if (
                isinstance(item.responses, str)
                and item.responses not in self.response_sets
            ):
                raise ValueError(
                    f"item {item.id}: unknown response set {item.responses!r}"
                )
        for score in self.scores:
            missing = [i for i in score.items if i not in ids]
            if missing:
                raise ValueError(f"score {score.id}: unknown items {missing}")
        return self

    def responses_for(self, item: InstrumentItem) -> list[Response]:
        """The response options of an item."""
        if isinstance(item.responses, str):
            return self.response_sets[item.responses]
        return item.responses


def scoped_values(values: Mapping[str, float], inst_id: str) -> dict[str, float]:
    """Parameter values as an instrument's own conditions see them (bare names)."""
    prefix = inst_id + "."
    scoped = dict(values)
    scoped.update(
        {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    )
    return scoped
