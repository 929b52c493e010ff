"""Whole-content checks and the Markdown ruleset behind ``ketascreen rules``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.factories import clinic_layer, parameter, rule

from ketascreen.errors import Problem
from ketascreen.rules.loader import Content, load_content
from ketascreen.rules.report import check_content, ruleset_markdown

NEVER = "can never fire (no answers make it true)"


def check_rule(tmp_path: Path, when: dict[str, Any], **keys: Any) -> list[str]:
    """check_content's problems for the default ruleset plus one clinic rule."""
    path = clinic_layer(tmp_path, rules=[rule("mood.clinic_test", when)], **keys)
    return [str(p) for p in check_content(load_content(path))]


class TestCheckContent:
    """Every domain is covered and every rule can fire."""

    def test_default_content_is_clean(self, content: Content) -> None:
        """The bundled content passes every check."""
        assert check_content(content) == []

    def test_domain_without_rules(self, tmp_path: Path, content: Content) -> None:
        """Disabling every rule of a domain reports the uncovered domain, and only that."""
        age_rules = [cr.rule.id for cr in content.rules if cr.rule.domain == "age"]
        assert age_rules
        found = check_content(load_content(clinic_layer(tmp_path, disable=age_rules)))
        assert found == [Problem("domain age", "no rule covers this domain")]

    def test_contradictory_rule(self, tmp_path: Path) -> None:
        """A rule that needs age below 10 and above 20 can never fire."""
        when = {"all": [{"fact": "age", "lt": 10}, {"fact": "age", "gt": 20}]}
        assert check_rule(tmp_path, when) == [f"rule mood.clinic_test: {NEVER}"]

    def test_contradiction_through_a_parameter(self, tmp_path: Path) -> None:
        """Thresholds given as parameters are searched too: below and at or above 18."""
        limit = {"param": "age_adult_years"}
        when = {"all": [{"fact": "age", "lt": limit}, {"fact": "age", "gte": limit}]}
        assert check_rule(tmp_path, when) == [f"rule mood.clinic_test: {NEVER}"]

    def test_contradictory_codes(self, tmp_path: Path) -> None:
        """A yes/no answer that must be both yes and no can never fire."""
        when = {
            "all": [
                {"fact": "mania_now", "eq": "yes"},
                {"not": {"fact": "mania_now", "ne": "no"}},
            ]
        }
        assert check_rule(tmp_path, when) == [f"rule mood.clinic_test: {NEVER}"]

    def test_narrow_literal_window_is_live(self, tmp_path: Path) -> None:
        """Age above 30 and below 31 can fire (30.5): numbers written in a rule are tried."""
        when = {"all": [{"fact": "age", "gt": 30}, {"fact": "age", "lt": 31}]}
        assert check_rule(tmp_path, when) == []

    def test_exact_parameter_value_is_live(self, tmp_path: Path) -> None:
        """A rule that fires only at a clinic parameter's exact value is found to be live."""
        at = {"param": "clinic_exact_age"}
        when = {"all": [{"fact": "age", "gte": at}, {"fact": "age", "lte": at}]}
        found = check_rule(
            tmp_path, when, parameters={"clinic_exact_age": parameter(44)}
        )
        assert found == []

    def test_dead_rule_in_a_layer_is_named(self, tmp_path: Path) -> None:
        """Only the dead rule is reported; live clinic rules beside it are not."""
        path = clinic_layer(
            tmp_path,
            rules=[
                rule("mood.clinic_live", {"fact": "mania_now", "eq": "yes"}),
                rule(
                    "mood.clinic_dead",
                    {"all": [{"fact": "age", "lt": 10}, {"fact": "age", "gt": 20}]},
                ),
            ],
        )
        found = check_content(load_content(path))
        assert [p.where for p in found] == ["rule mood.clinic_dead"]

    def test_rule_needing_many_answers_is_live(self, tmp_path: Path) -> None:
        """A rule that needs seven answers to be yes can fire, so it is not reported dead."""
        facts = [
            "suicide_intent",
            "suicide_plan",
            "suicide_preparation",
            "mania_ever",
            "mania_now",
            "bipolar_dx",
            "family_bipolar",
        ]
        when = {"all": [{"fact": f, "eq": "yes"} for f in facts]}
        assert check_rule(tmp_path, when) == []

    def test_number_in_a_list_is_live(self, tmp_path: Path) -> None:
        """Age in [16, 17] can fire, so it is not reported dead."""
        assert check_rule(tmp_path, {"fact": "age", "in": [16, 17]}) == []

    def test_window_between_answer_codes_is_dead(self, tmp_path: Path) -> None:
        """PHQ-9 item 9 is answered 0-3, so 'above 1 and below 2' can never fire."""
        when = {"all": [{"fact": "phq9_9", "gt": 1}, {"fact": "phq9_9", "lt": 2}]}
        assert check_rule(tmp_path, when) == [f"rule mood.clinic_test: {NEVER}"]


class TestRulesetMarkdown:
    """The ruleset as Markdown for clinical review."""

    def test_header_and_version(self, content: Content) -> None:
        """The title carries the ruleset version; the text ends with one newline."""
        text = ruleset_markdown(content)
        assert text.startswith(f"# Ruleset {content.ruleset_version}\n")
        assert content.ruleset_version == "default@1.0.0"
        assert text.endswith("\n")
        assert not text.endswith("\n\n")

    def test_parameter_rows(self, content: Content) -> None:
        """Each parameter is one table row, sorted by name, description on one line."""
        lines = ruleset_markdown(content).splitlines()
        rows = [line for line in lines if line.startswith("| `")]
        names = [row.split("`")[1] for row in rows]
        assert names == sorted(content.parameters)
        age = next(r for r in rows if r.startswith("| `age_adult_years` "))
        assert age.startswith(
            "| `age_adult_years` | 18 | years | V | SPR, PSY, TKC, CRT | "
        )
        assert "Spravato dosing is for adults 18 and over" in age
        assert age.endswith(" |")

    def test_every_rule_under_its_domain(self, content: Content) -> None:
        """Domains appear in file order and each rule sits under its own domain."""
        lines = ruleset_markdown(content).splitlines()
        headings = [
            i for i, line in enumerate(lines) if line.startswith("## ") and "(`" in line
        ]
        assert [lines[i] for i in headings] == [
            f"## {d.title} (`{d.id}`)" for d in content.domains.values()
        ]
        bounds = dict(zip(content.domains, [*headings[1:], len(lines)], strict=True))
        starts = dict(zip(content.domains, headings, strict=True))
        rules = [cr.rule for cr in content.rules] + list(content.inactive_rules)
        for r in rules:
            at = next(
                i for i, line in enumerate(lines) if line.startswith(f"### `{r.id}` ")
            )
            assert starts[r.domain] < at < bounds[r.domain], r.id
            assert lines[at].startswith(f"### `{r.id}` — {r.level.value}")

    def test_active_rule_shows_its_condition(self, content: Content) -> None:
        """An active rule shows its compiled condition and its one-line messages."""
        text = ruleset_markdown(content)
        cr = next(c for c in content.rules if c.rule.id == "age.under_18")
        assert f"- When: `{cr.when!r}`" in text
        assert f"- Patient: {' '.join(cr.rule.patient_message.split())}\n" in text
        assert f"**{cr.rule.title}.** References: {', '.join(cr.rule.references)}." in (
            text
        )

    def test_inactive_rule_waits_for_its_instrument(self, content: Content) -> None:
        """A rule for an optional instrument says which, and that it is inactive."""
        inactive = next(r for r in content.inactive_rules if r.requires_instrument)
        block = _rule_block(ruleset_markdown(content), inactive.id)
        assert f"(needs {inactive.requires_instrument})" in block[0]
        assert "- When: `inactive until the instrument is added`" in block

    def test_instrument_added_activates_the_rule(self) -> None:
        """With PCL-5 added, its rules show their conditions instead."""
        with_pcl5 = load_content(None, ["pcl5"])
        rule_id = next(
            cr.rule.id
            for cr in with_pcl5.rules
            if cr.rule.requires_instrument == "pcl5"
        )
        block = _rule_block(ruleset_markdown(with_pcl5), rule_id)
        assert "(needs pcl5)" in block[0]
        when = next(line for line in block if line.startswith("- When: "))
        assert "pcl5" in when
        assert "inactive" not in when

    def test_clinic_layer(self, tmp_path: Path) -> None:
        """A clinic layer shows the layered version, its rules and no disabled ones."""
        path = clinic_layer(
            tmp_path,
            rules=[rule("mood.clinic_extra", {"fact": "mania_now", "eq": "yes"})],
            disable=["age.older_adult"],
        )
        text = ruleset_markdown(load_content(path))
        assert text.startswith("# Ruleset default@1.0.0 > clinic@0.1.0\n")
        assert "### `mood.clinic_extra` — needs_specialist_review" in text
        assert "- When: `mania_now = yes`" in text
        assert "`age.older_adult`" not in text


def _rule_block(text: str, rule_id: str) -> list[str]:
    """The lines of one rule's section, from its heading to the next blank gap."""
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith(f"### `{rule_id}`")
    )
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("#")),
        len(lines),
    )
    return lines[start:end]
