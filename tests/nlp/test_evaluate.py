"""The note scanner on the labelled corpus: figures printed, targets kept as floors.

Targets (issue 4) on the development corpus: disposition accuracy >= 95 %, every
domain recall >= 95 % and precision >= 90 %, no missed suicide-risk note. The held-out
corpus was written apart from the scanner and is not used to tune it; its figures are
printed, with floors that only catch a regression, and it must miss no suicide risk.
The probe corpus was written later, without reading the scanner, as a second tuning
set; its figures are printed with floors, and it must miss no suicide risk.
"""

from __future__ import annotations

import pytest

from ketascreen.nlp.evaluate import CorpusScore, evaluate_corpus, format_score
from tests.nlp.corpus_tools import DEV, HELDOUT, PROBE


@pytest.fixture(scope="module")
def dev() -> CorpusScore:
    return evaluate_corpus(DEV)


@pytest.fixture(scope="module")
def heldout() -> CorpusScore:
    return evaluate_corpus(HELDOUT)


def test_development_corpus_meets_the_targets(
    dev: CorpusScore, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print("\n" + format_score("note scanner, development corpus", dev))  # noqa: T201
    assert dev.missed_suicide_risk == ()
    assert dev.disposition_accuracy >= 0.95
    for domain in dev.domains:
        assert domain.recall >= 0.95, domain
        assert domain.precision >= 0.90, domain


def test_heldout_corpus_misses_no_suicide_risk(
    heldout: CorpusScore, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print("\n" + format_score("note scanner, held-out corpus", heldout))  # noqa: T201
    assert heldout.missed_suicide_risk == ()
    assert heldout.disposition_accuracy >= 0.70


def test_probe_corpus_keeps_its_floors(capsys: pytest.CaptureFixture[str]) -> None:
    probe = evaluate_corpus(PROBE)
    with capsys.disabled():
        print("\n" + format_score("note scanner, probe corpus", probe))  # noqa: T201
    suicide = next(d for d in probe.domains if d.domain == "suicide_risk")
    assert probe.missed_suicide_risk == ()
    assert suicide.precision >= 0.90
    assert probe.disposition_accuracy >= 0.75
