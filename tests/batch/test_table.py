"""Facts tables: checked before any work starts; output never left half-written."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from tests.batch.population import frame, outcome, reference, rows

from ketascreen.batch.run import run_batch, screen_polars
from ketascreen.batch.schema import PERSON, fact_columns
from ketascreen.batch.table import BatchInputError, read_facts
from ketascreen.rules.loader import Content


def problems(error: pytest.ExceptionInfo[BatchInputError]) -> str:
    """All problems as one text."""
    return "\n".join(str(p) for p in error.value.problems)


class TestRead:
    """Column names and types are checked first."""

    def test_missing_column_lists_expected(
        self, content: Content, tmp_path: Path
    ) -> None:
        """A missing fact column is named, with the expected columns."""
        path = tmp_path / "f.parquet"
        frame(content, rows(content, 3)).drop("bp_systolic").write_parquet(path)
        with pytest.raises(BatchInputError) as err:
            read_facts(path, fact_columns(content))
        text = problems(err)
        assert "bp_systolic: missing column" in text
        assert "expected columns: person_id, age" in text

    def test_misspelled_column(self, content: Content, tmp_path: Path) -> None:
        """An unknown column gets a did-you-mean."""
        path = tmp_path / "f.parquet"
        df = frame(content, rows(content, 3)).rename({"bp_systolic": "bp_sistolic"})
        df.write_parquet(path)
        with pytest.raises(BatchInputError) as err:
            read_facts(path, fact_columns(content))
        assert "bp_sistolic: unknown column; did you mean 'bp_systolic'?" in problems(
            err
        )

    def test_mistyped_column(self, content: Content, tmp_path: Path) -> None:
        """A text column where numbers are expected is named with both types."""
        path = tmp_path / "f.parquet"
        df = frame(content, rows(content, 3)).with_columns(
            pl.col("age").cast(pl.String)
        )
        df.write_parquet(path)
        with pytest.raises(BatchInputError) as err:
            read_facts(path, fact_columns(content))
        assert "age: is String, expected float" in problems(err)

    def test_empty_and_corrupt(self, content: Content, tmp_path: Path) -> None:
        """An empty table and a corrupt Parquet file are refused by name."""
        empty = tmp_path / "empty.parquet"
        frame(content, []).write_parquet(empty)
        with pytest.raises(BatchInputError, match="has no rows"):
            read_facts(empty, fact_columns(content))
        corrupt = tmp_path / "bad.parquet"
        corrupt.write_bytes(b"PAR1 this is not parquet")
        with pytest.raises(BatchInputError, match="cannot be read"):
            read_facts(corrupt, fact_columns(content))

    def test_csv_round_trip_and_bad_cells(
        self, content: Content, tmp_path: Path
    ) -> None:
        """CSV input (lists joined by |) screens like Parquet; a bad cell is flagged."""
        data = rows(content, 40, seed=3)
        df = frame(content, data)
        lists = [n for n, t in df.schema.items() if isinstance(t, pl.List)]
        csv = tmp_path / "f.csv"
        df.with_columns([pl.col(n).list.join("|") for n in lists]).write_csv(csv)
        out = tmp_path / "out.parquet"
        run_batch(csv, out, content)
        got = pl.read_parquet(out).to_dicts()
        for row, result in zip(data, got, strict=True):
            if any(isinstance(row[n], list) and row[n] == [] for n in lists):
                continue  # an empty list and a blank cell are the same in CSV
            assert outcome(result) == reference(content, row)
        text = csv.read_text(encoding="utf-8").splitlines()
        header = text[0].split(",")
        cells = text[1].split(",")
        cells[header.index("age")] = "forty"
        text[1] = ",".join(cells)
        csv.write_text("\n".join(text) + "\n", encoding="utf-8")
        run_batch(csv, out, content)
        first = pl.read_parquet(out).row(0, named=True)
        assert "age: not a float" in first["input_problems"]
        assert first["disposition"] is None


class TestWrite:
    """Output is written to a temporary name and renamed."""

    def test_failure_leaves_no_output(self, content: Content, tmp_path: Path) -> None:
        """A run that fails mid-way leaves no file at the target."""
        source = tmp_path / "f.parquet"
        frame(content, rows(content, 30)).write_parquet(source)
        target = tmp_path / "out.parquet"

        def explode(_done: int, _total: int) -> None:
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError):
            run_batch(source, target, content, chunk_rows=10, progress=explode)
        assert not target.exists()
        assert list(tmp_path.iterdir()) == [source]

    def test_chunks_and_summary(self, content: Content, tmp_path: Path) -> None:
        """Chunked output equals one pass; the summary counts every person."""
        source = tmp_path / "f.parquet"
        frame(content, rows(content, 95)).write_parquet(source)
        one, many = tmp_path / "one.parquet", tmp_path / "many.parquet"
        run_batch(source, one, content)
        summary = run_batch(source, many, content, chunk_rows=10)
        assert pl.read_parquet(one).equals(pl.read_parquet(many))
        assert summary.people == 95
        assert sum(summary.dispositions.values()) == 95
        assert pl.read_parquet(many)[PERSON].to_list() == [f"p{i}" for i in range(95)]

    def test_chunks_with_and_without_problems(
        self, content: Content, tmp_path: Path
    ) -> None:
        """A chunk with no input problem skips listing them; the output is the same.

        Three chunks of ten: only the middle one has a bad value and a bad code, so
        run_batch takes both of its paths; the result equals the lazy screen_polars
        over the whole table, and the summary counts the problem rows.
        """
        data = rows(content, 30, seed=5)
        data[13]["bp_systolic"] = 9999.0
        data[17]["heart_conditions"] = ["high_bp", "made_up"]
        source, target = tmp_path / "f.parquet", tmp_path / "out.parquet"
        frame(content, data).write_parquet(source)
        summary = run_batch(source, target, content, chunk_rows=10)
        got = pl.read_parquet(target)
        whole = screen_polars(read_facts(source, fact_columns(content)), content)
        assert got.equals(whole.collect())
        bad = got.filter(pl.col("input_problems").list.len() > 0)
        assert bad[PERSON].to_list() == ["p13", "p17"]
        assert bad["disposition"].to_list() == [None, None]
        assert summary.input_problems == 2
