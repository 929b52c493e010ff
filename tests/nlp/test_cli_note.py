"""``ketascreen screen --note``, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = "Pt denies SI. Hx bipolar I, stable on lithium x 3 yrs. BP 132/84."
FINDING_KEYS = {
    "rule_id",
    "domain",
    "level",
    "patient_message",
    "clinician_rationale",
    "evidence",
    "references",
}


def cli(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ketascreen", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_the_issue_example_gives_an_evidence_carrying_result() -> None:
    done = cli(
        "screen",
        "--note",
        "-",
        "--format",
        "json",
        "--date",
        "2026-06-15",
        stdin=EXAMPLE.encode(),
    )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["disposition"] == "needs_specialist_review"
    (bipolar,) = [
        f for f in result["findings"] if f["rule_id"] == "mood.bipolar_stable"
    ]
    assert set(bipolar) >= FINDING_KEYS
    assert {e["source"] for e in bipolar["evidence"]} == {"note"}
    facts = {f["item"]: f for f in result["note"]["facts"]}
    si = facts["suicidal_thoughts_reported"]
    assert si["value"] == "no"
    (evidence,) = si["evidence"]
    assert evidence["sentence"] == "Pt denies SI."
    assert EXAMPLE[evidence["start"] : evidence["end"]] == "SI"
    assert evidence["modifiers"] == [
        {"category": "NEGATED_EXISTENCE", "text": "denies"}
    ]
    assert facts["bp_systolic"]["value"] == 132
    # no suicide-risk signal in this note: no crisis block
    assert result["crisis"] is None


def test_a_note_with_answers_flags_disagreement(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"pregnant": "no", "sex_at_birth": "female"}))
    done = cli(
        "screen",
        "--answers",
        str(answers),
        "--note",
        "-",
        "--format",
        "json",
        stdin=b"Pt is 12 weeks pregnant.",
    )
    assert done.returncode == 0, done.stderr.decode()
    note = json.loads(done.stdout)["note"]
    (conflict,) = note["conflicts"]
    assert conflict["item"] == "pregnant"
    assert conflict["needs_review"] is True
    assert {v["source"] for v in conflict["values"]} == {"answer", "note"}


def test_suicide_risk_in_a_note_brings_crisis_help_first() -> None:
    done = cli(
        "screen",
        "--note",
        "-",
        "--format",
        "json",
        stdin=b"Pt reports SI with a plan to overdose this weekend.",
    )
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert result["disposition"] == "urgent_safety"
    assert result["crisis"] is not None
    assert result["findings"][0]["domain"] == "suicide_risk"


def test_the_patient_summary_does_not_quote_the_note() -> None:
    note = "Pt disclosed she tried to overdose 3 weeks ago. Mother has schizophrenia."
    done = cli("screen", "--note", "-", "--format", "markdown", stdin=note.encode())
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert "988" in text  # crisis help is there
    for words in ("tried to overdose", "schizophrenia", "Mother", "disclosed"):
        assert words not in text
    clinician = cli(
        "screen",
        "--note",
        "-",
        "--format",
        "markdown",
        "--audience",
        "clinician",
        stdin=note.encode(),
    ).stdout.decode()
    assert "## From the note" in clinician
    assert "tried to overdose" in clinician


@pytest.mark.parametrize(
    ("stdin", "env", "message"),
    [
        (b"", {}, "is empty"),
        (b"   \n ", {}, "is empty"),
        (b"\x00\x01\x02binary\x00", {}, "binary"),
        (b"Pt denies SI \xff", {}, "not UTF-8"),
        (
            b"Pt denies SI. " * 20,
            {"KETASCREEN_NOTE_MAX_BYTES": "100"},
            "the limit is 100",
        ),
    ],
)
def test_bad_notes_exit_2_naming_the_problem(
    stdin: bytes, env: dict[str, str], message: str
) -> None:
    done = cli("screen", "--note", "-", "--format", "json", stdin=stdin, env=env)
    assert done.returncode == 2
    assert done.stdout == b""
    err = done.stderr.decode()
    assert "note" in err
    assert message in err
    assert "Traceback" not in err


def test_a_missing_note_file_exits_2(tmp_path: Path) -> None:
    done = cli("screen", "--note", str(tmp_path / "nope.txt"))
    assert done.returncode == 2
    assert "cannot be read" in done.stderr.decode()


def test_nothing_to_screen_and_two_standard_inputs_exit_2() -> None:
    assert cli("screen").returncode == 2
    both = cli("screen", "--answers", "-", "--note", "-", stdin=b"{}")
    assert both.returncode == 2
    assert "only one" in both.stderr.decode()
