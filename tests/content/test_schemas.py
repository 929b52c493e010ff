"""Content schemas reject malformed items and name the place of each problem."""

from __future__ import annotations

from typing import Any

import pytest

from ketascreen.content.questionnaire import Item, QuestionnaireFile
from ketascreen.content.routes import RoutesFile
from ketascreen.content.validate import location, validate_model
from ketascreen.domain.types import FactKind
from ketascreen.errors import ContentError

NUMBER = {
    "id": "pulse",
    "kind": "number",
    "text": "Pulse",
    "unit": "beats/min",
    "minimum": 20,
    "maximum": 250,
}
DURATION = {
    "id": "since",
    "kind": "duration",
    "text": "How long ago?",
    "unit": "months",
    "minimum": 0,
    "maximum": 1200,
    "units": {"months": 1, "years": 12},
}
SINGLE = {
    "id": "sex",
    "kind": "single",
    "text": "Sex",
    "options": [{"code": "female", "label": "Female"}],
}


def item_error(**changes: Any) -> str:
    """The one problem reported for an item, as 'place: reason'."""
    items = [{"id": "ok", "kind": "text", "text": "T"}, changes]
    data = {
        "schema_version": 1,
        "id": "q",
        "version": "1",
        "title": "Q",
        "intro": "I",
        "sections": [{"id": "page", "title": "Page", "items": items}],
    }
    with pytest.raises(ContentError) as info:
        validate_model(QuestionnaireFile, data, "q.yaml")
    assert info.value.source == "q.yaml"
    assert len(info.value.problems) == 1
    return str(info.value.problems[0])


class TestItemShape:
    """Each answer kind needs the fields that describe it, and no others."""

    @pytest.mark.parametrize("kind", ["single", "multi"])
    def test_choice_without_options(self, kind: str) -> None:
        """Single and multi-choice items need options."""
        message = item_error(**{**SINGLE, "kind": kind, "options": []})
        assert message.endswith(f"a {kind} item needs options")

    @pytest.mark.parametrize("kind", ["number", "yes_no", "text"])
    def test_options_where_none_belong(self, kind: str) -> None:
        """Options on a number, yes/no or text item are rejected."""
        raw = {**NUMBER, "kind": kind, "options": SINGLE["options"]}
        assert item_error(**raw).endswith(f"a {kind} item takes no options")

    @pytest.mark.parametrize("missing", ["unit", "minimum", "maximum"])
    @pytest.mark.parametrize("base", [NUMBER, DURATION])
    def test_number_needs_unit_and_range(
        self, base: dict[str, Any], missing: str
    ) -> None:
        """Numbers and durations need a unit, a minimum and a maximum."""
        raw = {k: v for k, v in base.items() if k != missing}
        assert item_error(**raw).endswith(
            f"a {base['kind']} item needs unit, minimum and maximum"
        )

    def test_minimum_above_maximum(self) -> None:
        """A range whose minimum is above its maximum is rejected."""
        assert item_error(**{**NUMBER, "minimum": 300}).endswith(
            "minimum is above maximum"
        )

    def test_equal_bounds_are_allowed(self) -> None:
        """A range of one value is valid."""
        item = Item.model_validate({**NUMBER, "minimum": 60, "maximum": 60})
        assert (item.minimum, item.maximum) == (60, 60)

    def test_duration_without_its_own_unit(self) -> None:
        """A duration lists its own unit in units, so plain numbers have a size."""
        raw = {**DURATION, "units": {"weeks": 0.23, "years": 12}}
        assert item_error(**raw).endswith(
            "a duration item lists its own unit in units (with size 1)"
        )

    def test_error_names_the_item(self) -> None:
        """The place gives the section and the item with their ids."""
        message = item_error(**{**NUMBER, "minimum": 300})
        assert message.startswith("sections[0] (page).items[1] (pulse)")

    @pytest.mark.parametrize("raw", [NUMBER, DURATION, SINGLE])
    def test_valid_items(self, raw: dict[str, Any]) -> None:
        """Well-formed items load and report their fact kind."""
        assert Item.model_validate(raw).fact_kind == FactKind(raw["kind"])


class TestRouteWeights:
    """A route weight needs something that triggers it."""

    def test_weight_without_trigger(self) -> None:
        """A weight with neither rules nor domains is rejected at its place."""
        data = {
            "schema_version": 1,
            "id": "routes",
            "version": "1",
            "effect_words": {
                "contraindicated": "a",
                "weighs_against": "b",
                "extra_care": "c",
            },
            "routes": [
                {
                    "id": "iv",
                    "name": "IV",
                    "patient_summary": "s",
                    "onset": "o",
                    "intensity": "i",
                    "supervision": "s",
                    "monitoring": "m",
                    "setting": "clinic",
                    "references": ["SPR"],
                    "weights": [
                        {
                            "effect": "extra_care",
                            "patient_note": "p",
                            "clinician_note": "c",
                            "references": ["SPR"],
                        }
                    ],
                }
            ],
        }
        with pytest.raises(ContentError) as info:
            validate_model(RoutesFile, data, "routes.yaml")
        [problem] = info.value.problems
        assert problem.where == "routes[0] (iv).weights[0]"
        assert "needs rules or domains" in problem.message


class TestLocation:
    """Pydantic error locations become paths an author can follow."""

    def test_ids_along_the_path(self) -> None:
        """Each list entry with an id shows it next to its index."""
        data = {"sections": [{"id": "a", "items": [{"id": "x"}, {"id": "y"}]}]}
        assert location(("sections", 0, "items", 1, "kind"), data) == (
            "sections[0] (a).items[1] (y).kind"
        )

    def test_entries_without_ids(self) -> None:
        """Entries that are not mappings with an id show the index only."""
        data = {"next_steps": ["one", {"text": "two"}], "rules": [{"id": "r"}]}
        assert location(("next_steps", 1, "text"), data) == "next_steps[1].text"
        assert location(("next_steps", 0), data) == "next_steps[0]"

    def test_index_past_the_end(self) -> None:
        """An index beyond the list, and everything after it, shows no ids."""
        data = {"rules": [{"id": "a", "when": [{"id": "b"}]}]}
        assert location(("rules", 5, "when", 0), data) == "rules[5].when[0]"

    def test_index_into_a_non_list(self) -> None:
        """An index into something that is not a list shows the index only."""
        assert location(("rules", 0, "id"), {"rules": {"id": "x"}}) == "rules[0].id"

    def test_top_level_list(self) -> None:
        """A path that starts with an index starts with that entry."""
        assert location((0, "id"), [{"id": "z"}]) == "[0] (z).id"
        assert location((2,), [{"id": "z"}]) == "[2]"

    def test_nested_indices(self) -> None:
        """Consecutive indices stack on one path step."""
        data = {"grid": [[{"id": "p"}, {"id": "q"}]]}
        assert location(("grid", 0, 1, "v"), data) == "grid[0][1] (q).v"

    def test_without_data(self) -> None:
        """Without the document the path is still readable."""
        assert location(("rules", 3, "when", "any", 0, "fact")) == (
            "rules[3].when.any[0].fact"
        )

    def test_empty_location(self) -> None:
        """An error about the whole document says so."""
        assert location(()) == "document"
