"""The loader refuses content that does not fit together, naming the file and place."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.factories import clinic_layer, parameter, rule, rules_file, write_yaml
from tests.helpers import SCREENING_DATE, fired

from ketascreen import screen
from ketascreen.content.files import DATA
from ketascreen.content.yamlio import parse_yaml
from ketascreen.errors import ContentError
from ketascreen.rules.loader import Content, load_content

MANIA = {"fact": "mania_now", "eq": "yes"}


def failure(
    ruleset: Path | None = None, instruments: list[Any] | None = None
) -> ContentError:
    """The ContentError that loading raises."""
    with pytest.raises(ContentError) as info:
        load_content(ruleset, instruments or [])
    return info.value


def problems(
    ruleset: Path | None = None, instruments: list[Any] | None = None
) -> list[str]:
    return [str(p) for p in failure(ruleset, instruments).problems]


def copy_default_ruleset(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A copy of the bundled default ruleset folder, and its main file's data."""
    folder = tmp_path / "base"
    shutil.copytree(Path(str(DATA / "rulesets" / "default")), folder)
    main = folder / "ruleset.yaml"
    return main, parse_yaml(main.read_text(encoding="utf-8"), str(main))


class TestInstruments:
    """Instruments named with --instrument must exist and be new."""

    def test_unknown_bundled_id(self) -> None:
        """An id that is neither bundled nor optional is named."""
        error = failure(None, ["nosuch"])
        assert error.source == "nosuch"
        assert [str(p) for p in error.problems] == [
            "instrument: no bundled instrument with this id"
        ]

    def test_unknown_id_with_a_dot(self) -> None:
        """A name with a dot but no .yaml suffix is an id, not a file."""
        assert failure(None, ["pcl5.v2"]).source == "pcl5.v2"

    @pytest.mark.parametrize("instruments", [["phq9"], ["pcl5", "pcl5"]])
    def test_instrument_added_twice(self, instruments: list[str]) -> None:
        """An instrument already in the questionnaire, or listed twice, is refused."""
        error = failure(None, instruments)
        assert error.source == instruments[-1]
        assert [str(p) for p in error.problems] == [
            f"id: instrument {instruments[-1]!r} is already included"
        ]

    def test_file_with_a_bundled_id(self, tmp_path: Path) -> None:
        """A clinic's file that reuses a bundled id is refused, naming the file."""
        source = Path(str(DATA / "instruments" / "gad7.yaml"))
        copy = tmp_path / "our_gad7.yaml"
        copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        error = failure(None, [copy])
        assert error.source == str(copy)
        assert "instrument 'gad7' is already included" in str(error)

    def test_optional_instrument_activates_its_rules(self, content: Content) -> None:
        """Adding an optional instrument moves its rules from inactive to active."""
        waiting = {
            r.id for r in content.inactive_rules if r.requires_instrument == "pcl5"
        }
        assert waiting
        with_pcl5 = load_content(None, ["pcl5"])
        assert waiting <= {cr.rule.id for cr in with_pcl5.rules}
        assert not waiting & {r.id for r in with_pcl5.inactive_rules}


class TestParameters:
    """Parameters are defined once, cited, and overridden only if they exist."""

    @pytest.mark.parametrize("name", ["gad7.made_up", "nosuch.cutoff"])
    def test_override_of_missing_instrument_parameter(
        self, tmp_path: Path, name: str
    ) -> None:
        """Changing an instrument parameter that does not exist needs a full definition."""
        error = failure(clinic_layer(tmp_path, parameters={name: {"value": 3}}))
        assert error.source == "default@1.0.0 + clinic@0.1.0"
        assert [str(p) for p in error.problems] == [
            f"parameters.{name}: is new here, so it needs description and references"
        ]

    def test_new_parameter_in_a_layer(self, tmp_path: Path) -> None:
        """A clinic may define a new, cited parameter and use it in its own rule."""
        when = {"fact": "age", "gte": {"param": "clinic_min_age"}}
        path = clinic_layer(
            tmp_path,
            parameters={"clinic_min_age": parameter(70, unit="years", evidence="U")},
            rules=[rule("age.clinic_older", when, level="info")],
        )
        content = load_content(path)
        assert content.parameters["clinic_min_age"].value == 70
        assert content.parameters["clinic_min_age"].evidence == "U"
        older = screen({"age": 70}, content=content, screening_date=SCREENING_DATE)
        younger = screen({"age": 69}, content=content, screening_date=SCREENING_DATE)
        assert "age.clinic_older" in fired(older)
        assert "age.clinic_older" not in fired(younger)

    def test_full_redefinition_replaces_a_base_parameter(self, tmp_path: Path) -> None:
        """A full definition of a base parameter replaces it, citations included."""
        path = clinic_layer(
            tmp_path,
            parameters={"age_adult_years": parameter(21, references=["PSY"])},
        )
        param = load_content(path).parameters["age_adult_years"]
        assert (param.value, param.references, param.unit) == (21, ["PSY"], None)

    def test_parameter_with_unknown_reference(self, tmp_path: Path) -> None:
        """Every reference a parameter cites must exist."""
        path = clinic_layer(
            tmp_path, parameters={"clinic_x": parameter(1, references=["NOPE"])}
        )
        assert problems(path) == ["parameters.clinic_x: unknown reference 'NOPE'"]

    def test_defined_twice_across_rule_files(self, tmp_path: Path) -> None:
        """In a base ruleset, two included files defining one parameter is an error."""
        main, data = copy_default_ruleset(tmp_path)
        when = {"fact": "age", "gte": {"param": "shared_limit"}}
        for name in ("extra_a", "extra_b"):
            rules_file(
                main.parent / f"rules/{name}.yaml",
                [rule(f"age.{name}", when)],
                {"shared_limit": parameter(30)},
            )
        data["include"] += ["rules/extra_a.yaml", "rules/extra_b.yaml"]
        error = failure(write_yaml(main, data))
        assert error.source == str(main)
        assert [str(p) for p in error.problems] == [
            "rules/extra_b.yaml: parameters.shared_limit: defined twice"
        ]

    def test_defined_twice_in_a_clinic_layer(self, tmp_path: Path) -> None:
        """In a clinic layer too, two included files defining one parameter is an error."""
        when = {"fact": "age", "gte": {"param": "clinic_shared"}}
        for name in ("extra_a", "extra_b"):
            rules_file(
                tmp_path / f"{name}.yaml",
                [rule(f"age.{name}", when)],
                {"clinic_shared": parameter(30 if name == "extra_a" else 40)},
            )
        path = clinic_layer(tmp_path, include=["extra_a.yaml", "extra_b.yaml"])
        assert any("clinic_shared: defined twice" in p for p in problems(path))

    def test_base_with_a_partial_parameter(self, tmp_path: Path) -> None:
        """A base ruleset cannot hold a bare value: there is nothing to inherit from."""
        main, data = copy_default_ruleset(tmp_path)
        data["parameters"] = {"bare": {"value": 3}}
        error = failure(write_yaml(main, data))
        assert "parameters ['bare'] need description and references" in str(error)


class TestRules:
    """Rule ids are unique and every rule points at real things."""

    def test_rule_id_must_match_domain(self, tmp_path: Path) -> None:
        """A rule id starts with its domain, and the error names the rule."""
        path = clinic_layer(tmp_path, rules=[rule("mood.x", MANIA, domain="trauma")])
        [found] = problems(path)
        assert found.startswith("rules[0] (mood.x): ")
        assert "rule id 'mood.x' must start with its domain 'trauma'" in found

    def test_unknown_domain(self, tmp_path: Path) -> None:
        """A rule in a domain the domains file does not list is refused."""
        path = clinic_layer(tmp_path, rules=[rule("madeup.x", MANIA)])
        assert problems(path) == ["rule madeup.x: unknown domain 'madeup'"]

    def test_inactive_rule_references_are_checked(self, tmp_path: Path) -> None:
        """A rule waiting for an optional instrument must still cite real sources."""
        waiting = rule(
            "trauma.clinic_pcl5",
            {"fact": "pcl5.total", "gte": 33},
            requires_instrument="pcl5",
            references=["SPR", "NOPE"],
        )
        path = clinic_layer(tmp_path, rules=[waiting])
        assert problems(path) == ["rule trauma.clinic_pcl5: unknown reference 'NOPE'"]

    def test_duplicate_id_from_an_included_file(self, tmp_path: Path) -> None:
        """A clinic's included file cannot reuse a rule id; replacing is done in rules."""
        rules_file(tmp_path / "extra.yaml", [rule("age.under_18", MANIA)])
        error = failure(clinic_layer(tmp_path, include=["extra.yaml"]))
        assert error.source == str(tmp_path / "clinic.yaml")
        assert [str(p) for p in error.problems] == [
            "extra.yaml: age.under_18: rule id is used twice"
        ]

    def test_duplicate_id_within_a_layer(self, tmp_path: Path) -> None:
        """Two rules with one id in a clinic's own rules list is an error, not last-wins."""
        path = clinic_layer(
            tmp_path,
            rules=[
                rule("mood.clinic_dup", MANIA, title="First"),
                rule("mood.clinic_dup", {"fact": "bipolar_dx", "eq": "yes"}),
            ],
        )
        assert any("mood.clinic_dup" in p and "twice" in p for p in problems(path))

    def test_incomplete_with_unknown_reference(self, tmp_path: Path) -> None:
        """The clinic's 'incomplete' words must cite real sources."""
        incomplete = {
            "title": "Not enough answers",
            "patient_message": "Some questions about {topic} were left blank.",
            "patient_summary": "Some questions were left blank: {topics}.",
            "clinician_rationale": "Unanswered: {facts}. Rules: {rules}.",
            "next_steps": ["Go over them."],
            "references": ["NOPE"],
        }
        path = clinic_layer(tmp_path, incomplete=incomplete)
        assert problems(path) == ["incomplete: unknown reference 'NOPE'"]

    def test_base_needs_crisis_words(self, tmp_path: Path) -> None:
        """A ruleset that extends nothing must bring crisis, incomplete and dispositions."""
        main, data = copy_default_ruleset(tmp_path)
        del data["crisis"]
        assert "a ruleset that extends nothing needs ['crisis']" in str(
            failure(write_yaml(main, data))
        )


class TestLayerChains:
    """A clinic layer may extend another clinic layer by relative path."""

    def test_two_layers(self, tmp_path: Path) -> None:
        """Each layer applies in turn: the top one wins, the middle one still counts."""
        clinic_layer(
            tmp_path,
            "region.yaml",
            parameters={
                "age_adult_years": {"value": 19},
                "age_older_adult_years": {"value": 70},
            },
            disable=["age.older_adult"],
        )
        top = clinic_layer(
            tmp_path / "site",
            "site.yaml",
            extends="../region.yaml",
            parameters={"age_adult_years": {"value": 21}},
        )
        content = load_content(top)
        assert content.ruleset_version == "default@1.0.0 > region@0.1.0 > site@0.1.0"
        assert content.ruleset_id == "site"
        assert content.parameters["age_adult_years"].value == 21
        assert content.parameters["age_older_adult_years"].value == 70
        assert "age.older_adult" not in {cr.rule.id for cr in content.rules}
        assert content.parameters["age_adult_years"].references

    def test_missing_base_file(self, tmp_path: Path) -> None:
        """Extending a file that does not exist names that file."""
        path = clinic_layer(tmp_path, extends="missing.yaml")
        error = failure(path)
        assert error.source == str(tmp_path / "missing.yaml")
        assert "cannot be read" in str(error)


class TestRoutes:
    """Routes may only point at real rules, domains and references."""

    def test_bad_route_references(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every bad name in the routes file is reported with its route."""
        data_dir = tmp_path / "data"
        shutil.copytree(Path(str(DATA)), data_dir)
        routes_path = data_dir / "routes.yaml"
        routes = parse_yaml(routes_path.read_text(encoding="utf-8"), "routes.yaml")
        first = routes["routes"][0]
        first["references"].append("NOPE_ROUTE")
        weight = first["weights"][0]
        weight["rules"] = [*weight.get("rules", []), "mood.no_such_rule"]
        weight["domains"] = [*weight.get("domains", []), "no_such_domain"]
        weight["references"].append("NOPE_WEIGHT")
        routes_path.write_text(yaml.safe_dump(routes), encoding="utf-8")
        monkeypatch.setattr("ketascreen.rules.loader.DATA", data_dir)
        route = first["id"]
        assert sorted(problems()) == sorted(
            [
                f"route {route}: unknown reference 'NOPE_ROUTE'",
                f"route {route}: unknown rule 'mood.no_such_rule'",
                f"route {route}: unknown domain 'no_such_domain'",
                f"route {route}: unknown reference 'NOPE_WEIGHT'",
            ]
        )
