"""ConText on the University of Pittsburgh NegEx/ConText test kit.

2,375 sentences from de-identified clinical reports, each with a condition and its gold
negation, temporality and experiencer (tests/fixtures/context-kit). Each sentence is one
Doc, the condition its one target; the rules of :mod:`.context` label it, and the labels
are scored against the gold with the label as the positive class.
``python -m ketascreen.nlp.context_kit KIT_FILE [--stock] [--raw] [--errors]`` prints
the figures (``--stock`` scores plain medspaCy).
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ketascreen.nlp.context import add_context, register_attributes

with warnings.catch_warnings():
    # spaCy 3.7 imports a click helper that click 8.2 deprecates.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import spacy
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = ["KitResult", "Scores", "collapse_spaces", "score_context_kit"]


#: Kit label -> (column, gold values counted as positive, span attributes predicted).
KIT_LABELS: dict[str, tuple[int, frozenset[str], tuple[str, ...]]] = {
    "negated": (4, frozenset({"Negated"}), ("is_negated",)),
    "historical": (5, frozenset({"Historical"}), ("is_historical",)),
    # The kit calls hypothetical temporality "Not particular".
    "hypothetical": (5, frozenset({"Not particular"}), ("is_hypothetical",)),
    "experiencer": (
        6,
        frozenset({"Other", "Family member"}),
        ("is_family", "is_other_experiencer"),
    ),
}


@dataclass
class Scores:
    """Counts for one label, the label being the positive class."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 0 when there are no positives."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, gold: bool, predicted: bool) -> None:
        """Count one example."""
        self.tp += gold and predicted
        self.fp += predicted and not gold
        self.fn += gold and not predicted


@dataclass
class KitResult:
    """What scoring the kit found.

    Args:
        scores: precision, recall and F1 per kit label.
        rows: rows scored.
        partial: rows whose condition runs past the sentence (a sentence-splitting
            slip in the kit); the longest part inside the sentence is the target.
        seconds: time spent making Docs and running ConText.
        errors: per label, the (row, condition, sentence, gold) of each mistake.
    """

    scores: dict[str, Scores]
    rows: int = 0
    partial: list[int] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[str, list[tuple[int, str, str, bool]]] = field(default_factory=dict)


def read_kit(path: Path) -> Iterator[list[str]]:
    """Rows: line no., blank, condition, sentence, negation, temporality, experiencer."""
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = [col.strip() for col in line.split("\t")]
        if len(cols) >= 7 and cols[0].isdigit():
            yield cols


def locate(sentence: str, condition: str) -> tuple[tuple[int, int], bool] | None:
    """Where ``condition`` is in ``sentence``, ignoring case and spacing.

    The kit writes the condition in capitals within the sentence, so when the words
    occur more than once the capitalised occurrence wins. If the whole condition is
    not there, the longest run of its words that is stands in for it.

    Returns:
        Character offsets and whether the whole condition was found; ``None`` if no
        word of it is in the sentence.
    """
    words = condition.split()
    for size in range(len(words), 0, -1):
        for first in range(len(words) - size + 1):
            part = r"\s+".join(map(re.escape, words[first : first + size]))
            found = list(re.finditer(part, sentence, re.IGNORECASE))
            if found:
                best = next((m for m in found if m.group().isupper()), found[0])
                return (best.start(), best.end()), size == len(words)
    return None


_BLANKS = re.compile(r"[ \t\u00a0]+")
_BREAKS = re.compile(r" ?\n ?")
_PARAGRAPHS = re.compile(r"\n{3,}")


def collapse_spaces(text: str) -> str:
    """Tidy whitespace before tokenising a note.

    Runs of spaces and tabs become one space, spaces next to a line break go, and
    three or more line breaks become two. spaCy makes a token of each extra space,
    which splits multi-word triggers ("negative  for") and uses up ``max_scope``, and
    the "SI: no" rules expect a line break written as one or two "\\n". Offsets
    change, so map them back if the original text's positions matter.
    """
    text = _BLANKS.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _PARAGRAPHS.sub("\n\n", _BREAKS.sub("\n", text))


def make_target_doc(nlp: Language, sentence: str, offsets: tuple[int, int]) -> Doc:
    """A one-sentence Doc whose only entity is a ``TARGET`` at ``offsets``."""
    doc = nlp.make_doc(sentence)
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0
    span = doc.char_span(*offsets, label="TARGET", alignment_mode="expand")
    if span is not None:
        doc.ents = [span]
    return doc


def score_context_kit(
    path: Path, *, stock: bool = False, collapse: bool = True
) -> KitResult:
    """Score ConText on the NegEx/ConText test kit, one sentence per Doc.

    Args:
        path: ``rsAnnotations-1-120-random.txt``.
        stock: score plain medspaCy (its ``medspacy_context`` with default rules).
        collapse: tidy each sentence's whitespace first (:func:`collapse_spaces`).

    Returns:
        Precision, recall and F1 per kit label, and the time taken.
    """
    nlp = spacy.blank("en")
    register_attributes()
    component = nlp.add_pipe("medspacy_context") if stock else add_context(nlp)
    result = KitResult(scores={label: Scores() for label in KIT_LABELS})
    result.errors = {label: [] for label in KIT_LABELS}
    for cols in read_kit(path):
        row, condition, sentence = int(cols[0]), cols[2], cols[3]
        if collapse:
            sentence = collapse_spaces(sentence)
        found = locate(sentence, condition)
        if found is None:
            continue
        result.rows += 1
        if not found[1]:
            result.partial.append(row)
        start = time.perf_counter()
        doc = component(make_target_doc(nlp, sentence, found[0]))
        result.seconds += time.perf_counter() - start
        for label, (col, positive, attrs) in KIT_LABELS.items():
            gold = cols[col] in positive
            predicted = any(getattr(doc.ents[0]._, attr) for attr in attrs)
            result.scores[label].add(gold, predicted)
            if gold != predicted:
                result.errors[label].append((row, condition, sentence, gold))
    return result


def format_result(result: KitResult, title: str = "ketascreen rules") -> str:
    """A small table of the figures, for CI logs."""
    lines = [
        f"ConText on the NegEx/ConText test kit, {title}: {result.rows} sentences "
        f"({len(result.partial)} with the condition cut by the sentence end)",
        f"{'label':<13} {'prec':>6} {'recall':>6} {'F1':>6} {'tp':>5} {'fp':>5} {'fn':>5}",
    ]
    for label, s in result.scores.items():
        lines.append(
            f"{label:<13} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} "
            f"{s.tp:5d} {s.fp:5d} {s.fn:5d}"
        )
    ms = 1e6 * result.seconds / max(result.rows, 1)
    lines.append(f"time (make Doc + ConText): {ms:.0f} ms per 1,000 sentences")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    """Score the kit file named on the command line.

    ``--stock`` scores plain medspaCy, ``--raw`` leaves the kit's whitespace as it
    is, and ``--errors`` lists each mistake.
    """
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        sys.stderr.write(
            "usage: python -m ketascreen.nlp.context_kit [--stock] [--raw] [--errors] KIT\n"
        )
        return 2
    stock, raw = "--stock" in argv, "--raw" in argv
    result = score_context_kit(Path(args[0]), stock=stock, collapse=not raw)
    title = "stock medspaCy" if stock else "ketascreen rules"
    sys.stdout.write(format_result(result, title + (", raw whitespace" if raw else "")))
    if "--errors" in argv:
        for label, errors in result.errors.items():
            for row, condition, sentence, gold in errors:
                kind = "missed" if gold else "false"
                sys.stdout.write(f"{label}\t{kind}\t{row}\t{condition}\t{sentence}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
