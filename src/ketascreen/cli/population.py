"""Whole populations: ``batch`` and ``synth``."""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ketascreen.cli.common import (
    InstrumentOpt,
    RulesetOpt,
    checked,
    err,
    fail,
    load_content,
    out,
)
from ketascreen.errors import InputError, Problem
from ketascreen.files import input_file, output_file


class Engine(StrEnum):
    """Batch engines."""

    polars = "polars"
    spark = "spark"


def batch(
    source: Annotated[Path, typer.Argument(help="Facts table: .parquet or .csv.")],
    target: Annotated[Path, typer.Argument(help="Result table: .parquet or .csv.")],
    engine: Annotated[
        Engine, typer.Option(help="polars (one machine) or spark.")
    ] = Engine.polars,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL (default local[2]).")
    ] = None,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """Screen a whole population: one row per person in, one row per person out."""
    from rich.progress import Progress

    from ketascreen.batch.report import save_chart, summary_tables
    from ketascreen.batch.run import run_batch, run_spark

    suffixes = (".parquet", ".csv") if engine == Engine.polars else ()
    checked(lambda: input_file(str(source), folder_ok=True), "Cannot read the table")
    checked(
        lambda: output_file(target, suffixes, result_folder_ok=True),
        "Cannot write the result",
    )
    content = load_content(ruleset, instrument)
    if engine == Engine.spark and importlib.util.find_spec("pyspark") is None:
        hint = "needs the spark extra: pip install 'ketascreen[spark]' (and Java 17+)"
        fail([Problem("--engine spark", hint)], "Spark is not installed")
    try:
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("Screening", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if engine == Engine.spark:
                summary = run_spark(source, target, content, master=spark_master)
            else:
                summary = run_batch(source, target, content, progress=advance)
    except InputError as exc:
        fail(exc.problems, "The facts table cannot be screened; nothing was written:")
    for table in summary_tables(summary):
        out.print(table)
    chart = target.with_name(target.stem + ".summary.png")
    save_chart(summary, chart)
    out.print(f"{summary.people:,} people screened; result {target}; chart {chart}")


def synth(
    target: Annotated[Path, typer.Argument(help="Where to write: .parquet or .csv.")],
    people: Annotated[int, typer.Option(min=1, help="How many people.")] = 100_000,
    seed: Annotated[
        int, typer.Option(help="Random seed (same seed, same people).")
    ] = 0,
    ruleset: RulesetOpt = None,
    instrument: InstrumentOpt = None,
) -> None:
    """Write a synthetic population (facts table) for demos, tests and benchmarks."""
    from rich.progress import Progress

    from ketascreen.batch.synth import write_population

    checked(lambda: output_file(target, (".parquet", ".csv")), "Cannot write there")
    content = load_content(ruleset, instrument)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("Generating", total=people)
        written = write_population(
            content,
            people,
            target,
            seed=seed,
            progress=lambda n: bar.update(task, completed=n),
        )
    out.print(f"{written:,} synthetic people written to {target}")
