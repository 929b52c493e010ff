"""The intake questionnaire: sections, items, answer types and display conditions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from ketascreen.content.base import ContentModel, FileHeader
from ketascreen.domain.types import FactKind
from ketascreen.logic.schema import Condition

ItemKind = Literal[
    "yes_no_unsure", "yes_no", "single", "multi", "number", "duration", "date", "text"
]
Audience = Literal["person", "clinic"]


class Option(ContentModel):
    """One answer option."""

    code: str = Field(description="Stable value stored in answers and facts.")
    label: str
    help: str | None = None
    exclusive: bool = Field(
        default=False,
        description="For multi-choice: picking it clears the others (e.g. none).",
    )


class Item(ContentModel):
    """One question of ketascreen's own wording."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: ItemKind
    text: str
    help: str | None = None
    options: list[Option] = Field(default_factory=list)
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    units: dict[str, float] = Field(
        default_factory=dict,
        description="For durations: accepted units and their size in the item's unit.",
    )
    show_if: Condition | None = None
    audience: Audience = "person"
    label: str | None = Field(default=None, description="Short label for reports.")
    derive_months_ago: bool = Field(
        default=False, description="For dates: also provide <id>_months_ago."
    )

    @model_validator(mode="after")
    def _shape(self) -> Item:
        needs_options = self.kind in ("single", "multi")
        if needs_options and not self.options:
            raise ValueError(f"a {self.kind} item needs options")
        if not needs_options and self.options:
            raise ValueError(f"a {self.kind} item takes no options")
        if self.kind in ("number", "duration"):
            if self.unit is None or self.minimum is None or self.maximum is None:
                raise ValueError(f"a {self.kind} item needs unit, minimum and maximum")
            if self.minimum > self.maximum:
                raise ValueError("minimum is above maximum")
        if self.kind == "duration" and self.unit not in self.units:
            raise ValueError(
                "a duration item lists its own unit in units (with size 1)"
            )
        return self

    @property
    def fact_kind(self) -> FactKind:
        """The fact kind this item produces."""
        return FactKind(self.kind)


class InstrumentRef(ContentModel):
    """Include a validated instrument's items at this point."""

    instrument: str
    show_if: Condition | None = None


class ExternalFact(ContentModel):
    """A fact that other inputs (notes, EHR, clinicians) supply; never asked here."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: FactKind
    label: str
    codes: list[str] = Field(default_factory=list)


def _entry_kind(value: object) -> str:
    if isinstance(value, InstrumentRef) or (
        isinstance(value, dict) and "instrument" in value
    ):
        return "instrument"
    return "item"


class Section(ContentModel):
    """One page of the questionnaire."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    intro: str | None = None
    audience: Audience = "person"
    show_if: Condition | None = None
    items: list[
        Annotated[
            Annotated[Item, Tag("item")] | Annotated[InstrumentRef, Tag("instrument")],
            Discriminator(_entry_kind),
        ]
    ] = Field(min_length=1)


class QuestionnaireFile(FileHeader):
    """The whole intake questionnaire."""

    title: str
    intro: str
    sections: list[Section] = Field(min_length=1)
    external_facts: list[ExternalFact] = Field(default_factory=list)
