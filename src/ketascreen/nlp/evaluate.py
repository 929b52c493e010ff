"""Measure the note scanner on a labelled corpus.

What is scored is what a note *reveals*: the domains with a finding that the facts
support (not the "could not be judged" findings every partial screening has) and the
disposition those findings alone give.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.types import SEVERITY, Disposition, Level, disposition_for

INCOMPLETE_SUFFIX = ".incomplete"


@dataclass(frozen=True)
class Found:
    """What a screening found, leaving out what it could not judge.

    Args:
        disposition: the most severe finding's disposition (``no_concerns_found`` if none).
        domains: domains with a finding above information level, sorted.
    """

    disposition: Disposition
    domains: tuple[str, ...]


def found(result: ScreeningResult) -> Found:
    """The disposition and domains a result's judged findings give."""
    disposition = Disposition.no_concerns_found
    domains: set[str] = set()
    for finding in result.findings:
        if finding.rule_id.endswith(INCOMPLETE_SUFFIX):
            continue
        if SEVERITY[finding.level] > SEVERITY[disposition]:
            disposition = disposition_for(finding.level)
        if finding.level != Level.info:
            domains.add(finding.domain)
    return Found(disposition, tuple(sorted(domains)))


# ---- scoring a labelled corpus ---------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """One corpus case: what was expected and what the scanner gave."""

    id: str
    expected: Found
    got: Found


@dataclass(frozen=True)
class DomainScore:
    """Precision, recall and F1 of one domain over a corpus."""

    domain: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class CorpusScore:
    """A whole corpus: per-domain scores, disposition accuracy, missed suicide risk."""

    cases: tuple[CaseResult, ...]
    domains: tuple[DomainScore, ...]

    @property
    def disposition_accuracy(self) -> float:
        right = sum(c.expected.disposition == c.got.disposition for c in self.cases)
        return right / len(self.cases) if self.cases else 1.0

    @property
    def missed_suicide_risk(self) -> tuple[str, ...]:
        return tuple(
            c.id
            for c in self.cases
            if "suicide_risk" in c.expected.domains
            and "suicide_risk" not in c.got.domains
        )


def evaluate_corpus(path: Path) -> CorpusScore:
    """Screen every case of a corpus file from its text alone and score it."""
    from ketascreen.nlp.merge import screen_with_note

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    when = _as_date(data["screening_date"])
    results: list[CaseResult] = []
    for case in data["cases"]:
        expect = case["expect"]
        expected = Found(
            Disposition(expect["disposition"]), tuple(sorted(expect["domains"]))
        )
        got = found(screen_with_note(case["text"], screening_date=when).result)
        results.append(CaseResult(str(case["id"]), expected, got))
    names = sorted({d for c in results for d in (*c.expected.domains, *c.got.domains)})
    scores = tuple(
        DomainScore(
            name,
            tp=sum(
                name in c.expected.domains and name in c.got.domains for c in results
            ),
            fp=sum(
                name not in c.expected.domains and name in c.got.domains
                for c in results
            ),
            fn=sum(
                name in c.expected.domains and name not in c.got.domains
                for c in results
            ),
        )
        for name in names
    )
    return CorpusScore(tuple(results), scores)


def format_score(name: str, score: CorpusScore) -> str:
    """A plain-text table of a corpus score."""
    lines = [
        f"{name}: {len(score.cases)} notes",
        f"{'domain':24} {'n':>4} {'precision':>9} {'recall':>7} {'F1':>6}",
    ]
    for d in score.domains:
        lines.append(
            f"{d.domain:24} {d.tp + d.fn:>4} {d.precision:>9.3f} {d.recall:>7.3f} {d.f1:>6.3f}"
        )
    lines.append(f"disposition accuracy: {score.disposition_accuracy:.3f}")
    missed = score.missed_suicide_risk
    lines.append(
        f"missed suicide-risk notes: {len(missed)}{' ' + ', '.join(missed) if missed else ''}"
    )
    return "\n".join(lines)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def main(argv: list[str] | None = None) -> int:
    """``python -m ketascreen.nlp.evaluate CORPUS.yaml...`` prints the scores."""
    parser = argparse.ArgumentParser(
        prog="python -m ketascreen.nlp.evaluate",
        description="Score the note scanner on labelled corpus files.",
    )
    parser.add_argument("corpus", nargs="+", type=Path)
    parser.add_argument("--errors", action="store_true", help="list every wrong case")
    args = parser.parse_args(argv)
    for path in args.corpus:
        score = evaluate_corpus(path)
        print(format_score(path.name, score))  # noqa: T201 - a command's output
        if args.errors:
            for c in score.cases:
                if c.expected != c.got:
                    print(  # noqa: T201
                        f"  {c.id}: expected {c.expected.disposition.value} "
                        f"{list(c.expected.domains)}, got {c.got.disposition.value} "
                        f"{list(c.got.domains)}"
                    )
        print()  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
