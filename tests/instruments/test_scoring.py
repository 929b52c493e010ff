"""Instrument scoring at every published band edge and cut-off (CLINICAL.md §2, §5, §7).

Every expected value here is written from CLINICAL.md, never read back from the
instrument YAML files, so a wrong cut-off or band in a content file fails a test.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.helpers import SCREENING_DATE, run

from ketascreen.content.files import DATA
from ketascreen.instruments.model import InstrumentFile
from ketascreen.intake.answers import facts_from_answers
from ketascreen.rules.engine import score_facts
from ketascreen.screening import get_content

# CLINICAL.md §7: shipped because their terms allow free redistribution.
BUNDLED = ("phq9", "gad7", "auditc", "pcptsd5", "pcl5", "asq")
# CLINICAL.md §7 and §7.3: optional content a clinic loads under its own licence.
OPTIONAL = ("mdq", "dast10", "cssrs", "des2", "msibpd")


def scored(answers: dict[str, Any], *instruments: str) -> dict[str, Any]:
    """Facts after scoring the answers with the default content plus ``instruments``."""
    content = get_content(None, list(instruments))
    facts = facts_from_answers(content.form, answers, SCREENING_DATE)
    return score_facts(content, facts).values


def spread(prefix: str, count: int, total: int, top: int) -> dict[str, int]:
    """Answers for items ``prefix_1..count`` (each 0..top) adding up to ``total``."""
    assert 0 <= total <= count * top
    return {
        f"{prefix}_{i}": min(top, max(0, total - top * (i - 1)))
        for i in range(1, count + 1)
    }


def yes_count(prefix: str, count: int, yes: int, first: int = 1) -> dict[str, str]:
    """Yes/no answers for items ``prefix_first..`` with the first ``yes`` of them yes."""
    return {
        f"{prefix}_{i}": "yes" if i - first < yes else "no"
        for i in range(first, first + count)
    }


def instrument_file(inst_id: str, *extra: str) -> InstrumentFile:
    """The loaded instrument file for an id (optional ones added by id)."""
    return get_content(None, list(extra)).instruments[inst_id].file


def phq9(total: int) -> dict[str, int]:
    """PHQ-9 items 1-9 adding up to ``total`` (each 0-3)."""
    return spread("phq9", 9, total, 3)


class TestPhq9:
    """PHQ-9: sum of items 1-9, 0-27; bands 0-4/5-9/10-14/15-19/20-27 (CLINICAL.md §2)."""

    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "moderately severe"),
            (19, "moderately severe"),
            (20, "severe"),
            (27, "severe"),
        ],
    )
    def test_band_edges(self, total: int, band: str) -> None:
        """Each published band edge gives the published total and band."""
        facts = scored(phq9(total))
        assert facts["phq9.total"] == total
        assert facts["phq9.total_band"] == band

    @pytest.mark.parametrize(
        "difficulty",
        [
            "not_difficult",
            "somewhat_difficult",
            "very_difficult",
            "extremely_difficult",
        ],
    )
    def test_item10_not_scored(self, difficulty: str) -> None:
        """The 10th (functional) item never changes the total or band."""
        facts = scored({**phq9(10), "phq9_10": difficulty})
        assert facts["phq9.total"] == 10
        assert facts["phq9.total_band"] == "moderate"

    def test_item10_not_needed(self) -> None:
        """Items 1-9 alone give a total; the functional item is not required."""
        facts = scored(phq9(14))
        assert "phq9_10" not in facts
        assert facts["phq9.total"] == 14

    def test_missing_item_makes_total_unknown(self) -> None:
        """One unanswered item leaves the total and band unknown (absent), not 0."""
        answers = phq9(27)
        del answers["phq9_4"]
        facts = scored(answers)
        assert "phq9.total" not in facts
        assert "phq9.total_band" not in facts

    def test_describe_lists_missing_item(self) -> None:
        """The result's PHQ-9 score is null and names the unanswered item."""
        answers: dict[str, Any] = phq9(12)
        answers["phq9_4"] = None
        result = run(answers)
        (entry,) = [s for s in result.instrument_scores if s.instrument == "phq9"]
        assert entry.value is None
        assert entry.band is None
        assert entry.missing_items == ("phq9_4",)

    def test_describe_complete(self) -> None:
        """A complete PHQ-9 is reported with its total, band, maximum and no gaps."""
        result = run(phq9(15))
        (entry,) = [s for s in result.instrument_scores if s.instrument == "phq9"]
        assert entry.value == 15
        assert entry.band == "moderately severe"
        assert entry.maximum == 27
        assert entry.missing_items == ()

    @pytest.mark.parametrize(("item9", "flagged"), [(0, False), (1, True), (3, True)])
    def test_item9_flag(self, item9: int, flagged: bool) -> None:
        """Item 9 at 1 or more flags suicide-risk follow-up (CLINICAL.md §5.6)."""
        facts = scored({**phq9(0), "phq9_9": item9})
        assert facts["phq9.item9_positive"] is flagged


class TestGad7:
    """GAD-7: sum 0-21; 5/10/15 mark mild/moderate/severe; positive at >= 10."""

    @pytest.mark.parametrize(
        ("total", "band", "positive"),
        [
            # CLINICAL.md names the bands from 5 up; below 5 is "minimal" (Spitzer 2006).
            (0, "minimal", False),
            (4, "minimal", False),
            (5, "mild", False),
            (9, "mild", False),
            (10, "moderate", True),
            (14, "moderate", True),
            (15, "severe", True),
            (21, "severe", True),
        ],
    )
    def test_band_edges(self, total: int, band: str, positive: bool) -> None:
        """Each band edge gives the published band and the >= 10 positive screen."""
        facts = scored(spread("gad7", 7, total, 3))
        assert facts["gad7.total"] == total
        assert facts["gad7.total_band"] == band
        assert facts["gad7.positive"] is positive

    def test_missing_item_unknown(self) -> None:
        """An unanswered item leaves the total and the positive flag unknown."""
        answers = spread("gad7", 7, 21, 3)
        del answers["gad7_7"]
        facts = scored(answers)
        assert "gad7.total" not in facts
        assert "gad7.positive" not in facts


class TestAuditC:
    """AUDIT-C: sum 0-12; positive at >= 4 men, >= 3 women (CLINICAL.md §2, §5.8)."""

    @pytest.mark.parametrize(
        ("sex", "total", "positive"),
        [
            ("male", 0, False),
            ("male", 3, False),
            ("male", 4, True),
            ("male", 12, True),
            ("female", 0, False),
            ("female", 2, False),
            ("female", 3, True),
            ("female", 12, True),
            # Intersex uses the (more sensitive) women's cut-off.
            ("intersex", 2, False),
            ("intersex", 3, True),
        ],
    )
    def test_sex_specific_cutoffs(self, sex: str, total: int, positive: bool) -> None:
        """Each sex's cut-off edge gives the published positive/negative screen."""
        facts = scored({"sex_at_birth": sex, **spread("auditc", 3, total, 4)})
        assert facts["auditc.total"] == total
        assert facts["auditc.positive"] is positive

    @pytest.mark.parametrize(("total", "positive"), [(0, False), (2, False), (4, True)])
    def test_sex_unknown_decided(self, total: int, positive: bool) -> None:
        """Sex unknown: below both cut-offs is negative, at or above both is positive."""
        facts = scored(spread("auditc", 3, total, 4))
        assert "sex_at_birth" not in facts
        assert facts["auditc.positive"] is positive

    def test_sex_unknown_between_cutoffs(self) -> None:
        """Sex unknown with total 3 (between the cut-offs): the flag stays unknown."""
        facts = scored(spread("auditc", 3, 3, 4))
        assert facts["auditc.total"] == 3
        assert "auditc.positive" not in facts

    def test_missing_item_unknown(self) -> None:
        """An unanswered item leaves the total unknown, even for a man."""
        facts = scored({"sex_at_birth": "male", "auditc_1": 4, "auditc_2": 4})
        assert "auditc.total" not in facts
        assert "auditc.positive" not in facts


class TestPcPtsd5:
    """PC-PTSD-5: trauma gate, then count of 5 yes/no items; default cut-off 4 (§7.2)."""

    def test_no_trauma_scores_zero(self) -> None:
        """Trauma exposure "no": total 0, not positive, items not needed."""
        facts = scored({"pcptsd5_trauma": "no"})
        assert facts["pcptsd5.total"] == 0
        assert facts["pcptsd5.positive"] is False

    @pytest.mark.parametrize(
        ("yes", "positive"),
        [(0, False), (3, False), (4, True), (5, True)],
    )
    def test_cutoff_edges(self, yes: int, positive: bool) -> None:
        """Exposure "yes": 3 yes is below the default cut-off 4; 4 yes is positive."""
        facts = scored({"pcptsd5_trauma": "yes", **yes_count("pcptsd5", 5, yes)})
        assert facts["pcptsd5.total"] == yes
        assert facts["pcptsd5.positive"] is positive

    def test_trauma_unknown(self) -> None:
        """Exposure unanswered: the total is unknown, even with every item yes."""
        facts = scored(yes_count("pcptsd5", 5, 5))
        assert "pcptsd5.total" not in facts
        assert "pcptsd5.positive" not in facts

    def test_item_missing_after_yes(self) -> None:
        """Exposure "yes" with an item unanswered: the total is unknown."""
        answers = {"pcptsd5_trauma": "yes", **yes_count("pcptsd5", 5, 4)}
        del answers["pcptsd5_5"]
        facts = scored(answers)
        assert "pcptsd5.total" not in facts


def pcl5(ratings: dict[int, int]) -> dict[str, int]:
    """PCL-5 answers: the given item ratings, every other item 0."""
    return {f"pcl5_{i}": ratings.get(i, 0) for i in range(1, 21)}


class TestPcl5:
    """PCL-5 (optional): sum 0-80, probable PTSD >= 33; cluster rule B1/C1/D2/E2 at >= 2."""

    @pytest.mark.parametrize(
        ("total", "probable"), [(0, False), (32, False), (33, True), (80, True)]
    )
    def test_probable_ptsd_edge(self, total: int, probable: bool) -> None:
        """Total 32 is below the cut-off; 33 is probable PTSD."""
        facts = scored(spread("pcl5", 20, total, 4), "pcl5")
        assert facts["pcl5.total"] == total
        assert facts["pcl5.probable_ptsd"] is probable

    def test_cluster_rule_minimum(self) -> None:
        """One B, one C, two D and two E items at 2: provisional diagnosis, low total."""
        facts = scored(pcl5({1: 2, 6: 2, 8: 2, 14: 2, 15: 2, 20: 2}), "pcl5")
        assert facts["pcl5.total"] == 12
        assert facts["pcl5.provisional_diagnosis"] is True
        assert facts["pcl5.probable_ptsd"] is False

    def test_high_total_missing_cluster_c(self) -> None:
        """Every item at 4 except C (items 6-7) at 1: probable PTSD, no provisional dx."""
        ratings = dict.fromkeys(range(1, 21), 4) | {6: 1, 7: 1}
        facts = scored(pcl5(ratings), "pcl5")
        assert facts["pcl5.total"] == 74
        assert facts["pcl5.probable_ptsd"] is True
        assert facts["pcl5.provisional_diagnosis"] is False

    @pytest.mark.parametrize(
        ("ratings", "missing"),
        [
            ({1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 8: 2, 9: 2, 15: 2, 16: 2}, "B"),
            ({1: 2, 8: 2, 9: 2, 15: 2, 16: 2}, "C"),
            ({1: 2, 6: 2, 8: 2, 9: 1, 15: 2, 16: 2}, "D"),
            ({1: 2, 6: 2, 8: 2, 9: 2, 15: 2, 16: 1}, "E"),
        ],
    )
    def test_each_cluster_needed(self, ratings: dict[int, int], missing: str) -> None:
        """Missing any one cluster (items at 1 do not count) means no provisional dx."""
        facts = scored(pcl5(ratings), "pcl5")
        assert facts["pcl5.provisional_diagnosis"] is False, missing


def asq(**answers: str) -> dict[str, str]:
    """ASQ answers: questions 1-4 "no" unless given."""
    return {**{f"asq_{i}": "no" for i in range(1, 5)}, **answers}


class TestAsq:
    """ASQ: any yes (or refusal) to Q1-4 is positive; Q5 yes is acute (§0, §7.1)."""

    def test_all_no_negative(self) -> None:
        """No to all of Q1-4: negative and not acute; Q5 is not needed."""
        facts = scored(asq())
        assert facts["asq.positive"] is False
        assert facts["asq.acute"] is False

    @pytest.mark.parametrize("item", ["asq_1", "asq_2", "asq_3", "asq_4"])
    def test_any_yes_positive(self, item: str) -> None:
        """A yes to any one of Q1-4 is a positive screen."""
        facts = scored(asq(**{item: "yes"}))
        assert facts["asq.positive"] is True

    @pytest.mark.parametrize("item", ["asq_1", "asq_2", "asq_3", "asq_4"])
    def test_declined_positive(self, item: str) -> None:
        """Declining to answer any of Q1-4 counts as positive."""
        facts = scored(asq(**{item: "declined"}))
        assert facts["asq.positive"] is True

    def test_acute_positive(self) -> None:
        """Q5 (thoughts of killing yourself right now) yes: acute positive."""
        facts = scored(asq(asq_1="yes", asq_5="yes"))
        assert facts["asq.positive"] is True
        assert facts["asq.acute"] is True

    def test_non_acute_positive(self) -> None:
        """Positive with Q5 no: positive but not acute."""
        facts = scored(asq(asq_3="yes", asq_5="no"))
        assert facts["asq.positive"] is True
        assert facts["asq.acute"] is False

    def test_acuity_unanswered_unknown(self) -> None:
        """Positive with Q5 unanswered: acute is unknown, never false."""
        facts = scored(asq(asq_2="yes"))
        assert facts["asq.positive"] is True
        assert "asq.acute" not in facts


def mdq(yes: int, part2: str, part3: str) -> dict[str, str]:
    """MDQ answers: ``yes`` of the 13 part-1 items yes, then parts 2 and 3."""
    return {**yes_count("mdq_p1", 13, yes), "mdq_p2": part2, "mdq_p3": part3}


class TestMdq:
    """MDQ (optional): positive only if >= 7 yes AND part 2 yes AND moderate/serious."""

    @pytest.mark.parametrize(
        ("yes", "part2", "part3", "positive"),
        [
            (7, "yes", "moderate", True),
            (7, "yes", "serious", True),
            (13, "yes", "serious", True),
            (6, "yes", "serious", False),
            (6, "yes", "moderate", False),
            (13, "no", "serious", False),
            (7, "yes", "minor", False),
            (7, "yes", "none", False),
            (0, "no", "none", False),
        ],
    )
    def test_all_three_parts(
        self, yes: int, part2: str, part3: str, positive: bool
    ) -> None:
        """Only the combination of all three parts is a positive screen."""
        facts = scored(mdq(yes, part2, part3), "mdq")
        assert facts["mdq.part1_yes"] == yes
        assert facts["mdq.positive"] is positive


def dast10(total: int) -> dict[str, str]:
    """DAST-10 answers scoring ``total``, using item 3's reverse scoring when total >= 1."""
    others = [i for i in range(1, 11) if i != 3]
    yes = set(others[: max(0, total - 1)])
    answers = {f"dast10_{i}": "yes" if i in yes else "no" for i in others}
    answers["dast10_3"] = "no" if total >= 1 else "yes"
    return answers


class TestDast10:
    """DAST-10 (optional): yes = 1 except item 3 (no = 1); bands 0/1-2/3-5/6-8/9-10."""

    def test_item3_reverse_scored(self) -> None:
        """Answering "no" to item 3 (always able to stop?) scores 1; "yes" scores 0."""
        all_no = {f"dast10_{i}": "no" for i in range(1, 11)}
        assert scored(all_no, "dast10")["dast10.total"] == 1
        assert scored({**all_no, "dast10_3": "yes"}, "dast10")["dast10.total"] == 0

    def test_all_yes(self) -> None:
        """Yes to every item scores 9: item 3 "yes" scores 0."""
        all_yes = {f"dast10_{i}": "yes" for i in range(1, 11)}
        facts = scored(all_yes, "dast10")
        assert facts["dast10.total"] == 9
        assert facts["dast10.total_band"] == "severe"

    @pytest.mark.parametrize(
        ("total", "band"),
        [
            (0, "none"),
            (1, "low"),
            (2, "low"),
            (3, "moderate"),
            (5, "moderate"),
            (6, "substantial"),
            (8, "substantial"),
            (9, "severe"),
            (10, "severe"),
        ],
    )
    def test_band_edges(self, total: int, band: str) -> None:
        """Each published band edge gives the published band."""
        facts = scored(dast10(total), "dast10")
        assert facts["dast10.total"] == total
        assert facts["dast10.total_band"] == band


def cssrs(**answers: str) -> dict[str, str]:
    """C-SSRS screener answers: Q1, Q2 and Q6 "no" unless given."""
    return {"cssrs_1": "no", "cssrs_2": "no", "cssrs_6": "no", **answers}


class TestCssrs:
    """C-SSRS screener (optional): risk by the most severe yes, not a sum (§2, §5.6)."""

    @pytest.mark.parametrize(
        ("answers", "tier"),
        [
            ({"cssrs_1": "yes", "cssrs_2": "yes", "cssrs_4": "yes"}, "high"),
            ({"cssrs_2": "yes", "cssrs_3": "no", "cssrs_4": "yes"}, "high"),
            ({"cssrs_2": "yes", "cssrs_5": "yes"}, "high"),
            ({"cssrs_6": "yes", "cssrs_6_recent": "yes"}, "high"),
            (
                {"cssrs_2": "yes", "cssrs_3": "yes", "cssrs_4": "no", "cssrs_5": "no"},
                "moderate",
            ),
            ({"cssrs_6": "yes", "cssrs_6_recent": "no"}, "moderate"),
            ({"cssrs_1": "yes"}, "low"),
            (
                {
                    "cssrs_1": "yes",
                    "cssrs_2": "yes",
                    "cssrs_3": "no",
                    "cssrs_4": "no",
                    "cssrs_5": "no",
                },
                "low",
            ),
            (
                {"cssrs_2": "yes", "cssrs_3": "no", "cssrs_4": "no", "cssrs_5": "no"},
                "low",
            ),
        ],
    )
    def test_tiers(self, answers: dict[str, str], tier: str) -> None:
        """Exactly the published tier is set; the others are false."""
        facts = scored(cssrs(**answers), "cssrs")
        for name in ("high", "moderate", "low"):
            assert facts[f"cssrs.{name}"] is (name == tier), name

    def test_high_outranks_lower(self) -> None:
        """Q3 yes plus recent Q6: high only (the most severe yes wins)."""
        answers = cssrs(
            cssrs_1="yes",
            cssrs_2="yes",
            cssrs_3="yes",
            cssrs_4="no",
            cssrs_5="no",
            cssrs_6="yes",
            cssrs_6_recent="yes",
        )
        facts = scored(answers, "cssrs")
        assert facts["cssrs.high"] is True
        assert facts["cssrs.moderate"] is False
        assert facts["cssrs.low"] is False

    def test_all_no(self) -> None:
        """No to Q1, Q2 and Q6: no tier at all."""
        facts = scored(cssrs(), "cssrs")
        assert facts["cssrs.high"] is False
        assert facts["cssrs.moderate"] is False
        assert facts["cssrs.low"] is False


def des2(values: list[int]) -> dict[str, int]:
    """DES-II answers for items 1-28."""
    assert len(values) == 28
    return {f"des2_{i}": v for i, v in enumerate(values, start=1)}


class TestDes2:
    """DES-II (optional): the MEAN of 28 items (0-100); >= 30 is high (§2, §5.9)."""

    @pytest.mark.parametrize(
        ("values", "mean", "high"),
        [
            ([30] * 27 + [10], 820 / 28, False),
            ([30] * 27 + [20], 830 / 28, False),
            ([30] * 28, 30, True),
            ([40] * 14 + [20] * 14, 30, True),
            ([100] * 28, 100, True),
            ([0] * 28, 0, False),
        ],
    )
    def test_mean_cutoff(self, values: list[int], mean: float, high: bool) -> None:
        """A mean of 29.x is not high; a mean of exactly 30 is high."""
        facts = scored(des2(values), "des2")
        assert facts["des2.mean"] == pytest.approx(mean, abs=0.01)
        assert facts["des2.high"] is high

    def test_mean_not_sum(self) -> None:
        """Every item at 10%: the score is 10 (a mean), not 280 (a sum), and not high."""
        facts = scored(des2([10] * 28), "des2")
        assert facts["des2.mean"] == 10
        assert facts["des2.high"] is False

    def test_missing_item_unknown(self) -> None:
        """One unanswered item leaves the mean and the flag unknown."""
        answers = des2([50] * 28)
        del answers["des2_28"]
        facts = scored(answers, "des2")
        assert "des2.mean" not in facts
        assert "des2.high" not in facts


class TestMsiBpd:
    """MSI-BPD (optional): count of 10 yes/no items; positive at >= 7 (§0, §2)."""

    @pytest.mark.parametrize(
        ("yes", "positive"), [(0, False), (6, False), (7, True), (10, True)]
    )
    def test_cutoff_edge(self, yes: int, positive: bool) -> None:
        """6 yes is not positive; 7 yes is."""
        facts = scored(yes_count("msibpd", 10, yes), "msibpd")
        assert facts["msibpd.total"] == yes
        assert facts["msibpd.positive"] is positive


class TestInstrumentFiles:
    """LOINC codes and licences in the instrument files match CLINICAL.md §2, §7."""

    def test_phq9_loinc(self) -> None:
        """PHQ-9: panel 44249-1, total 44261-6, item 9 44260-8."""
        inst = instrument_file("phq9")
        assert inst.loinc == "44249-1"
        total = next(s for s in inst.scores if s.id == "total")
        assert total.loinc == "44261-6"
        item9 = next(i for i in inst.items if i.id == "phq9_9")
        assert item9.loinc == "44260-8"

    def test_gad7_total_loinc(self) -> None:
        """GAD-7 total: 70274-6."""
        inst = instrument_file("gad7")
        total = next(s for s in inst.scores if s.id == "total")
        assert total.loinc == "70274-6"

    def test_auditc_total_loinc(self) -> None:
        """AUDIT-C total: 75626-2."""
        inst = instrument_file("auditc")
        total = next(s for s in inst.scores if s.id == "total")
        assert total.loinc == "75626-2"

    def test_result_carries_total_loinc(self) -> None:
        """The result's score entries carry the total LOINC codes."""
        result = run({})
        codes = {s.instrument: s.loinc for s in result.instrument_scores}
        assert codes["phq9"] == "44261-6"
        assert codes["gad7"] == "70274-6"
        assert codes["auditc"] == "75626-2"

    @pytest.mark.parametrize("inst_id", BUNDLED)
    def test_bundled_redistributable(self, inst_id: str) -> None:
        """Shipped instruments are marked redistributable and live in the main folder."""
        inst = instrument_file(inst_id, *(["pcl5"] if inst_id == "pcl5" else []))
        assert inst.licence.redistributable is True
        assert (DATA / "instruments" / f"{inst_id}.yaml").is_file()

    @pytest.mark.parametrize("inst_id", OPTIONAL)
    def test_optional_not_redistributable(self, inst_id: str) -> None:
        """Optional instruments are not redistributable and live in optional/."""
        inst = instrument_file(inst_id, inst_id)
        assert inst.licence.redistributable is False
        assert (DATA / "instruments" / "optional" / f"{inst_id}.yaml").is_file()
        assert not (DATA / "instruments" / f"{inst_id}.yaml").is_file()
