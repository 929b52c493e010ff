"""A synthetic population as a facts table, for population screening (``ketascreen synth``).

One row per person: ``person_id`` (``p000000001`` ...) and one column per required fact
of :func:`ketascreen.batch.schema.fact_columns` (computed scores, bands and flags are
left out, so the engine computes them). :func:`synthesize` yields chunks so that ten
million rows never sit in memory at once; :func:`write_population` writes Parquet, or
CSV with list columns joined by ``|`` (``["cannabis", "opioids"]`` is
``cannabis|opioids``; an empty field is unknown), to a temporary file in the target
folder and renames it only when complete. Everything is vectorised (numpy, Polars):
about 300,000 rows a second on two cores. The same seed and chunk size give the same
table.

The table is made in five passes:

1. **Model.** Latent traits (age, sex, depression and anxiety severity, bipolar
   disorder, PTSD, a substance problem, a personality disorder) drive the answers,
   so conditions go together as they do in people: age drives high blood pressure,
   the other heart conditions, dementia, glaucoma and the measured BP; high blood
   pressure (and whether it is controlled) raises BP; only women aged 18-45 can be
   pregnant or breastfeeding ("yes"), men answer "no"; a bipolar diagnosis brings
   mania history, lamotrigine and lithium/antipsychotics; a substance problem raises
   AUDIT-C and every drug; PHQ-9 item 9 follows the same severity as the other PHQ-9
   items, and the ASQ answers follow item 9.
2. **Thresholds.** For every number a rule, flag or display condition compares a
   fact with (a ``{param: NAME}`` from ``content.parameters``, or a literal in the
   content), a share of rows (``Shares.boundary_rows``, default 2%) per fact gets
   exactly the threshold, one below or one above. Computed sums (``auditc.total``,
   ``gad7.total``, ``pcptsd5.total``) get there by setting their items. No threshold
   is written here. On a follow-up item (``attempt_months_ago``) the value survives
   only where the item is asked (pass 4).
3. **Missing.** Each fact is null in ``Shares.missing`` of rows (default 8%), clinic
   measurements (BP, heart rate, benzodiazepine dose) in ``Shares.clinic_missing``
   (25%), and ``Shares.unknown_rows`` (1%, at least one in a chunk of 100 rows or
   more) are null in every fact column: "unknown", never "no".
4. **Gates.** Each item's own display condition (``show_if``, from the content) is
   applied in form order: where it is false, the item would not be asked, so it is
   null (``htn_controlled`` without ``high_bp``, ``bipolar_status`` without a bipolar
   diagnosis, the ASQ when PHQ-9 item 9 is 0). Where the gate is unknown the answer
   is kept, as the form would ask. The pregnancy items are the one exception: the
   form hides them for men, but a record says "no", so men keep "no".
5. **Columns.** Values are cast to the column types; every value is one of the
   column's codes or within its minimum and maximum.

Profiles: ``referred`` (the default) models people who come to a ketamine clinic:
a depressed population (most have moderate to severe depression and many have
thoughts of death), more bipolar disorder, PTSD, dissociation, antidepressants and
augmenting drugs. ``general`` models the general adult population, for contrast.
The rates below are "general / referred". [U] marks a general figure quoted from
memory (an approximation, not checked against a stored source); "model" marks a
modelling choice. CLINICAL.md keys are given where it has the figure.

Outcome figures (general / referred, measured at 200,000 rows without missing or
threshold rows): PHQ-9 total >= 10 in 9.4% / 93%, mean 3.5 / 16.8 (primary care
8-10% [U]; people referred for ketamine start at a mean PHQ-9 of about 16-18 [U]);
PHQ-9 item 9 >= 1 in 3.4% / 57%; GAD-7 >= 10 in 5.1% / 65% [U]; AUDIT-C positive
(cut-offs from the content, [AUD]) in 22% / 24% (US adults 20-25% [U]), >= 8 in 3%;
high blood pressure 48% / 41% (US adults about 45% [U]); systolic >= 140 in 21% / 15%.

========================= ======== ========= =========================================
rate                      general  referred  source
========================= ======== ========= =========================================
female                    51%      60%       US adults [U]; depression about 2x in women [U]
intersex                  0.2%     0.2%      published estimates 0.02-1.7% [U]
bipolar_dx                3%       10%       past-year bipolar 2.8% [U]; referred: model
mania_without_dx          4%       8%        model
family_bipolar            6%       10%       model
schizophrenia             0.4%     0.3%      lifetime 0.3-0.7% [U]; clinics exclude it [TKC]
schizoaffective           0.2%     0.2%      [U]
psychotic_depression_now  0.2%     2%        model
other_psychotic           0.3%     0.4%      model
hallucinations_now        1%       3%        model
unusual_beliefs_now       1.5%     3%        model
psychosis_past            3%       5%        lifetime psychosis about 3% [U]
family_psychosis          3%       5%        model
dissociation_sometimes    20%      35%       model
dissociation_often        4%       11%       model
dissociation_most         1%       4%        model
dissociative_disorder_dx  1%       2%        model
trauma_exposure           70%      80%       lifetime trauma about 70% (WMH surveys) [U]
ptsd_given_trauma         8%       30%       lifetime PTSD about 6% [U]; PTSD with TRD [U]
in_therapy                10%      50%       about 10% of US adults in therapy [U]
substance_problem_ever    12%      20%       model [U]
substance_problem_now     35%      35%       share of those ever; model
drinker                   68%      62%       past-year drinking 65-70% [U]
cannabis                  18%      25%       past-year 18-22% (NSDUH) [U]
stimulants                2%       3%        [U]
opioids                   3%       4%        past-year misuse about 3% (NSDUH) [U]
sedatives                 2%       4%        [U]
ketamine                  0.4%     1%        [U]
psychedelics              3%       5%        past-year about 3% (NSDUH) [U]
other_drug                1%       1%        model
ketamine_misuse_ever      1%       2%        model
opioid_agonist_treatment  0.3%     1%        model
htn_controlled            50%      50%       about half of US adults with HTN controlled [U]
seizures_ever             3%       3%        any seizure 3-4%, epilepsy 1.2% [U]
seizures_controlled       75%      75%       model
brain_injury              8%       10%       model
raised_icp                0.1%     0.1%      model
brain_tumour              0.2%     0.2%      model
other_neuro               2%       2%        model
hyperthyroid              0.5%     0.5%      hyperthyroidism about 1% [U]
porphyria                 0.01%    0.01%     [U]
liver_disease             2%       2%        model
bladder_problems          2%       2%        model
pregnant                  4%       3%        women 18-45 at a point in time 3-5% [U]
breastfeeding             3%       2%        women 18-45 [U]
personality_dx            2%       10%       BPD 1.6-5.9% [U]; referred: model
self_harm_past_year       1.5%     8%        model
impulsive_often           10%      20%       model
mood_shifts_rapid         10%      25%       model
antidepressant            13%      75%       US adults 13% (NCHS 2015-18) [U]; TRD: model
benzodiazepine            5%       20%       past-year use 12.6% (Maust 2019) [U]
lamotrigine               0.5%     4%        model (plus 40% with bipolar disorder)
maoi                      0.05%    1%        model
stimulant                 3%       8%        model
opioid                    5%       6%        long-term opioids about 5% [U]
other_sedative            4%       10%       model
gabapentinoid             4%       6%        model
antipsychotic_or_lithium  1.5%     15%       model (plus 50% with bipolar disorder)
ketamine_allergy          0.2%     0.2%      model
hopes_fix_everything      15%      15%       model
hopes_part_of_plan        55%      65%       model
integration_plan          30%      50%       model
support_person            85%      85%       model
feels_pressured           3%       4%        model
notes_known               10%      20%       model: a note or record reports on suicidal thoughts
========================= ======== ========= =========================================

Age: 1% aged 13-17 (both profiles), then adults by decade: general like US adults
(18-24 12%, 25-34 17%, 35-44 17%, 45-54 16%, 55-64 17%, 65-74 13%, 75-94 7%) [U];
referred younger (12%, 25%, 24%, 18%, 13%, 6%, 1%) (model). Conditions by age
(at 30 / 50 / 70 / 90 years, interpolated): high_bp 22/55/75/80% (NHANES 2017-18 by
age, about 45% of US adults [U]); coronary 1/5/15/20%; heart_attack 0.3/2/8/12%;
stroke 0.3/2/7/12%; arrhythmia 2/4/10/15%; heart_failure 0.2/1/5/10%; aneurysm
0.2/0.5/1.5/2%; avm 0.1% at all ages; brain_bleed 0.1/0.2/0.5/1%; other_heart
2/3/5/6%; dementia 0/0.5/3/25%; glaucoma 0.3/1/3/7% (all [U] or model). Systolic BP
about 108 + 0.4 per year over 30, sd 12, +12 mmHg with controlled and +24 with
uncontrolled high blood pressure; diastolic 72 + 0.4 x (systolic - 120), sd 7; heart
rate 74, sd 11 (model). Time since a heart attack or stroke: median 4 years (about
5% within 6 months); since a suicide attempt: median 30 months; since a substance
problem: median 4 years, 0 when it is a problem now; last drug use within a month
for 40% of users, 80% with a problem now (model). Benzodiazepine dose (diazepam
mg/day): median 10 daily, 5 some days, 2.5 rarely (model). ASQ "yes" by PHQ-9 item 9
(0/1/2/3): Q1 10/45/65/80%, Q2 5/25/45/60%, Q3 2/20/40/60%, Q4 (ever tried)
5/12/20/30%, declined 2% each; Q5 (right now) 1/5/12/25%; intent, plan and
preparation "yes" 5%, 10%, 3%, plus 35, 40 and 20 points with Q5 "yes"; a note
reports suicidal thoughts with item 9 at 0/1/2/3 in 5/50/70/85% (model).

Conditional figures (model): with bipolar disorder, mania ever 85%, mania now 12%
(4% without), status stable 65% / unstable 25%, family history +15 points,
lamotrigine +40 and lithium/antipsychotics +50 points; with a psychotic diagnosis,
hallucinations and unusual beliefs +35 points and past psychosis 90% (cause substance
35% / illness 50%; resolved 70%); with PTSD, each PC-PTSD-5 item 85% (20% after
trauma without PTSD), told PTSD 50% (2%), trauma unprocessed 80% (28%, 3% without
trauma); with a substance problem, drinking 85%, AUDIT-C +0.9 sd (men +0.5 sd), every
drug 3x, liver disease +5 points, opioid agonist treatment 30% of opioid users (who
then take prescribed opioids 95%); ketamine misuse 50% of ketamine users, bladder
problems +20 points with it; htn controlled 50% (unsure 12%); unstable angina 8%,
heart failure worse 12%, seizures controlled 75%; pregnancy "unsure" 2% of women under
55; with a personality disorder, self-harm +20 points (+4 per item 9 point),
impulsive +30, rapid mood shifts +35 (bipolar +10, +15); benzodiazepine +10 points
with high anxiety, taken daily 50% / some days 30% / rarely 20%; wanting it for
oneself 90% (40% when pressured). "Unsure" is 3% unless stated.
"""

from __future__ import annotations

import operator
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from polars._typing import PolarsDataType

from ketascreen.batch.schema import PERSON, Column, fact_columns
from ketascreen.batch.table import frames_source, write_table
from ketascreen.instruments.model import scoped_values
from ketascreen.instruments.scoring import CompiledScore
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)
from ketascreen.rules.loader import Content

Profile = Literal["general", "referred"]
PROFILES: tuple[Profile, ...] = ("general", "referred")
Arr = npt.NDArray[Any]
Code = str | int
Prob = float | Arr


@dataclass(frozen=True)
class Rate:
    """A prevalence in each profile, with where the figure comes from."""

    general: float
    referred: float
    source: str


def _r(general: float, referred: float, source: str = "model") -> Rate:
    return Rate(general, referred, source)


#: Every prevalence the model draws from (documented in the module docstring and
#: docs/batch.md, which a test keeps in step).
RATES: dict[str, Rate] = {
    "female": _r(0.51, 0.60, "[U]"),
    "intersex": _r(0.002, 0.002, "[U]"),
    "bipolar_dx": _r(0.03, 0.10, "[U]"),
    "mania_without_dx": _r(0.04, 0.08),
    "family_bipolar": _r(0.06, 0.10),
    "schizophrenia": _r(0.004, 0.003, "[U]"),
    "schizoaffective": _r(0.002, 0.002, "[U]"),
    "psychotic_depression_now": _r(0.002, 0.02),
    "other_psychotic": _r(0.003, 0.004),
    "hallucinations_now": _r(0.01, 0.03),
    "unusual_beliefs_now": _r(0.015, 0.03),
    "psychosis_past": _r(0.03, 0.05, "[U]"),
    "family_psychosis": _r(0.03, 0.05),
    "dissociation_sometimes": _r(0.20, 0.35),
    "dissociation_often": _r(0.04, 0.11),
    "dissociation_most": _r(0.01, 0.04),
    "dissociative_disorder_dx": _r(0.01, 0.02),
    "trauma_exposure": _r(0.70, 0.80, "[U]"),
    "ptsd_given_trauma": _r(0.08, 0.30, "[U]"),
    "in_therapy": _r(0.10, 0.50, "[U]"),
    "substance_problem_ever": _r(0.12, 0.20, "[U]"),
    "substance_problem_now": _r(0.35, 0.35),
    "drinker": _r(0.68, 0.62, "[U]"),
    "cannabis": _r(0.18, 0.25, "[U]"),
    "stimulants": _r(0.02, 0.03, "[U]"),
    "opioids": _r(0.03, 0.04, "[U]"),
    "sedatives": _r(0.02, 0.04, "[U]"),
    "ketamine": _r(0.004, 0.01, "[U]"),
    "psychedelics": _r(0.03, 0.05, "[U]"),
    "other_drug": _r(0.01, 0.01),
    "ketamine_misuse_ever": _r(0.01, 0.02),
    "opioid_agonist_treatment": _r(0.003, 0.01),
    "htn_controlled": _r(0.50, 0.50, "[U]"),
    "seizures_ever": _r(0.03, 0.03, "[U]"),
    "seizures_controlled": _r(0.75, 0.75),
    "brain_injury": _r(0.08, 0.10),
    "raised_icp": _r(0.001, 0.001),
    "brain_tumour": _r(0.002, 0.002),
    "other_neuro": _r(0.02, 0.02),
    "hyperthyroid": _r(0.005, 0.005, "[U]"),
    "porphyria": _r(0.0001, 0.0001, "[U]"),
    "liver_disease": _r(0.02, 0.02),
    "bladder_problems": _r(0.02, 0.02),
    "pregnant": _r(0.04, 0.03, "[U]"),
    "breastfeeding": _r(0.03, 0.02, "[U]"),
    "personality_dx": _r(0.02, 0.10, "[U]"),
    "self_harm_past_year": _r(0.015, 0.08),
    "impulsive_often": _r(0.10, 0.20),
    "mood_shifts_rapid": _r(0.10, 0.25),
    "antidepressant": _r(0.13, 0.75, "[U]"),
    "benzodiazepine": _r(0.05, 0.20, "[U]"),
    "lamotrigine": _r(0.005, 0.04),
    "maoi": _r(0.0005, 0.01),
    "stimulant": _r(0.03, 0.08),
    "opioid": _r(0.05, 0.06, "[U]"),
    "other_sedative": _r(0.04, 0.10),
    "gabapentinoid": _r(0.04, 0.06),
    "antipsychotic_or_lithium": _r(0.015, 0.15),
    "ketamine_allergy": _r(0.002, 0.002),
    "hopes_fix_everything": _r(0.15, 0.15),
    "hopes_part_of_plan": _r(0.55, 0.65),
    "integration_plan": _r(0.30, 0.50),
    "support_person": _r(0.85, 0.85),
    "feels_pressured": _r(0.03, 0.04),
    "notes_known": _r(0.10, 0.20),
}

#: Age: cumulative shares at these ages (13-17, then adult decades); see docstring.
_AGE_AT = (13, 18, 25, 35, 45, 55, 65, 75, 95)
_AGE_CUM: dict[str, tuple[float, ...]] = {
    "general": (0, 0.01, 0.13, 0.30, 0.47, 0.63, 0.80, 0.93, 1),
    "referred": (0, 0.01, 0.13, 0.38, 0.62, 0.80, 0.93, 0.99, 1),
}
#: Conditions by age, at 30 / 50 / 70 / 90 years (interpolated between).
_AGES = (30, 50, 70, 90)
_BY_AGE: dict[str, tuple[float, float, float, float]] = {
    "high_bp": (0.22, 0.55, 0.75, 0.80),
    "coronary": (0.01, 0.05, 0.15, 0.20),
    "heart_attack": (0.003, 0.02, 0.08, 0.12),
    "stroke": (0.003, 0.02, 0.07, 0.12),
    "arrhythmia": (0.02, 0.04, 0.10, 0.15),
    "heart_failure": (0.002, 0.01, 0.05, 0.10),
    "aneurysm": (0.002, 0.005, 0.015, 0.02),
    "avm": (0.001, 0.001, 0.001, 0.001),
    "brain_bleed": (0.001, 0.002, 0.005, 0.01),
    "other_heart": (0.02, 0.03, 0.05, 0.06),
    "dementia": (0.0, 0.005, 0.03, 0.25),
    "glaucoma": (0.003, 0.01, 0.03, 0.07),
}
#: Latent severity (mean, sd) on the 0-3 item scale; calibrated to the docstring.
_DEPRESSION = {"general": (0.10, 0.78), "referred": (2.05, 0.55)}
_ANXIETY = {"general": (0.05, 0.75), "referred": (1.6, 0.6)}
_ASQ_YES = {  # by PHQ-9 item 9 = 0, 1, 2, 3
    "asq_1": (0.10, 0.45, 0.65, 0.80),
    "asq_2": (0.05, 0.25, 0.45, 0.60),
    "asq_3": (0.02, 0.20, 0.40, 0.60),
    "asq_4": (0.05, 0.12, 0.20, 0.30),
}
_ASQ_NOW = (0.01, 0.05, 0.12, 0.25)
_CHILDBEARING = (18, 45)
_UNSURE = 0.03
_MIN_UNKNOWN_CHUNK = 100
#: Hidden by the form for men, but a record says "no" (see the module docstring).
_RECORDED_WHEN_HIDDEN = frozenset({"pregnant", "breastfeeding"})
_DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "list[str]": pl.List(pl.String()),
}


@dataclass(frozen=True)
class Shares:
    """How much of the table is unknown or sits on a threshold (shares of rows)."""

    missing: float = 0.08
    """Null share of each fact column a person answers."""
    clinic_missing: float = 0.25
    """Null share of each clinic measurement (items for the clinic audience)."""
    per_column: Mapping[str, float] = field(default_factory=dict)
    """Null share for named columns, overriding the two above."""
    unknown_rows: float = 0.01
    """Rows with every fact null (at least one in a chunk of 100 rows or more)."""
    boundary_rows: float = 0.02
    """Rows, per thresholded fact, set at a threshold, one below or one above."""


# --- raw columns -----------------------------------------------------------------


@dataclass(frozen=True)
class Coded:
    """A coded column: per row an index into ``codes``; ``len(codes)`` is null."""

    codes: tuple[Code, ...]
    idx: Arr

    def has(self, code: Code) -> Arr:
        """Rows whose value is ``code``."""
        return np.asarray(self.idx == self.codes.index(code))


@dataclass(frozen=True)
class Multi:
    """A multi-select column: bit j set when ``codes[j]`` is chosen; -1 is null."""

    codes: tuple[str, ...]
    bits: Arr
    empty: str | None = "none"
    """The exclusive code an empty choice is written as."""

    def has(self, code: str) -> Arr:
        """Rows whose choice includes ``code``."""
        bit = (self.bits >> self.codes.index(code)) & 1
        return np.asarray((self.bits >= 0) & (bit == 1))


Raw = dict[str, Coded | Multi | Arr]


class _Draw:
    """Vectorised random draws for one chunk of ``n`` people."""

    def __init__(self, rng: np.random.Generator, n: int, profile: Profile) -> None:
        self.rng, self.n, self.profile = rng, n, profile

    def rate(self, name: str) -> float:
        """A rate of :data:`RATES` for this profile."""
        return getattr(RATES[name], self.profile)  # type: ignore[no-any-return]

    def chance(self, p: Prob) -> Arr:
        """True with probability ``p`` (a number or one per row)."""
        return self.rng.random(self.n, np.float32) < p

    def normal(self, mean: Prob = 0.0, sd: float = 1.0) -> Arr:
        """Normal draws."""
        return mean + sd * self.rng.standard_normal(self.n, np.float32)

    def choose(self, probs: Mapping[str, Prob], rest: str) -> Coded:
        """One code per row: each with its probability, ``rest`` otherwise."""
        u = self.rng.random(self.n, np.float32)
        idx = np.zeros(self.n, np.int8)
        cum: Prob = 0.0
        for p in probs.values():
            cum = cum + p
            idx += u >= cum
        return Coded((*probs, rest), idx)

    def answer(self, yes: Prob, unsure: Prob = _UNSURE) -> Coded:
        """A yes / unsure / no answer."""
        return self.choose({"yes": yes, "unsure": unsure}, "no")

    def multi(self, probs: Mapping[str, Prob], empty: str | None = "none") -> Multi:
        """Independent choices; none chosen is written as ``empty``."""
        bits = np.zeros(self.n, np.int64)
        for j, p in enumerate(probs.values()):
            bits |= self.chance(np.minimum(p, 0.95)).astype(np.int64) << j
        return Multi(tuple(probs), bits, empty)

    def by_age(self, age: Arr, name: str) -> Arr:
        """The age-dependent probability of a condition."""
        return np.interp(age, _AGES, _BY_AGE[name])

    def months(self, median: float, sigma: float) -> Arr:
        """A time in months, log-normal."""
        months: Arr = np.round(median * np.exp(self.rng.normal(0.0, sigma, self.n)), 1)
        return months


# --- the model -------------------------------------------------------------------


def _people(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Age, sex and the latent traits the rest depends on."""
    u = d.rng.random(d.n)
    lat["age"] = out["age"] = np.floor(np.interp(u, _AGE_CUM[d.profile], _AGE_AT))
    sex = d.choose({"female": d.rate("female"), "intersex": d.rate("intersex")}, "male")
    out["sex_at_birth"] = sex
    lat["female"], lat["male"] = sex.has("female"), sex.has("male")
    lat["dep"] = d.normal(*_DEPRESSION[d.profile])
    mean, sd = _ANXIETY[d.profile]
    lat["anx"] = d.normal(
        mean + 0.6 * (lat["dep"] - _DEPRESSION[d.profile][0]), sd * 0.8
    )
    lat["bipolar"] = d.chance(d.rate("bipolar_dx"))
    lat["problem"] = d.chance(d.rate("substance_problem_ever"))
    lat["pd"] = d.chance(d.rate("personality_dx"))


def _scale(
    d: _Draw, latent: Arr, ids: Sequence[str], out: Raw, offset: float = 0.0
) -> Arr:
    """0-3 items that follow one latent severity; returns the last item's values."""
    value = latent
    for item in ids:
        value = np.clip(np.rint(latent + offset + d.normal(0.0, 0.6)), 0, 3)
        out[item] = Coded((0, 1, 2, 3), value.astype(np.int64))
    return value.astype(np.int64)


def _mood(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """PHQ-9 and GAD-7; item 9 follows the same severity, less often endorsed."""
    _scale(d, lat["dep"], [f"phq9_{i}" for i in range(1, 9)], out)
    lat["item9"] = _scale(d, lat["dep"], ["phq9_9"], out, offset=-1.4)
    _scale(d, lat["anx"], [f"gad7_{i}" for i in range(1, 8)], out)


def _safety(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """ASQ and the follow-up questions, driven by PHQ-9 item 9."""
    i9 = lat["item9"]
    for item, table in _ASQ_YES.items():
        out[item] = d.choose({"yes": np.take(table, i9), "declined": 0.02}, "no")
    acute = d.chance(np.take(_ASQ_NOW, i9))
    out["asq_5"] = Coded(("yes", "no"), (~acute).astype(np.int64))
    out["attempt_months_ago"] = d.months(30, 1.4)
    out["suicide_intent"] = d.answer(0.05 + 0.35 * acute, 0.08)
    out["suicide_plan"] = d.answer(0.10 + 0.40 * acute, 0.07)
    out["suicide_preparation"] = d.answer(0.03 + 0.20 * acute, 0.04)
    said = d.chance(np.take((0.05, 0.5, 0.7, 0.85), i9))
    known = d.chance(d.rate("notes_known"))
    reported = np.where(known, np.where(said, 0, 1), 2)  # 2: no note (unknown)
    out["suicidal_thoughts_reported"] = Coded(("yes", "no"), reported)


def _mood_history(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Bipolar diagnosis, with mania history and status."""
    bip = lat["bipolar"]
    out["bipolar_dx"] = d.answer(bip * 1.0, ~bip * _UNSURE)
    out["mania_ever"] = d.answer(np.where(bip, 0.85, d.rate("mania_without_dx")), 0.06)
    out["mania_now"] = d.answer(np.where(bip, 0.12, 0.04), 0.05)
    out["bipolar_status"] = d.choose(
        {"stable_treated": 0.65, "unstable": 0.25}, "unsure"
    )
    out["family_bipolar"] = d.answer(d.rate("family_bipolar") + 0.15 * bip, 0.08)


def _perceptions(d: _Draw, _lat: dict[str, Arr], out: Raw) -> None:
    """Psychotic diagnoses, current and past psychosis, dissociation."""
    codes = "schizophrenia schizoaffective psychotic_depression_now other_psychotic"
    dx = d.multi({c: d.rate(c) for c in codes.split()})
    out["psychosis_diagnoses"] = dx
    psychotic = dx.bits > 0
    for item in ("hallucinations_now", "unusual_beliefs_now"):
        out[item] = d.answer(d.rate(item) + 0.35 * psychotic, 0.02)
    out["psychosis_past"] = d.answer(np.where(psychotic, 0.9, d.rate("psychosis_past")))
    out["psychosis_past_cause"] = d.choose(
        {"substance": 0.35, "illness": 0.5}, "unsure"
    )
    out["psychosis_past_resolved"] = d.answer(0.7, 0.1)
    out["family_psychosis"] = d.answer(d.rate("family_psychosis"), 0.08)
    out["dissociation_frequency"] = d.choose(
        {
            "sometimes": d.rate("dissociation_sometimes"),
            "often": d.rate("dissociation_often"),
            "most_of_the_time": d.rate("dissociation_most"),
        },
        "never",
    )
    out["dissociative_disorder_dx"] = d.answer(d.rate("dissociative_disorder_dx"))


def _trauma(d: _Draw, _lat: dict[str, Arr], out: Raw) -> None:
    """PC-PTSD-5 and trauma history; PTSD only after trauma."""
    trauma = d.chance(d.rate("trauma_exposure"))
    ptsd = trauma & d.chance(d.rate("ptsd_given_trauma"))
    out["pcptsd5_trauma"] = Coded(("yes", "no"), (~trauma).astype(np.int64))
    for i in range(1, 6):
        out[f"pcptsd5_{i}"] = d.choose({"yes": np.where(ptsd, 0.85, 0.2)}, "no")
    out["ptsd_dx"] = d.answer(np.where(ptsd, 0.5, 0.02), 0.04)
    out["trauma_unprocessed"] = d.answer(np.where(ptsd, 0.8, 0.25 * trauma + 0.03), 0.1)
    out["trauma_support"] = d.answer(d.rate("in_therapy"), 0.02)


def _auditc(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """AUDIT-C: non-drinkers score 0; men and a substance problem drink more."""
    problem = lat["problem"]
    drinker = d.chance(np.where(problem, 0.85, d.rate("drinker")))
    amount = d.normal(-0.45 + 0.5 * lat["male"] + 0.9 * problem)
    cuts = ([0.0, 0.9, 1.8], [0.9, 1.9, 2.6, 3.3], [0.2, 1.2, 2.2, 3.0])
    for i, (cut, first) in enumerate(zip(cuts, (1, 0, 0), strict=True), start=1):
        level = np.minimum(first + np.searchsorted(cut, amount + d.normal(0.0, 0.6)), 4)
        out[f"auditc_{i}"] = Coded((0, 1, 2, 3, 4), np.where(drinker, level, 0))


def _drugs(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Drug use, substance problems and their timing."""
    problem = lat["problem"]
    boost = np.where(problem, 3.0, 1.0)
    names = "cannabis stimulants opioids sedatives ketamine psychedelics"
    probs = {c: d.rate(c) * boost for c in names.split()}
    probs["other"] = d.rate("other_drug") * boost
    drugs = out["drugs_past_year"] = d.multi(probs)
    now = problem & d.chance(d.rate("substance_problem_now"))
    recent, u = d.chance(np.where(now, 0.8, 0.4)), d.rng.random(d.n)
    out["drug_last_use_months"] = np.round(np.where(recent, u, 1 + 11 * u), 2)
    out["substance_problem_ever"] = d.answer(problem * 1.0, ~problem * _UNSURE)
    out["substance_problem_now"] = d.answer(now * 1.0, 0.08 * ~now)
    out["substance_problem_months_since"] = np.where(now, 0.0, d.months(48, 1.2))
    misuse = d.answer(
        np.where(drugs.has("ketamine"), 0.5, d.rate("ketamine_misuse_ever")), 0.02
    )
    out["ketamine_misuse_ever"], lat["misuse"] = misuse, misuse.has("yes")
    opioid_problem = problem & drugs.has("opioids")
    lat["oat"] = d.chance(
        np.where(opioid_problem, 0.3, d.rate("opioid_agonist_treatment"))
    )
    out["opioid_agonist_treatment"] = d.answer(lat["oat"] * 1.0, 0.01)


def _heart(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Heart conditions by age, their follow-ups, and measured BP and heart rate."""
    age = lat["age"]
    codes = "high_bp coronary heart_attack stroke arrhythmia heart_failure aneurysm"
    codes += " avm brain_bleed other_heart"
    heart = d.multi({c: d.by_age(age, c) for c in codes.split()})
    out["heart_conditions"] = heart
    controlled = out["htn_controlled"] = d.answer(d.rate("htn_controlled"), 0.12)
    out["mi_stroke_months_ago"] = d.months(48, 1.3)
    out["angina_unstable"] = d.answer(0.08, 0.07)
    out["heart_failure_worse"] = d.answer(0.12, 0.08)
    rise = np.where(controlled.has("yes"), 12, 24) * heart.has("high_bp")
    systolic = d.normal(108 + 0.4 * np.maximum(age - 30, 0) + rise, 12)
    out["bp_systolic"] = np.rint(systolic)
    out["bp_diastolic"] = np.rint(d.normal(72 + 0.4 * (systolic - 120), 7))
    out["heart_rate"] = np.rint(d.normal(74 + 2 * (lat["anx"] > 1.5), 11))


def _body(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Seizures, brain and nerve conditions, other conditions."""
    age = lat["age"]
    out["seizures_ever"] = d.answer(d.rate("seizures_ever"), 0.01)
    out["seizures_controlled"] = d.answer(d.rate("seizures_controlled"), 0.1)
    neuro = ("brain_injury", "raised_icp", "brain_tumour")
    out["neuro_conditions"] = d.multi(
        {c: d.rate(c) for c in neuro}
        | {"dementia": d.by_age(age, "dementia"), "other_neuro": d.rate("other_neuro")}
    )
    misuse = lat["misuse"]
    out["other_conditions"] = d.multi(
        {
            "hyperthyroid": d.rate("hyperthyroid"),
            "glaucoma": d.by_age(age, "glaucoma"),
            "porphyria": d.rate("porphyria"),
            "liver_disease": d.rate("liver_disease") + 0.05 * lat["problem"],
            "bladder_problems": d.rate("bladder_problems") + 0.2 * misuse,
        }
    )
    out["ketamine_allergy"] = d.answer(d.rate("ketamine_allergy"), 0.01)


def _pregnancy(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Only women of childbearing age say "yes"; men say "no"."""
    low, high = _CHILDBEARING
    fertile = lat["female"] & (lat["age"] >= low) & (lat["age"] <= high)
    could = ~lat["male"] & (lat["age"] < 55)
    pregnant = out["pregnant"] = d.answer(fertile * d.rate("pregnant"), could * 0.02)
    feeding = fertile & ~pregnant.has("yes") & d.chance(d.rate("breastfeeding"))
    out["breastfeeding"] = Coded(("yes", "no"), (~feeding).astype(np.int64))


def _feelings(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Personality disorder, self-harm, impulsivity and mood shifts go together."""
    pd, bip = lat["pd"], lat["bipolar"]
    out["personality_dx"] = d.answer(pd * 1.0, ~pd * 0.05)
    harm = d.rate("self_harm_past_year") + 0.2 * pd + 0.04 * lat["item9"]
    out["self_harm_past_year"] = d.answer(harm, 0.02)
    out["impulsive_often"] = d.answer(
        d.rate("impulsive_often") + 0.3 * pd + 0.1 * bip, 0.06
    )
    shifts = d.rate("mood_shifts_rapid") + 0.35 * pd + 0.15 * bip
    out["mood_shifts_rapid"] = d.answer(shifts, 0.06)


def _medicines(d: _Draw, lat: dict[str, Arr], out: Raw) -> None:
    """Current medicines; bipolar disorder brings mood stabilisers."""
    bip = lat["bipolar"]
    names = "benzodiazepine lamotrigine maoi stimulant opioid other_sedative"
    names += " gabapentinoid antidepressant antipsychotic_or_lithium"
    probs: dict[str, Prob] = {c: d.rate(c) for c in names.split()}
    probs["lamotrigine"] = probs["lamotrigine"] + 0.4 * bip
    probs["antipsychotic_or_lithium"] = probs["antipsychotic_or_lithium"] + 0.5 * bip
    probs["opioid"] = np.where(lat["oat"], 0.95, d.rate("opioid"))
    probs["benzodiazepine"] = probs["benzodiazepine"] + 0.1 * (lat["anx"] > 1.5)
    out["medication_classes"] = d.multi(probs)
    freq = out["benzo_frequency"] = d.choose({"daily": 0.5, "some_days": 0.3}, "rarely")
    median = np.take((10.0, 5.0, 2.5), freq.idx)
    out["benzo_dose_diazepam_mg"] = np.round(median * np.exp(d.normal(0, 0.6)) * 2) / 2


def _readiness(d: _Draw, _lat: dict[str, Arr], out: Raw) -> None:
    """Hopes, plans, support and autonomy."""
    hopes = {h: d.rate(f"hopes_{h}") for h in ("fix_everything", "part_of_plan")}
    out["hopes"] = d.choose(hopes, "not_sure")
    out["integration_plan"] = d.answer(d.rate("integration_plan"), 0.2)
    out["support_person"] = d.choose({"yes": d.rate("support_person")}, "no")
    pressured = d.chance(d.rate("feels_pressured"))
    out["feels_pressured"] = d.answer(pressured * 1.0, ~pressured * 0.04)
    out["wants_for_self"] = d.answer(
        np.where(pressured, 0.4, 0.9), np.where(pressured, 0.3, 0.07)
    )


_MODEL = (
    _people, _mood, _safety, _mood_history, _perceptions, _trauma, _auditc, _drugs,
    _heart, _body, _pregnancy, _feelings, _medicines, _readiness,
)  # fmt: skip


def _model(d: _Draw) -> Raw:
    """Every modelled fact, before thresholds, missing values and gates."""
    lat: dict[str, Arr] = {}
    out: Raw = {}
    for step in _MODEL:
        step(d, lat, out)
    return out


# --- the plan: what the content asks for -------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What one content bundle needs, worked out once for all chunks."""

    columns: dict[str, Column]
    gates: list[tuple[str, pl.Expr]]
    thresholds: dict[str, list[float]]
    scores: dict[str, CompiledScore]
    integer: frozenset[str]
    clinic: frozenset[str]
    empty: dict[str, str | None]
    """Per multi-select column, the exclusive code an empty choice is written as."""


def _plan(content: Content) -> _Plan:
    """The required columns, gate expressions and thresholds of a content bundle."""
    columns = {f: c for f, c in fact_columns(content).items() if c.required}
    items = content.form.items
    scores = {cs.fact: cs for i in content.instruments.values() for cs in i.scores}
    return _Plan(
        columns,
        _Conditions(content, columns).gates(),
        _thresholds(content, columns, scores),
        scores,
        frozenset(f for f in columns if f in items and items[f].integer),
        frozenset(f for f in columns if f in items and items[f].audience == "clinic"),
        {f: _exclusive(items[f].exclusive_codes) for f in columns if f in items},
    )


def _exclusive(codes: frozenset[str]) -> str | None:
    """The one exclusive code of a multi-select item ("none"), if it has one."""
    return min(codes) if codes else None


def _params(content: Content, instrument: str | None) -> dict[str, float]:
    """Parameter values as a condition in an instrument (or elsewhere) sees them."""
    values = {name: p.value for name, p in content.parameters.items()}
    return scoped_values(values, instrument) if instrument else values


def _leaves(cond: Condition) -> Iterator[FactTest]:
    """Every fact test in a condition."""
    if isinstance(cond, FactTest):
        yield cond
        return
    parts = {All: "all", AnyOf: "any", Count: "count"}
    children = (
        [cond.not_] if isinstance(cond, Not) else getattr(cond, parts[type(cond)])
    )
    for child in children:
        yield from _leaves(child)


def _all_conditions(
    content: Content, columns: Mapping[str, Column]
) -> Iterator[tuple[Condition, dict[str, float]]]:
    """Rule, flag, score-gate and column display conditions, with their parameters."""
    for cr in content.rules:
        yield cr.rule.when, _params(content, None)
    for inst_id, inst in content.instruments.items():
        params = _params(content, inst_id)
        for flag in inst.file.flags:
            yield flag.when, params
        yield from ((s.gate, params) for s in inst.file.scores if s.gate is not None)
    for item in content.form.items.values():
        if item.condition is not None and item.id in columns:
            yield item.condition, _params(content, item.instrument)


def _thresholds(
    content: Content, columns: Mapping[str, Column], scores: Mapping[str, CompiledScore]
) -> dict[str, list[float]]:
    """Per fact: every valid value at, one below and one above a compared number."""
    found: dict[str, set[float]] = {}
    for cond, params in _all_conditions(content, columns):
        for test in _leaves(cond):
            for op in ("gte", "gt", "lte", "lt"):
                operand = test.operand(op)
                if operand is not None:
                    value = (
                        params[operand.param]
                        if isinstance(operand, ParamRef)
                        else operand
                    )
                    found.setdefault(test.fact, set()).update(
                        value + s for s in (-1, 0, 1)
                    )
    return {
        fact: sorted(v for v in values if _valid(fact, v, columns, scores))
        for fact, values in found.items()
        if fact in columns or fact in scores
    }


def _valid(
    fact: str,
    value: float,
    columns: Mapping[str, Column],
    scores: Mapping[str, CompiledScore],
) -> bool:
    """Whether a fact (or a computed score) can hold a value."""
    if fact in scores:
        return 0 <= value <= scores[fact].score.maximum
    spec = columns[fact].spec
    if spec.codes:
        return value in spec.codes
    low = -np.inf if spec.minimum is None else spec.minimum
    high = np.inf if spec.maximum is None else spec.maximum
    return bool(low <= value <= high)


# --- gates as Polars expressions ---------------------------------------------------


_COMPARE: dict[str, Callable[[pl.Expr, Any], pl.Expr]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}


class _Conditions:
    """Display conditions compiled to Polars expressions (Kleene: null is unknown)."""

    def __init__(self, content: Content, columns: Mapping[str, Column]) -> None:
        self.content, self.columns = content, columns

    def gates(self) -> list[tuple[str, pl.Expr]]:
        """(item, gate) in form order, for every gated fact column."""
        return [
            (item.id, self.expr(item.condition, _params(self.content, item.instrument)))
            for item in self.content.form.items.values()
            if item.condition is not None
            and item.id in self.columns
            and item.id not in _RECORDED_WHEN_HIDDEN
        ]

    def expr(self, cond: Condition, params: Mapping[str, float]) -> pl.Expr:
        """A nullable boolean expression for a condition."""
        if isinstance(cond, FactTest):
            return self._test(cond, params)
        if isinstance(cond, Not):
            return ~self.expr(cond.not_, params)
        if isinstance(cond, Count):
            return self._count(cond, params)
        parts = [
            self.expr(c, params)
            for c in (cond.all if isinstance(cond, All) else cond.any)
        ]
        return reduce(operator.and_ if isinstance(cond, All) else operator.or_, parts)

    def _count(self, cond: Count, params: Mapping[str, float]) -> pl.Expr:
        need = params[cond.gte.param] if isinstance(cond.gte, ParamRef) else cond.gte
        parts = [self.expr(c, params) for c in cond.count]
        trues = pl.sum_horizontal([p.fill_null(False) for p in parts])
        possible = pl.sum_horizontal([p.fill_null(True) for p in parts])
        return pl.when(trues >= need).then(True).when(possible < need).then(False)

    def _test(self, test: FactTest, params: Mapping[str, float]) -> pl.Expr:
        col, op = self.fact(test.fact), test.op
        if op in ("known", "unknown"):
            return col.is_not_null() if op == "known" else col.is_null()
        value = test.operand(op)
        if isinstance(value, ParamRef):
            value = params[value.param]
        if op == "contains":
            return col.list.contains(value)
        if op == "contains_any":
            return reduce(operator.or_, [col.list.contains(v) for v in value])
        if op == "in":
            return col.is_in(value)
        return _COMPARE[op](col, value)

    def fact(self, fact: str) -> pl.Expr:
        """A fact's column, or the expression of an instrument score or flag."""
        if fact in self.columns:
            return pl.col(fact)
        for inst_id, inst in self.content.instruments.items():
            params = _params(self.content, inst_id)
            for flag in inst.file.flags:
                if f"{inst_id}.{flag.id}" == fact:
                    return self.expr(flag.when, params)
            for cs in inst.scores:
                if cs.fact == fact:
                    return self._score(cs, params)
        return pl.lit(None, dtype=pl.Boolean)

    def _score(self, cs: CompiledScore, params: Mapping[str, float]) -> pl.Expr:
        parts = [
            self.fact(item).replace_strict(
                list(t), list(t.values()), default=None, return_dtype=pl.Float64
            )
            for item, t in cs.points
        ]
        total = reduce(operator.add, parts)
        if cs.score.method == "mean":
            total = (total / len(parts)).round(2)
        if cs.score.gate is None:
            return total
        gate = self.expr(cs.score.gate, params)
        return pl.when(gate).then(total).when(~gate).then(pl.lit(cs.score.gate_value))


# --- passes over a chunk ----------------------------------------------------------


def _fallback(d: _Draw, column: Column, empty: str | None) -> Coded | Multi | Arr:
    """Plausible values for a fact the model does not know (e.g. a clinic's own)."""
    spec = column.spec
    if column.dtype == "list[str]":
        codes = [str(c) for c in spec.codes if c != empty]
        return d.multi(dict.fromkeys(codes, 0.05), empty)
    if spec.codes:
        return Coded(tuple(spec.codes), d.rng.integers(0, len(spec.codes), d.n))
    if spec.minimum is None or spec.maximum is None:
        return np.full(d.n, np.nan)
    return spec.minimum + (spec.maximum - spec.minimum) * d.rng.random(d.n)


def _fits(value: Coded | Multi | Arr, column: Column, empty: str | None) -> bool:
    """Whether a modelled column matches the content's column (codes and type)."""
    if isinstance(value, Multi):
        codes = set(column.spec.codes) - {empty}
        return (
            column.dtype == "list[str]"
            and value.empty == empty
            and set(value.codes) <= codes
        )
    if isinstance(value, Coded):
        return column.dtype != "list[str]" and set(value.codes) <= set(
            column.spec.codes
        )
    return column.dtype in ("int", "float") and not column.spec.codes


def _columns(d: _Draw, plan: _Plan) -> Raw:
    """The model's values for the plan's columns, fitted to their ranges."""
    model = _model(d)
    raw: Raw = {}
    for fact, column in plan.columns.items():
        value, empty = model.get(fact), plan.empty.get(fact)
        if value is None or not _fits(value, column, empty):
            value = _fallback(d, column, empty)
        if isinstance(value, np.ndarray):
            value = _clip(value, column, fact in plan.integer)
        raw[fact] = value
    return raw


def _clip(values: Arr, column: Column, integer: bool) -> Arr:
    """Numbers within the column's minimum and maximum (whole where the item is)."""
    low, high = column.spec.minimum, column.spec.maximum
    values = np.clip(
        values, -np.inf if low is None else low, np.inf if high is None else high
    )
    return np.rint(values) if integer else values


def _boundaries(d: _Draw, raw: Raw, plan: _Plan, share: float) -> None:
    """Set a share of rows, per thresholded fact, at or next to a threshold."""
    for fact, values in plan.thresholds.items():
        if not values:
            continue
        rows = d.chance(share)
        chosen = np.asarray(values)[d.rng.integers(0, len(values), d.n)]
        if fact in plan.scores:
            _set_total(raw, plan.scores[fact], rows, chosen)
        else:
            raw[fact] = _assign(raw[fact], rows, chosen)


def _assign(
    current: Coded | Multi | Arr, rows: Arr, values: Arr
) -> Coded | Multi | Arr:
    """``current`` with ``values`` in ``rows``."""
    if isinstance(current, Coded):  # numeric codes: thresholds are only numbers
        hit = values[:, None] == np.asarray(current.codes, dtype=np.float64)[None, :]
        rows = rows & hit.any(axis=1)
        return Coded(current.codes, np.where(rows, hit.argmax(axis=1), current.idx))
    assert isinstance(current, np.ndarray)
    return np.where(rows, values, current)


def _set_total(raw: Raw, cs: CompiledScore, rows: Arr, totals: Arr) -> None:
    """Set a sum or count score's items so that it adds up to ``totals`` in ``rows``."""
    left = totals.astype(np.float64)
    for item, table in cs.points:
        current = raw.get(item)
        if not isinstance(current, Coded):
            return
        pairs = sorted(
            (p, current.codes.index(c)) for c, p in table.items() if c in current.codes
        )
        points = np.array([p for p, _ in pairs])
        pick = np.maximum(np.searchsorted(points, left, side="right") - 1, 0)
        left = left - points[pick]
        chosen = np.array([i for _, i in pairs])[pick]
        raw[item] = Coded(current.codes, np.where(rows, chosen, current.idx))


def _blank(d: _Draw, raw: Raw, plan: _Plan, shares: Shares) -> None:
    """Null a share of each column, and every fact of a few whole rows."""
    count = round(shares.unknown_rows * d.n)
    if shares.unknown_rows > 0 and d.n >= _MIN_UNKNOWN_CHUNK:
        count = max(count, 1)  # the engine's tests need at least one
    unknown = np.zeros(d.n, bool)
    unknown[d.rng.choice(d.n, count, replace=False)] = True
    for fact, value in raw.items():
        default = shares.clinic_missing if fact in plan.clinic else shares.missing
        rows = d.chance(shares.per_column.get(fact, default)) | unknown
        raw[fact] = _null(value, rows)


def _null(value: Coded | Multi | Arr, rows: Arr) -> Coded | Multi | Arr:
    """The column with ``rows`` unknown."""
    if isinstance(value, Coded):
        return Coded(value.codes, np.where(rows, len(value.codes), value.idx))
    if isinstance(value, Multi):
        return Multi(value.codes, np.where(rows, -1, value.bits), value.empty)
    return np.where(rows, np.nan, value)


def _series(name: str, value: Coded | Multi | Arr, dtype: pl.DataType) -> pl.Series:
    """A Polars column from a raw column."""
    if isinstance(value, Coded):
        return pl.Series(name, [*value.codes, None], dtype=dtype).gather(value.idx)
    if isinstance(value, Multi):  # one list per bit pattern that occurs
        shifted = value.bits + 1  # 0: unknown
        keys = np.flatnonzero(np.bincount(shifted))
        lookup = np.zeros(keys[-1] + 1 if len(keys) else 1, np.int64)
        lookup[keys] = np.arange(len(keys))
        lists = [_decode(value, int(k) - 1) for k in keys]
        return pl.Series(name, lists, dtype=dtype).gather(lookup[shifted])
    return pl.Series(name, value, dtype=dtype, nan_to_null=True)


def _decode(value: Multi, key: int) -> list[str] | None:
    """The codes of one bit pattern (``None`` for unknown)."""
    if key < 0:
        return None
    chosen = [c for j, c in enumerate(value.codes) if key >> j & 1]
    return chosen or ([value.empty] if value.empty else None)


def _chunk(
    plan: _Plan, start: int, n: int, seed: int, profile: Profile, shares: Shares
) -> pl.DataFrame:
    """Rows ``start`` to ``start + n`` of the population."""
    d = _Draw(np.random.default_rng([seed, start]), n, profile)
    raw = _columns(d, plan)
    _boundaries(d, raw, plan, shares.boundary_rows)
    _blank(d, raw, plan, shares)
    ids = (
        pl.int_range(start + 1, start + n + 1, eager=True).cast(pl.String).str.zfill(9)
    )
    frame = pl.DataFrame(
        [("p" + ids).alias(PERSON)]
        + [_series(f, raw[f], _DTYPES[c.dtype]) for f, c in plan.columns.items()]
    )
    gated = frame.lazy()
    for fact, gate in plan.gates:
        gated = gated.with_columns(
            pl.when(gate.fill_null(True)).then(pl.col(fact)).alias(fact)
        )
    return gated.collect()


# --- public API -------------------------------------------------------------------


def population_schema(content: Content) -> dict[str, pl.DataType]:
    """The Polars schema of a synthetic facts table.

    Args:
        content: the loaded content.

    Returns:
        ``person_id`` and every required fact column, with its type.
    """
    cols = fact_columns(content)
    return {PERSON: pl.String()} | {
        f: _DTYPES[c.dtype] for f, c in cols.items() if c.required
    }


def synthesize(
    content: Content,
    people: int,
    *,
    seed: int = 0,
    chunk: int = 1_000_000,
    profile: Profile = "referred",
    shares: Shares | None = None,
) -> Iterator[pl.DataFrame]:
    """Generate a synthetic population, chunk by chunk.

    Args:
        content: the loaded content (columns, codes, gates and thresholds).
        people: how many rows in all.
        seed: the same seed and chunk size give the same table.
        chunk: rows per yielded frame.
        profile: ``referred`` (people coming to a ketamine clinic) or ``general``.
        shares: missing values, all-unknown rows and threshold rows.

    Returns:
        An iterator of frames with unique ``person_id`` across chunks.

    Raises:
        ValueError: a negative size or seed, a chunk below 1, or an unknown profile.
    """
    if min(people, seed) < 0 or chunk < 1 or profile not in PROFILES:
        raise ValueError(f"need people, seed >= 0, chunk >= 1, a profile in {PROFILES}")
    plan, mix = _plan(content), shares or Shares()
    return (
        _chunk(plan, start, min(chunk, people - start), seed, profile, mix)
        for start in range(0, people, chunk)
    )


def write_population(
    content: Content,
    people: int,
    path: Path,
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    chunk: int = 1_000_000,
    profile: Profile = "referred",
    shares: Shares | None = None,
) -> int:
    """Write a synthetic population to Parquet or CSV, all or nothing.

    The table is written to a hidden temporary file in the same folder and renamed
    to ``path`` only when complete; on any error the temporary file is removed.

    Args:
        content: the loaded content.
        people: how many rows.
        path: the target, ending ``.parquet`` or ``.csv`` (lists joined with ``|``).
        seed: the random seed.
        progress: called with the number of rows generated so far, after each chunk.
        chunk: rows per chunk (memory use follows it).
        profile: ``referred`` or ``general``.
        shares: missing values, all-unknown rows and threshold rows.

    Returns:
        The number of rows written.

    Raises:
        ValueError: the suffix is neither ``.parquet`` nor ``.csv``.
    """
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"{path}: write .parquet or .csv")
    frames = synthesize(
        content, people, seed=seed, chunk=chunk, profile=profile, shares=shares
    )
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".part"
    )
    os.close(handle)
    try:
        _sink(
            _reported(frames, progress), population_schema(content), Path(name), suffix
        )
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return people


def _reported(
    frames: Iterator[pl.DataFrame], progress: Callable[[int], None] | None
) -> Iterator[pl.DataFrame]:
    """The frames, calling ``progress`` with the running row count after each."""
    done = 0
    for frame in frames:
        yield frame
        done += frame.height
        if progress is not None:
            progress(done)


def _sink(
    frames: Iterator[pl.DataFrame],
    cols: dict[str, pl.DataType],
    target: Path,
    suffix: str,
) -> None:
    """Stream frames into one Parquet or CSV file."""
    lazy = frames_source(frames, cols)
    if suffix == ".parquet":
        # Codes as categorical (dictionary) columns: read and compared faster than
        # plain strings (``read_facts`` keeps them so).
        coded: dict[Any, PolarsDataType] = {
            name: pl.List(pl.Categorical())
            if isinstance(dtype, pl.List)
            else pl.Categorical()
            for name, dtype in cols.items()
            if name != PERSON and (dtype == pl.String or isinstance(dtype, pl.List))
        }
        lazy = lazy.cast(coded)
    write_table(lazy, target, csv=suffix == ".csv")
