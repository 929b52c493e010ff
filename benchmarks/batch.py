"""Benchmark: population screening rows per second, Polars vs Spark vs the floor.

Not a test. Writes N synthetic people (default 10 million), then, each in its own
process so peak memory is its own: a bare Parquet scan of the same columns (the
floor), the Polars engine (``ketascreen batch``'s code path), Spark in local[2] on
the first million rows (its start-up and planning, about half a minute, counted in),
and the single-person engine in a loop on a sample. ``--quick`` (under a minute): a
million people, Spark on 10,000 of them, the single-person loop on 2,000. Last line: JSON with
``polars_rows_per_s``, ``spark_rows_per_s``, ``ratio_vs_scan`` and ``peak_rss_mb``.
Targets (issue 6): Polars >= 5 M rows/s on this 2-core machine, within 3x of the scan
floor, peak memory <= 2 GB at 10 M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SAMPLE = 20_000
"""Rows the single-person engine screens in a loop (``--quick``: QUICK_SAMPLE)."""
QUICK_SAMPLE = 2_000
SPARK_ROWS = 1_000_000
"""Rows Spark screens (its fixed start-up and planning cost is reported with them)."""
QUICK_SPARK_ROWS = 10_000


def peak_mb() -> float:
    """Peak resident memory of this process plus its child processes (Spark's JVM), MB.

    Read from /proc (VmHWM), which starts afresh at exec; ``ru_maxrss`` would carry
    the parent's peak over into each phase's process.
    """
    pids = [str(os.getpid())]
    for task in Path("/proc/self/task").iterdir():
        children = (task / "children").read_text(encoding="ascii").split()
        pids += children
    total_kb = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def phase(name: str, data: Path, rows: int, sample: int) -> dict[str, Any]:
    """Run one phase in this process and return its figures."""
    import polars as pl

    from ketascreen.batch.schema import fact_columns
    from ketascreen.screening import get_content

    content = get_content()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if name == "scan":
            names = pl.scan_parquet(data).collect_schema().names()
            pl.scan_parquet(data).select(
                [pl.col(n).null_count() for n in names]
            ).collect(engine="streaming")
        elif name == "polars":
            from ketascreen.batch.run import run_batch

            run_batch(data, Path(tmp) / "out.parquet", content)
        elif name == "spark":
            from ketascreen.batch.run import run_spark

            source = data
            if rows < pl.scan_parquet(data).select(pl.len()).collect().item():
                source = Path(tmp) / "spark_rows.parquet"
                pl.scan_parquet(data).head(rows).sink_parquet(source)
                start = time.perf_counter()
            run_spark(source, Path(tmp) / "out", content)
        else:
            rows = _single(content, data, fact_columns(content), sample)
    seconds = time.perf_counter() - start
    return {
        "phase": name,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss_mb": peak_mb(),
    }


def _single(content: Any, data: Path, columns: dict[str, Any], size: int) -> int:
    """The single-person engine in a loop over a sample (facts already typed)."""
    import polars as pl

    from ketascreen.intake.answers import FactSet
    from ketascreen.rules.engine import evaluate

    today = __import__("datetime").date.today()
    sample = pl.read_parquet(data, n_rows=size).to_dicts()
    for row in sample:
        facts = {
            k: frozenset(v) if isinstance(v, list) else v
            for k, v in row.items()
            if k in columns and v is not None
        }
        evaluate(content, FactSet(facts, {}), today)
    return len(sample)


def run_child(name: str, data: Path, rows: int, sample: int) -> dict[str, Any]:
    """One phase in a fresh process (its own peak memory)."""
    out = subprocess.run(  # noqa: S603 - this script, loopback only
        [
            sys.executable,
            __file__,
            "--phase",
            name,
            "--data",
            str(data),
            "--people",
            str(rows),
            "--sample",
            str(sample),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000_000)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"1 million people; Spark on {QUICK_SPARK_ROWS:,} of them, "
        f"the single-person loop on {QUICK_SAMPLE:,}",
    )
    parser.add_argument(
        "--spark-rows", type=int, default=SPARK_ROWS, help="rows Spark screens"
    )
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sample", type=int, default=SAMPLE, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.data, args.people, args.sample)))
        return
    people = 1_000_000 if args.quick else args.people
    sample = QUICK_SAMPLE if args.quick else SAMPLE
    spark_rows = min(people, QUICK_SPARK_ROWS if args.quick else args.spark_rows)
    from ketascreen.batch.synth import write_population
    from ketascreen.screening import get_content

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "people.parquet"
        start = time.perf_counter()
        write_population(get_content(), people, data, seed=1)
        print(f"synthesised {people:,} people in {time.perf_counter() - start:.1f} s")
        phases = ["scan", "polars", "single"] + ([] if args.no_spark else ["spark"])
        results = {
            name: run_child(
                name, data, spark_rows if name == "spark" else people, sample
            )
            for name in phases
        }
    print(f"{'phase':<10}{'rows':>12}{'seconds':>10}{'rows/s':>14}{'peak MB':>10}")
    for r in results.values():
        print(
            f"{r['phase']:<10}{r['rows']:>12,}{r['seconds']:>10.2f}"
            f"{r['rows_per_s']:>14,.0f}{r['peak_rss_mb']:>10.0f}"
        )
    polars, scan = results["polars"], results["scan"]
    summary = {
        "people": people,
        "polars_rows_per_s": round(polars["rows_per_s"]),
        "spark_rows_per_s": round(results["spark"]["rows_per_s"])
        if "spark" in results
        else None,
        "single_rows_per_s": round(results["single"]["rows_per_s"]),
        "scan_rows_per_s": round(scan["rows_per_s"]),
        "ratio_vs_scan": round(scan["rows_per_s"] / polars["rows_per_s"], 2),
        "peak_rss_mb": round(polars["peak_rss_mb"]),
        "targets": "polars >= 5,000,000 rows/s; ratio_vs_scan <= 3; peak_rss_mb <= 2048",
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
