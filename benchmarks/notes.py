"""Benchmark: notes per second through the full note scanner, against tokenization.

Not a test. Builds ~1 KB notes from the invented texts of the development corpus
(tests/nlp/corpus/dev.yaml), shuffled and joined with section headings, then times in
one process (one core), on the same notes:

- the floor: spaCy tokenization alone (the blank English tokenizer the scanner uses);
- the full scanner: ``ketascreen.nlp.scanner.scan`` (sentences, concepts, sections,
  ConText, values, times);
- the full screening: ``screen_with_note`` (scan, check and merge answers, screen).

Last line: JSON with ``notes_per_s`` (full scanner), ``screen_notes_per_s``,
``tokenizer_notes_per_s`` and ``ratio_vs_tokenizer``. Target (issue 4): >= 500 notes/s
per core. ``--quick`` finishes in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import yaml

CORPUS = (
    Path(__file__).resolve().parent.parent / "tests" / "nlp" / "corpus" / "dev.yaml"
)
HEADINGS = ["HPI:", "Psych Hx:", "PMH:", "Social Hx:", "Meds:", "Assessment:", ""]
TODAY = date(2026, 6, 15)


def make_notes(count: int, size: int, seed: int) -> list[str]:
    """``count`` notes of about ``size`` characters from the corpus texts."""
    texts = [
        c["text"] for c in yaml.safe_load(CORPUS.read_text(encoding="utf-8"))["cases"]
    ]
    rng = random.Random(seed)
    notes = []
    for _ in range(count):
        parts: list[str] = []
        length = 0
        while length < size:
            text = rng.choice(texts)
            heading = rng.choice(HEADINGS)
            part = f"{heading} {text}".strip()
            parts.append(part)
            length += len(part) + 1
        notes.append("\n".join(parts)[: size + 200])
    return notes


def rate(run: Callable[[str], object], notes: list[str], seconds: float) -> float:
    """Notes per second of ``run`` over the notes, repeated for at least ``seconds``."""
    done = 0
    start = time.perf_counter()
    while True:
        for note in notes:
            run(note)
        done += len(notes)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=2000, help="distinct notes")
    parser.add_argument("--size", type=int, default=1000, help="characters per note")
    parser.add_argument("--seconds", type=float, default=20.0, help="time per phase")
    parser.add_argument("--quick", action="store_true", help="300 notes, 4 s a phase")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.notes, args.seconds = 300, 4.0

    from ketascreen.nlp.merge import screen_with_note
    from ketascreen.nlp.pipeline import build_pipeline
    from ketascreen.nlp.scanner import scan

    notes = make_notes(args.notes, args.size, args.seed)
    mean = sum(len(n.encode()) for n in notes) / len(notes)
    print(f"{len(notes)} notes, mean {mean:.0f} bytes; {args.seconds:g} s per phase")
    nlp = build_pipeline()  # built once, outside the timings
    for note in notes[:20]:  # warm caches (regexes, matchers)
        scan(note, TODAY)
    tokenizer = nlp.tokenizer
    figures = {
        "tokenizer_notes_per_s": rate(tokenizer, notes, args.seconds),
        "notes_per_s": rate(lambda n: scan(n, TODAY), notes, args.seconds),
        "screen_notes_per_s": rate(
            lambda n: screen_with_note(n, screening_date=TODAY), notes, args.seconds
        ),
    }
    for name, value in figures.items():
        print(f"{name:24} {value:10.0f}")
    ratio = figures["tokenizer_notes_per_s"] / figures["notes_per_s"]
    print(
        f"full scanner is {ratio:.1f}x slower than tokenization alone; target >= 500 notes/s"
    )
    result = {k: round(v, 1) for k, v in figures.items()}
    result |= {
        "ratio_vs_tokenizer": round(ratio, 2),
        "mean_note_bytes": round(mean),
        "target_notes_per_s": 500,
        "meets_target": figures["notes_per_s"] >= 500,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
