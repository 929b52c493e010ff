"""The code maps in data/codes/: they load, and every target exists in the questionnaire."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ketascreen.content.files import DATA
from ketascreen.interop.codes import (
    FILES,
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    CodeFile,
    Group,
    _file_problems,
    build_code_maps,
    load_code_maps,
    normal_code,
    unknown_targets,
)
from ketascreen.rules.loader import Content


def _file(groups: list[dict[str, Any]]) -> CodeFile:
    return CodeFile.model_validate(
        {
            "schema_version": 1,
            "id": "test",
            "version": "1",
            "system": SNOMED,
            "source": "test",
            "note": "test",
            "groups": groups,
        }
    )


def _group(**changes: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "id": "g",
        "resources": ["Condition"],
        "evidence": "S",
        "answers": [{"item": "bipolar_dx", "value": "yes"}],
        "codes": [{"code": "1", "display": "one"}],
    }
    return group | changes


class TestCodeMaps:
    """The bundled maps load and point only at items and values that exist."""

    def test_every_file_loads(self) -> None:
        """One file per code system, each naming its FHIR system URL."""
        maps = load_code_maps()
        assert {name: f.system for name, f in maps.files.items()} == FILES

    def test_files_are_package_data(self) -> None:
        """The files are found through importlib.resources, as in the wheel."""
        assert {p.name for p in (DATA / "codes").iterdir()} >= {
            f"{name}.yaml" for name in FILES
        }

    def test_every_target_exists(self, content: Content) -> None:
        """Every mapped item, value, noted fact and onset item is in the form."""
        assert unknown_targets(load_code_maps(), content.form) == []

    def test_references_are_known(self, content: Content) -> None:
        """Every cited reference key is in references.yaml."""
        cited = {k for f in load_code_maps().files.values() for k in f.references}
        assert cited <= set(content.references)

    def test_every_group_has_a_code(self) -> None:
        """No group is empty, and every file has groups."""
        for code_file in load_code_maps().files.values():
            assert code_file.groups
            assert all(group.codes for group in code_file.groups)


class TestLookup:
    """Codes are found exactly, ICD-10-CM also by category, the longest match winning."""

    def test_exact_snomed(self) -> None:
        """A SNOMED concept maps to its group."""
        [mapping] = load_code_maps().lookup(SNOMED, "38341003")
        assert mapping.group.id == "hypertension"

    def test_icd_with_or_without_dot(self) -> None:
        """F10.20 and F1020 are the same code."""
        maps = load_code_maps()
        assert maps.lookup(ICD10CM, "F10.20") == maps.lookup(ICD10CM, "f1020")

    def test_longest_prefix_wins(self) -> None:
        """Dependence in remission overrides the dependence category."""
        maps = load_code_maps()
        [active] = maps.lookup(ICD10CM, "F10.20")
        [remission] = maps.lookup(ICD10CM, "F10.21")
        assert active.group.id == "substance_use_disorder"
        assert remission.group.id == "substance_use_disorder_in_remission"

    def test_category_covers_subcodes(self) -> None:
        """I21.4 (an acute MI subtype) maps through the I21 category."""
        [mapping] = load_code_maps().lookup(ICD10CM, "I21.4")
        assert mapping.group.id == "myocardial_infarction"
        assert mapping.group.onset_item == "mi_stroke_months_ago"

    def test_exact_codes_do_not_match_longer_codes(self) -> None:
        """A non-prefix entry matches only itself."""
        assert load_code_maps().lookup(ICD10CM, "G45.91") == []

    def test_unknown_code(self) -> None:
        """An unknown code maps to nothing."""
        assert load_code_maps().lookup(SNOMED, "999999999") == []

    def test_shared_code_in_two_groups(self) -> None:
        """Esketamine is both an allergy code and a (deliberately unmapped) treatment."""
        groups = {m.group.id for m in load_code_maps().lookup(RXNORM, "2119365")}
        assert groups == {"ketamine_allergy", "ketamine_treatment"}

    def test_names_any_case(self) -> None:
        """Listed names match exactly, in any case."""
        maps = load_code_maps()
        assert [m.group.id for m in maps.by_name(" XANAX ")] == ["benzodiazepine"]
        assert maps.by_name("xanax xr") == []

    def test_loinc_blood_pressure(self) -> None:
        """The BP panel is a panel; its components are number answers."""
        maps = load_code_maps()
        [panel] = maps.lookup(LOINC, "85354-9")
        [systolic] = maps.lookup(LOINC, "8480-6")
        assert panel.group.panel
        assert [a.item for a in systolic.group.answers] == ["bp_systolic"]

    def test_normal_code(self) -> None:
        """Only ICD-10-CM codes lose their dot and case."""
        assert normal_code(ICD10CM, " f10.21 ") == "F1021"
        assert normal_code(LOINC, "8480-6") == "8480-6"


class TestChecks:
    """Mistakes in a code file fail at load time or in CI."""

    def test_typo_in_item(self, content: Content) -> None:
        """A misspelled item id is reported with its file and group."""
        maps = build_code_maps(
            {"x": _file([_group(answers=[{"item": "bipolr_dx", "value": "yes"}])])}
        )
        [problem] = unknown_targets(maps, content.form)
        assert problem.where == "x.g"
        assert "bipolr_dx" in problem.message

    def test_typo_in_value(self, content: Content) -> None:
        """A value the item does not offer is reported."""
        answers = [{"item": "heart_conditions", "value": "high_blood_pressure"}]
        maps = build_code_maps({"x": _file([_group(answers=answers)])})
        [problem] = unknown_targets(maps, content.form)
        assert "high_blood_pressure" in problem.message

    def test_number_item_needs_no_value(self, content: Content) -> None:
        """Number items take the observation's value; other items need one."""
        answers = [{"item": "bp_systolic"}, {"item": "pregnant"}]
        maps = build_code_maps({"x": _file([_group(answers=answers)])})
        [problem] = unknown_targets(maps, content.form)
        assert "pregnant" in problem.message

    def test_unknown_noted_fact(self, content: Content) -> None:
        """A noted instrument score must be a fact of the form."""
        group = _group(answers=[], noted_as=["phq9.totl"])
        maps = build_code_maps({"x": _file([group])})
        [problem] = unknown_targets(maps, content.form)
        assert "phq9.totl" in problem.message

    def test_unknown_key_is_refused(self) -> None:
        """A misspelled key fails validation (extra keys are forbidden)."""
        with pytest.raises(ValidationError, match="prefx"):
            Group.model_validate(
                _group(codes=[{"code": "1", "display": "x", "prefx": True}])
            )

    def test_group_must_say_something(self) -> None:
        """A group needs answers (or the like), or a reason it maps to nothing."""
        with pytest.raises(ValidationError, match="unmapped_reason"):
            Group.model_validate(_group(answers=[]))
        with pytest.raises(ValidationError, match="not both"):
            Group.model_validate(_group(unmapped_reason="x"))

    def test_unverified_codes_cannot_say_no(self) -> None:
        """A code tagged U may not answer 'no': a wrong negative hides a finding."""
        group = _group(evidence="U", answers=[{"item": "bipolar_dx", "value": "no"}])
        [problem] = _file_problems(_file([group]), SNOMED)
        assert "cannot answer 'no'" in problem.message

    def test_repeated_code_in_a_group(self) -> None:
        """A code listed twice in one group is reported."""
        codes = [{"code": "1", "display": "a"}, {"code": "1", "display": "b"}]
        [problem] = _file_problems(_file([_group(codes=codes)]), SNOMED)
        assert "repeated" in problem.message
