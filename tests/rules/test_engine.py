"""The engine: dispositions, unknowns, safety ordering, evidence, routes."""

from __future__ import annotations

from tests.helpers import fired, run

from ketascreen import Disposition
from ketascreen.domain.types import SEVERITY

CALM = {
    "age": 40,
    "sex_at_birth": "male",
    "phq9_9": 0,
    "hallucinations_now": "no",
}


class TestUnknown:
    """Missing answers are unknown, never 'no'."""

    def test_empty_answers_are_not_no_concerns(self) -> None:
        """{} lists what is unknown and is never no_concerns_found."""
        result = run({})
        assert result.disposition != Disposition.no_concerns_found
        assert result.unknowns
        facts = {u.fact for u in result.unknowns}
        assert {"phq9_9", "pregnant", "hallucinations_now"} <= facts
        assert all(f.unresolved for f in result.findings)
        assert result.crisis is None

    def test_clinic_measurements_do_not_block(self) -> None:
        """Unmeasured blood pressure is listed but does not make a domain incomplete."""
        result = run({})
        bp = [u for u in result.unknowns if u.fact == "bp_systolic"]
        assert bp
        assert bp[0].measured_at_clinic
        cardio = [f for f in result.findings if f.domain == "cardiovascular"]
        assert all("bp_systolic" not in {e.fact for e in f.evidence} for f in cardio)


class TestSafety:
    """Suicide risk surfaces first, with crisis resources."""

    def test_acute_asq_is_urgent_and_first(self) -> None:
        """ASQ acuity yes: urgent_safety, crisis shown, suicide finding first."""
        result = run(
            {
                **CALM,
                "phq9_9": 2,
                "asq_1": "yes",
                "asq_5": "yes",
                "pregnant": "yes",
                "sex_at_birth": "female",
            }
        )
        assert result.disposition == Disposition.urgent_safety
        assert result.crisis is not None
        assert result.crisis.urgent
        assert "988" in " ".join(r.contact for r in result.crisis.resources)
        assert result.findings[0].domain == "suicide_risk"
        assert "suicide_risk.acute_now" in fired(result)

    def test_item9_alone_surfaces_with_help(self) -> None:
        """PHQ-9 item 9 >= 1 gives a suicide-risk finding and crisis help, not urgent."""
        result = run({**CALM, "phq9_9": 1})
        assert "suicide_risk.phq9_item9" in fired(result)
        assert result.crisis is not None
        assert not result.crisis.urgent
        assert result.findings[0].domain == "suicide_risk"


class TestDisposition:
    """The most severe finding wins; evidence names the facts."""

    def test_most_severe_wins(self) -> None:
        """A deferral outranks a review finding."""
        result = run(
            {
                **CALM,
                "bp_systolic": 150,
                "bp_diastolic": 85,
                "heart_conditions": ["aneurysm"],
            }
        )
        assert {
            "cardiovascular.bp_raised_measured",
            "cardiovascular.aneurysm_avm_bleed",
        } <= fired(result)
        assert result.disposition == Disposition.not_recommended_now
        levels = [SEVERITY[f.level] for f in result.findings]
        assert levels == sorted(levels, reverse=True)

    def test_evidence_and_references(self) -> None:
        """A finding carries the fact values that fired it and resolved citations."""
        result = run({**CALM, "bp_systolic": 172, "bp_diastolic": 104})
        finding = next(
            f for f in result.findings if f.rule_id == "cardiovascular.bp_high_measured"
        )
        values = {e.fact: e.value for e in finding.evidence}
        assert values.get("bp_systolic") == 172 or values.get("bp_diastolic") == 104
        assert finding.references
        assert all(r.citation for r in finding.references)
        assert "160" in finding.clinician_rationale

    def test_ruleset_version_and_hash(self) -> None:
        """The result records the ruleset version and content hash."""
        result = run(CALM)
        assert result.ruleset_version.startswith("default@")
        assert len(result.ruleset_hash) == 64


class TestRoutes:
    """All four forms are explained, with what weighs on each."""

    def test_four_routes_always(self) -> None:
        """Every result describes the four forms of ketamine."""
        assert {r.id for r in run({}).routes} == {
            "iv_infusion",
            "im_injection",
            "lozenge",
            "esketamine_nasal",
        }

    def test_aneurysm_contraindicates_spravato(self) -> None:
        """The label contraindication shows on the esketamine route."""
        result = run({**CALM, "heart_conditions": ["aneurysm"]})
        nasal = next(r for r in result.routes if r.id == "esketamine_nasal")
        assert any(c.effect == "contraindicated" for c in nasal.considerations)

    def test_past_ketamine_misuse_weighs_on_take_home(self) -> None:
        """Past ketamine misuse weighs against take-home lozenges."""
        result = run({**CALM, "ketamine_misuse_ever": "yes"})
        lozenge = next(r for r in result.routes if r.id == "lozenge")
        assert any(
            "substance_past.ketamine_misuse_history" in c.rule_ids
            for c in lozenge.considerations
        )

    def test_preference_recorded(self) -> None:
        """The person's route preference is carried through."""
        result = run({**CALM, "route_preference": ["lozenge"]})
        prefs = {r.id: r.preferred for r in result.routes}
        assert prefs["lozenge"] is True
        assert prefs["iv_infusion"] is False
