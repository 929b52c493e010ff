"""Content files fail at load with the file, the place and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketascreen.content.yamlio import parse_yaml
from ketascreen.errors import ContentError
from ketascreen.rules.loader import load_content

HEADER = (
    "schema_version: 1\nid: clinic\nversion: 0.1.0\ntitle: Clinic\nextends: default\n"
)
RULE = """
rules:
  - id: mood.clinic_extra
    domain: mood
    level: needs_specialist_review
    title: Extra
    when: {WHEN}
    patient_message: A clinician will want to talk with you.
    clinician_rationale: Test.
    next_steps: [Book a visit.]
    references: [{REF}]
"""


def layer(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ContentError) as info:
        load_content(path)
    return [str(p) for p in info.value.problems]


class TestYaml:
    """YAML is read with 1.2 booleans so answer codes stay codes."""

    def test_yes_stays_a_string(self) -> None:
        """Bare yes/no are strings; true/false are booleans."""
        assert parse_yaml("a: yes\nb: no\nc: true", "x") == {
            "a": "yes",
            "b": "no",
            "c": True,
        }

    def test_broken_yaml_names_line(self) -> None:
        """A syntax error reports the line and column."""
        with pytest.raises(ContentError) as info:
            parse_yaml("a: [1,\nb: 2", "broken.yaml")
        assert info.value.source == "broken.yaml"
        assert "line" in info.value.problems[0].where


class TestRuleChecks:
    """Cross-file checks on a clinic's rules."""

    def test_unknown_fact(self, tmp_path: Path) -> None:
        """A condition on a fact that does not exist fails."""
        body = RULE.replace("{WHEN}", '{fact: mood_colour, eq: "blue"}').replace(
            "{REF}", "SPR"
        )
        assert any(
            "unknown fact 'mood_colour'" in p for p in problems(layer(tmp_path, body))
        )

    def test_misspelled_code_can_never_fire(self, tmp_path: Path) -> None:
        """eq: "yse" on a yes/no item is caught at load time."""
        body = RULE.replace("{WHEN}", '{fact: mania_now, eq: "yse"}').replace(
            "{REF}", "SPR"
        )
        assert any(
            "'yse' is not one of its values" in p
            for p in problems(layer(tmp_path, body))
        )

    def test_wrong_operator_for_kind(self, tmp_path: Path) -> None:
        """contains on a yes/no fact is rejected."""
        body = RULE.replace("{WHEN}", '{fact: mania_now, contains: "yes"}').replace(
            "{REF}", "SPR"
        )
        assert any(
            "needs a multi-choice fact" in p for p in problems(layer(tmp_path, body))
        )

    def test_unknown_reference(self, tmp_path: Path) -> None:
        """Every reference must resolve to the references file."""
        body = RULE.replace("{WHEN}", '{fact: mania_now, eq: "yes"}').replace(
            "{REF}", "NOPE"
        )
        assert any(
            "unknown reference 'NOPE'" in p for p in problems(layer(tmp_path, body))
        )

    def test_unknown_parameter(self, tmp_path: Path) -> None:
        """Changing a parameter that does not exist needs a full definition."""
        found = problems(layer(tmp_path, "parameters:\n  made_up: {value: 3}\n"))
        assert any("parameters.made_up" in p for p in found)

    def test_disable_unknown_rule(self, tmp_path: Path) -> None:
        """Disabling a rule that does not exist is an error, not silence."""
        found = problems(layer(tmp_path, "disable: [mood.no_such_rule]\n"))
        assert any("no such rule" in p for p in found)

    def test_misspelled_key_names_the_place(self, tmp_path: Path) -> None:
        """An unknown key in a rule names the rule and the key."""
        body = RULE.replace("{WHEN}", '{fact: mania_now, eq: "yes"}').replace(
            "{REF}", "SPR"
        )
        body = body.replace("    title: Extra", "    tittle: Extra")
        found = problems(layer(tmp_path, body))
        assert any(
            "rules[0] (mood.clinic_extra).tittle: unknown key" in p for p in found
        )


class TestLayering:
    """A clinic layer changes only what it names."""

    def test_disable_and_replace(self, tmp_path: Path) -> None:
        """Disabled rules are gone; replaced rules keep their id with new content."""
        body = "disable: [age.older_adult]\n" + RULE.replace(
            "mood.clinic_extra", "mood.bipolar_stable"
        ).replace("{WHEN}", '{fact: bipolar_dx, eq: "yes"}').replace("{REF}", "SPR")
        content = load_content(layer(tmp_path, body))
        ids = {cr.rule.id for cr in content.rules}
        assert "age.older_adult" not in ids
        replaced = next(
            cr for cr in content.rules if cr.rule.id == "mood.bipolar_stable"
        )
        assert replaced.rule.title == "Extra"

    def test_instrument_cutoff_override(self, tmp_path: Path) -> None:
        """An instrument cut-off can be changed with its qualified name."""
        content = load_content(
            layer(tmp_path, "parameters:\n  gad7.cutoff: {value: 8}\n")
        )
        assert content.parameters["gad7.cutoff"].value == 8
        assert content.parameters["gad7.cutoff"].references


class TestInstrumentFiles:
    """A clinic's instrument file is validated like the bundled ones."""

    def test_bad_instrument_file(self, tmp_path: Path) -> None:
        """A malformed instrument names the file and the place."""
        path = tmp_path / "mine.yaml"
        path.write_text(
            "schema_version: 1\nid: mine\nversion: '1'\nname: Mine\nshort_name: M\n"
            "source: me\nreferences: [SPR]\n"
            "licence: {status: free, notice: n, redistributable: true}\n"
            "items:\n  - {id: mine_1, text: Q, responses: nowhere}\n",
            encoding="utf-8",
        )
        with pytest.raises(ContentError) as info:
            load_content(None, [path])
        assert str(path) in info.value.source
        assert "unknown response set" in str(info.value)
