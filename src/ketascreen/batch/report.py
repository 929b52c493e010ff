"""The batch summary as a Rich table and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ketascreen.batch.run import Summary

TOP_UNKNOWN = 10


def summary_tables(summary: Summary) -> list[Table]:
    """Counts per disposition, per domain, and the facts most often unknown."""
    out = []
    for title, counts in (
        ("Disposition", summary.dispositions),
        ("Flagged domain", summary.domains),
        ("Unknown most often (answers that mattered)", _top(summary.unknown_facts)),
        ("Record codes not used (code: reason)", _top(summary.not_used)),
    ):
        if not counts:
            continue
        table = Table(title=title)
        table.add_column(title.split(" (")[0])
        table.add_column("people", justify="right")
        table.add_column("share", justify="right")
        for key, value in counts.items():
            share = value / summary.people if summary.people else 0.0
            table.add_row(key, f"{value:,}", f"{share:.1%}")
        out.append(table)
    return out


def _top(counts: dict[str, int]) -> dict[str, int]:
    return dict(list(counts.items())[:TOP_UNKNOWN])


def save_chart(summary: Summary, path: Path) -> None:
    """A PNG with two bar charts: people per disposition and per flagged domain."""
    import matplotlib

    matplotlib.use("Agg")  # no screen, no network: render to a file
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, (title, counts) in zip(
        axes,
        (
            ("People per disposition", summary.dispositions),
            ("People per flagged domain", summary.domains),
        ),
        strict=True,
    ):
        labels = [k.replace("_", " ") for k in counts][::-1]
        ax.barh(labels, list(counts.values())[::-1], color="#3b6ea5")
        ax.set_title(title)
        ax.set_xlabel("people")
    fig.suptitle(f"ketascreen batch: {summary.people:,} people (a clinician decides)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
