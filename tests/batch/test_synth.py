"""The synthetic population: valid, deterministic, realistic, written all or nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ketascreen.batch import synth
from ketascreen.batch.schema import PERSON, fact_columns
from ketascreen.intake.answers import facts_from_answers
from ketascreen.logic.schema import (
    All,
    AnyOf,
    Condition,
    Count,
    FactTest,
    Not,
    ParamRef,
)
from ketascreen.rules.engine import score_facts
from ketascreen.rules.loader import Content
from ketascreen.screening import screen

ROOT = Path(__file__).parents[2]
TODAY = date(2025, 1, 15)
#: The form hides these from men; the table records "no" for them.
RECORDED_WHEN_HIDDEN = {"pregnant", "breastfeeding"}


@pytest.fixture(scope="module")
def sample(content: Content) -> pl.DataFrame:
    """20,000 referred people, made in chunks of 7,000."""
    return pl.concat(synth.synthesize(content, 20_000, seed=7, chunk=7_000))


@pytest.fixture(scope="module")
def large(content: Content) -> pl.DataFrame:
    """50,000 referred people, for prevalences."""
    return next(synth.synthesize(content, 50_000, seed=11))


def answers_of(content: Content, row: dict[str, Any]) -> dict[str, Any]:
    """A table row as answers: nulls dropped, whole-number items as ints."""
    out = {}
    for fact, value in row.items():
        if fact == PERSON or value is None:
            continue
        item = content.form.items.get(fact)
        whole = item is not None and item.integer and isinstance(value, float)
        out[fact] = int(value) if whole else value
    return out


def facts_of(content: Content, row: dict[str, Any]) -> dict[str, Any]:
    """Validated, scored facts of a table row."""
    facts = facts_from_answers(content.form, answers_of(content, row), TODAY)
    return score_facts(content, facts).values


def mean(values: pl.Series) -> float:
    """The mean of the known values (true counts as 1)."""
    return float(values.drop_nulls().cast(pl.Float64).to_numpy().mean())


def leaves(cond: Condition) -> Iterator[FactTest]:
    """Every fact test in a condition."""
    if isinstance(cond, FactTest):
        yield cond
    elif isinstance(cond, Not):
        yield from leaves(cond.not_)
    else:
        children = {All: "all", AnyOf: "any", Count: "count"}[type(cond)]
        for child in getattr(cond, children):
            yield from leaves(child)


class TestValidity:
    """Every value fits its column and passes ketascreen's own validation."""

    def test_columns_and_types(self, content: Content, sample: pl.DataFrame) -> None:
        """person_id, then every required fact column with its declared type."""
        required = {f: c for f, c in fact_columns(content).items() if c.required}
        assert sample.columns == [PERSON, *required]
        assert sample.schema == synth.population_schema(content)
        assert sample.schema["heart_conditions"] == pl.List(pl.String)

    def test_values_within_codes_and_ranges(
        self, content: Content, sample: pl.DataFrame
    ) -> None:
        """Coded values are codes; numbers lie within the item's minimum and maximum."""
        for fact, column in fact_columns(content).items():
            if not column.required:
                continue
            values = sample[fact].drop_nulls()
            spec = column.spec
            if column.dtype == "list[str]":
                assert set(values.explode().unique()) <= set(spec.codes), fact
                assert (values.list.len() >= 1).all(), fact
            elif spec.codes:
                assert set(values.unique()) <= set(spec.codes), fact
            if spec.minimum is not None and spec.maximum is not None:
                assert (values >= spec.minimum).all(), fact
                assert (values <= spec.maximum).all(), fact
            item = content.form.items.get(fact)
            if item is not None and item.integer and column.dtype == "float":
                assert (values == values.round()).all(), fact

    def test_exclusive_code_stands_alone(
        self, content: Content, sample: pl.DataFrame
    ) -> None:
        """ "none" is never combined with another choice."""
        for fact, item in content.form.items.items():
            if item.exclusive_codes and fact in sample.columns:
                for code in item.exclusive_codes:
                    chosen = sample[fact].drop_nulls()
                    with_code = chosen.filter(chosen.list.contains(code))
                    assert (with_code.list.len() == 1).all(), fact

    def test_answers_pass_validation_and_screen(
        self, content: Content, sample: pl.DataFrame
    ) -> None:
        """200 sampled rows are valid answers and screen without error."""
        for row in sample.gather_every(100).iter_rows(named=True):
            result = screen(
                answers_of(content, row), content=content, screening_date=TODAY
            )
            assert result.disposition


class TestGates:
    """Follow-up items are null where their question would not be asked."""

    def test_no_htn_controlled_without_high_bp(self, sample: pl.DataFrame) -> None:
        """htn_controlled is known only when heart_conditions has high_bp or is unknown."""
        answered = sample.filter(pl.col("htn_controlled").is_not_null())
        conditions = answered["heart_conditions"]
        assert len(answered) > 0
        assert (conditions.is_null() | conditions.list.contains("high_bp")).all()

    def test_men_are_never_pregnant(self, sample: pl.DataFrame) -> None:
        """Men say "no" (or nothing) to pregnancy and breastfeeding."""
        men = sample.filter(pl.col("sex_at_birth") == "male")
        for item in RECORDED_WHEN_HIDDEN:
            assert set(men[item].drop_nulls().unique()) == {"no"}
        women = sample.filter(pl.col("sex_at_birth") == "female")
        assert (women["pregnant"] == "yes").sum() > 0

    def test_bipolar_status_only_with_a_diagnosis(self, sample: pl.DataFrame) -> None:
        """bipolar_status is null unless bipolar_dx is "yes" or unknown."""
        known = sample.filter(pl.col("bipolar_status").is_not_null())
        assert len(known) > 0
        assert set(known["bipolar_dx"].unique().to_list()) <= {"yes", None}

    def test_every_display_condition_holds(
        self, content: Content, sample: pl.DataFrame
    ) -> None:
        """For 2,000 rows, no item has a value where the form's show_if is false."""
        gated = [
            item
            for item in content.form.items.values()
            if item.show_if is not None and item.id in sample.columns
        ]
        for row in sample.head(2_000).iter_rows(named=True):
            facts = facts_of(content, row)
            for item in gated:
                if row[item.id] is None or item.visible(facts):
                    continue
                assert item.id in RECORDED_WHEN_HIDDEN, (item.id, row[PERSON])
                assert row[item.id] == "no"


class TestUnknowns:
    """Unknown values and whole unknown rows are present."""

    def test_all_unknown_rows_exist(self, sample: pl.DataFrame) -> None:
        """About 1% of rows (at least one per chunk) have every fact null."""
        facts = sample.drop(PERSON)
        empty = sample.filter(pl.all_horizontal(facts.select(pl.all().is_null())))
        assert 3 <= len(empty) <= 0.02 * len(sample)

    def test_missing_shares(self, sample: pl.DataFrame) -> None:
        """Answers are missing about 8% of the time, clinic measurements more often."""
        assert 0.06 < sample["bipolar_dx"].null_count() / len(sample) < 0.12
        assert 0.22 < sample["bp_systolic"].null_count() / len(sample) < 0.32

    def test_missing_share_is_configurable(self, content: Content) -> None:
        """Shares set per column and for whole rows."""
        shares = synth.Shares(missing=0, per_column={"age": 1.0}, unknown_rows=0)
        frame = next(synth.synthesize(content, 2_000, shares=shares))
        assert frame["age"].null_count() == len(frame)
        assert frame["sex_at_birth"].null_count() == 0


class TestThresholds:
    """Numbers the rules compare with occur exactly, one below and one above."""

    def test_every_parameter_is_reached(
        self, content: Content, sample: pl.DataFrame
    ) -> None:
        """Each always-asked number a rule compares with a parameter hits p-1, p, p+1."""
        checked = 0
        for cr in content.rules:
            for test in leaves(cr.rule.when):
                item = content.form.items.get(test.fact)
                ref = test.operand(test.op)
                if item is None or item.show_if is not None:
                    continue  # follow-ups hit thresholds only where they are asked
                if isinstance(ref, ParamRef):
                    limit = content.parameters[ref.param].value
                    values = set(sample[test.fact].drop_nulls().unique())
                    assert {limit - 1, limit, limit + 1} <= values, test.fact
                    checked += 1
        assert checked >= 5


class TestDeterminism:
    """A seed gives the same table; ids are unique across chunks."""

    def test_same_seed_same_table(self, content: Content) -> None:
        """Two runs with one seed are equal; another seed differs."""
        first = pl.concat(synth.synthesize(content, 3_000, seed=3, chunk=1_000))
        again = pl.concat(synth.synthesize(content, 3_000, seed=3, chunk=1_000))
        other = pl.concat(synth.synthesize(content, 3_000, seed=4, chunk=1_000))
        assert first.equals(again)
        assert not first.equals(other)

    def test_ids_unique_across_chunks(self, sample: pl.DataFrame) -> None:
        """person_id counts up from p000000001 across chunks."""
        ids = sample[PERSON]
        assert ids.n_unique() == len(sample)
        assert ids[0] == "p000000001"
        assert ids[-1] == f"p{len(sample):09d}"

    def test_rejects_bad_arguments(self, content: Content) -> None:
        """An unknown profile or a zero chunk is an error."""
        with pytest.raises(ValueError, match="profile"):
            synth.synthesize(content, 10, profile="elderly")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="chunk"):
            synth.synthesize(content, 10, chunk=0)


class TestRealism:
    """Prevalences and correlations look like people."""

    def test_bipolar_prevalence_matches_its_rate(self, large: pl.DataFrame) -> None:
        """Referred: bipolar_dx "yes" within 1.5 points of its documented rate."""
        known = large["bipolar_dx"].drop_nulls()
        share = mean(known == "yes")
        assert share == pytest.approx(synth.RATES["bipolar_dx"].referred, abs=0.015)

    def test_general_phq9_matches_primary_care(self, content: Content) -> None:
        """General profile: PHQ-9 >= 10 in 7-12%, against 8-10% in primary care."""
        frame = next(synth.synthesize(content, 50_000, seed=2, profile="general"))
        total = frame.select(pl.sum_horizontal(pl.col(r"^phq9_\d$")).alias("t"))
        complete = frame.select(pl.all_horizontal(pl.col(r"^phq9_\d$").is_not_null()))
        share = mean(total.filter(complete.to_series())["t"] >= 10)
        assert 0.07 < share < 0.12

    def test_conditions_go_together(self, large: pl.DataFrame) -> None:
        """High BP raises systolic BP, age raises high BP, item 9 follows the total."""
        bp = large.filter(pl.col("heart_conditions").is_not_null())
        high = bp["heart_conditions"].list.contains("high_bp")
        systolic = bp["bp_systolic"]
        assert mean(systolic.filter(high)) > mean(systolic.filter(~high)) + 10
        older, younger = high.filter(bp["age"] >= 60), high.filter(bp["age"] < 40)
        assert mean(older) > mean(younger) + 0.3
        phq = large.select(
            pl.sum_horizontal(pl.col(r"^phq9_[1-8]$")).alias("rest"), pl.col("phq9_9")
        ).drop_nulls()
        assert phq.select(pl.corr("rest", "phq9_9")).item() > 0.4


class TestDocs:
    """Every prevalence is documented with its value in both places."""

    @pytest.mark.parametrize("where", ["docstring", "docs"])
    def test_every_rate_is_documented(self, where: str) -> None:
        """Each rate's name and its two percentages share a line."""
        text = synth.__doc__ or ""
        if where == "docs":
            text = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")
        lines: dict[str, list[str]] = {}
        for line in text.splitlines():
            lines.setdefault(_first_word(line), []).append(line)
        for name, rate in synth.RATES.items():
            shown = {f"{rate.general * 100:g}%", f"{rate.referred * 100:g}%"}
            found = any(all(v in ln for v in shown) for ln in lines.get(name, []))
            assert found, (name, shown)


def _first_word(line: str) -> str:
    words = re.findall(r"[a-z0-9_]+", line.replace("`", ""))
    return words[0] if words else ""


class TestWrite:
    """Files are written whole, to a temporary name, then renamed."""

    def test_parquet_round_trip(self, content: Content, tmp_path: Path) -> None:
        """The Parquet file holds exactly the generated table."""
        path = tmp_path / "people.parquet"
        seen: list[int] = []
        rows = synth.write_population(
            content, 2_500, path, seed=5, chunk=1_000, progress=seen.append
        )
        expected = pl.concat(synth.synthesize(content, 2_500, seed=5, chunk=1_000))
        assert rows == 2_500
        assert seen == [1_000, 2_000, 2_500]
        assert pl.read_parquet(path).equals(expected)
        assert [p.name for p in tmp_path.iterdir()] == ["people.parquet"]

    def test_csv_joins_lists(self, content: Content, tmp_path: Path) -> None:
        """CSV list columns are codes joined with "|"."""
        path = tmp_path / "people.csv"
        synth.write_population(content, 1_000, path, seed=5)
        table = pl.read_csv(path, infer_schema_length=0)
        joined = table["medication_classes"].drop_nulls()
        assert joined.str.contains(r"\|").any()
        assert len(table) == 1_000

    def test_failure_leaves_no_file(self, content: Content, tmp_path: Path) -> None:
        """An error mid-write leaves neither the target nor a temporary file."""

        def fail(rows: int) -> None:
            raise RuntimeError(f"stopped after {rows}")

        path = tmp_path / "people.parquet"
        with pytest.raises(RuntimeError, match="stopped after 500"):
            synth.write_population(content, 1_500, path, chunk=500, progress=fail)
        assert list(tmp_path.iterdir()) == []

    def test_rejects_other_formats(self, content: Content, tmp_path: Path) -> None:
        """Only .parquet and .csv are written."""
        with pytest.raises(ValueError, match=r"\.parquet or \.csv"):
            synth.write_population(content, 10, tmp_path / "people.json")
