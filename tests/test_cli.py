"""The command line, run as a real process: contract, exit codes, clinic layers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
CONTRACT = {
    "disposition",
    "domains",
    "findings",
    "routes",
    "next_steps",
    "instrument_scores",
    "ruleset_version",
}
FINDING_KEYS = {
    "rule_id",
    "domain",
    "level",
    "patient_message",
    "clinician_rationale",
    "evidence",
    "references",
}


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ketascreen", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


def screen_json(answers: dict[str, Any], *extra: str) -> dict[str, Any]:
    done = cli(
        "screen",
        "--answers",
        "-",
        "--format",
        "json",
        "--date",
        "2026-11-27",
        *extra,
        stdin=json.dumps(answers),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


class TestScreen:
    """ketascreen screen honours the contract in PRODUCT.md."""

    def test_json_contract(self) -> None:
        """The JSON has every contract field, and each finding has its keys."""
        done = cli(
            "screen",
            "--answers",
            str(EXAMPLES / "bp-and-benzo.json"),
            "--format",
            "json",
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert set(result) >= CONTRACT
        assert result["findings"]
        for finding in result["findings"]:
            assert set(finding) >= FINDING_KEYS
            assert finding["references"]

    def test_empty_answers(self) -> None:
        """{} screens (exit 0), lists unknowns and is not no_concerns_found."""
        result = screen_json({})
        assert result["disposition"] != "no_concerns_found"
        assert result["unknowns"]

    def test_urgent_still_exits_zero(self) -> None:
        """A completed screening exits 0 whatever its disposition."""
        result = screen_json({"phq9_9": 3, "asq_3": "yes", "asq_5": "yes"})
        assert result["disposition"] == "urgent_safety"
        assert result["crisis"]["urgent"] is True

    @pytest.mark.parametrize("fmt", ["text", "markdown"])
    def test_patient_text_leads_with_crisis(self, fmt: str) -> None:
        """In text and Markdown, crisis help comes before anything else."""
        done = cli(
            "screen",
            "--answers",
            "-",
            "--format",
            fmt,
            stdin=json.dumps({"phq9_9": 3, "asq_5": "yes"}),
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.index("988") < done.stdout.index("What you can do next")
        assert done.stdout.lstrip("# \n").startswith(
            "If you are thinking about ending your life"
        )

    def test_clinician_view(self) -> None:
        """The clinician view shows rule ids, evidence and citations."""
        done = cli(
            "screen",
            "--answers",
            str(EXAMPLES / "bp-and-benzo.json"),
            "--format",
            "markdown",
            "--audience",
            "clinician",
        )
        assert "cardiovascular.bp_raised_measured" in done.stdout
        assert "evidence:" in done.stdout
        assert "references:" in done.stdout


class TestBadInput:
    """Bad input exits 2 with one line per problem on standard error."""

    def test_bad_answers(self) -> None:
        """Each bad item is named on its own line; nothing is printed on stdout."""
        done = cli(
            "screen",
            "--answers",
            "-",
            "--format",
            "json",
            stdin='{"bp_systolic": 20, "phq9_3": 7, "favourite": 1}',
        )
        assert done.returncode == 2
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        for item in ("bp_systolic:", "phq9_3:", "favourite:"):
            assert any(line.strip().startswith(item) for line in lines), done.stderr

    def test_malformed_json(self) -> None:
        """Malformed JSON names the line and column."""
        done = cli("screen", "--answers", "-", stdin="{nope")
        assert done.returncode == 2
        assert "not valid JSON" in done.stderr
        assert "line 1" in done.stderr

    def test_missing_file(self) -> None:
        """A missing answers file is a clear error, not a traceback."""
        done = cli("screen", "--answers", "/nonexistent/answers.json")
        assert done.returncode == 2
        assert "cannot be read" in done.stderr
        assert "Traceback" not in done.stderr


class TestClinicRuleset:
    """A clinic's ruleset layers over the default."""

    def test_parameter_override_changes_outcome(self, tmp_path: Path) -> None:
        """Lowering the deferral threshold turns 150 systolic into a deferral."""
        layer = tmp_path / "my-clinic.yaml"
        layer.write_text(
            "schema_version: 1\nid: my-clinic\nversion: 0.1.0\ntitle: Test clinic\n"
            "extends: default\nparameters:\n"
            "  cardiovascular_bp_defer_systolic: {value: 150}\n",
            encoding="utf-8",
        )
        answers = {"bp_systolic": 150, "bp_diastolic": 80}
        default = screen_json(answers)
        clinic = screen_json(answers, "--ruleset", str(layer))
        fired = {f["rule_id"] for f in clinic["findings"]}
        assert "cardiovascular.bp_high_measured" in fired
        assert "cardiovascular.bp_high_measured" not in {
            f["rule_id"] for f in default["findings"]
        }
        assert clinic["ruleset_version"] == "default@1.0.0 > my-clinic@0.1.0"
        assert clinic["ruleset_hash"] != default["ruleset_hash"]

    def test_malformed_ruleset_names_file_and_place(self, tmp_path: Path) -> None:
        """A misspelled key fails with the file, the place and the reason; exit 2."""
        layer = tmp_path / "bad.yaml"
        layer.write_text(
            "schema_version: 1\nid: bad\nversion: 0.1.0\ntitle: Bad\nextends: default\n"
            "rules:\n  - id: mood.extra\n    domain: mood\n    level: info\n    titel: x\n",
            encoding="utf-8",
        )
        done = cli("screen", "--answers", "-", "--ruleset", str(layer), stdin="{}")
        assert done.returncode == 2
        assert str(layer) in done.stderr
        assert "rules[0] (mood.extra).titel: unknown key" in done.stderr

    def test_bad_yaml(self, tmp_path: Path) -> None:
        """Broken YAML reports the line."""
        layer = tmp_path / "broken.yaml"
        layer.write_text("id: [unclosed\n", encoding="utf-8")
        done = cli("rules", "--ruleset", str(layer))
        assert done.returncode == 2
        assert "not valid YAML" in done.stderr


class TestOtherCommands:
    """questionnaire and rules."""

    def test_questionnaire_json(self) -> None:
        """Every item is listed with its id and kind."""
        done = cli("questionnaire", "--format", "json")
        data = json.loads(done.stdout)
        ids = {i["id"] for s in data["sections"] for i in s["items"]}
        assert {"age", "phq9_9", "asq_5", "bp_systolic", "pregnant"} <= ids

    def test_rules_validates(self) -> None:
        """ketascreen rules passes on the default content."""
        done = cli("rules")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OK" in done.stdout

    def test_optional_instrument(self) -> None:
        """An optional instrument activates its rules."""
        answers = {f"mdq_p1_{n}": "yes" for n in range(1, 14)}
        answers |= {"mdq_p2": "yes", "mdq_p3": "serious", "bipolar_dx": "no"}
        result = screen_json(answers, "--instrument", "mdq")
        assert "mood.mdq_positive" in {f["rule_id"] for f in result["findings"]}


class TestUsers:
    """Staff accounts from the command line (real database in a temporary folder)."""

    def test_add_list_disable(self, tmp_path: Path) -> None:
        """An account is created with a password from stdin, listed, and disabled."""
        env = {
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            "KETASCREEN_DATA_DIR": str(tmp_path),
        }

        def run(
            *args: str, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "ketascreen", "users", *args],
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )

        added = run(
            "add",
            "doc@clinic.test",
            "--role",
            "clinician",
            "--password-stdin",
            stdin="a long enough password\n",
        )
        assert added.returncode == 0, added.stderr
        assert "doc@clinic.test" in run("list").stdout
        short = run(
            "add",
            "x@clinic.test",
            "--role",
            "clinician",
            "--password-stdin",
            stdin="short\n",
        )
        assert short.returncode == 2
        assert "at least 12 characters" in short.stderr
        long_email = run(
            "add",
            "x" * 300 + "@clinic.test",
            "--role",
            "clinician",
            "--password-stdin",
            stdin="a long enough password\n",
        )
        assert long_email.returncode == 2
        assert "at most 200 characters" in long_email.stderr
        assert run("disable", "doc@clinic.test").returncode == 0
        assert "yes" in run("list").stdout


class TestFhir:
    """FHIR in and out on the command line."""

    def test_bundle_out(self) -> None:
        """--format fhir prints a valid Bundle with a DetectedIssue per finding."""
        from fhir.resources.R4B.bundle import Bundle

        answers = json.dumps({"age": 30, "pregnant": "yes"})
        done = cli("screen", "--answers", "-", "--format", "fhir", stdin=answers)
        assert done.returncode == 0, done.stderr
        bundle = json.loads(done.stdout)
        Bundle.model_validate(bundle)
        kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert "RiskAssessment" in kinds
        assert "DetectedIssue" in kinds

    def test_record_in(self) -> None:
        """Record resources screen; an unknown code is reported as not used."""
        record = [
            {
                "resourceType": "Observation",
                "id": "preg",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "77386006"}]
                },
            },
            {
                "resourceType": "Condition",
                "id": "c9",
                "subject": {"reference": "Patient/p"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]},
            },
        ]
        done = cli(
            "screen", "--answers", "-", "--format", "json", stdin=json.dumps(record)
        )
        assert done.returncode == 0, done.stderr
        rules = [f["rule_id"] for f in json.loads(done.stdout)["findings"]]
        assert "pregnancy.pregnant" in rules
        assert "not used: Condition/c9" in done.stderr

    def test_invalid_fhir_exits_2(self) -> None:
        """A malformed QuestionnaireResponse names the field and exits with 2."""
        body = {"resourceType": "QuestionnaireResponse", "status": "nonsense"}
        done = cli("screen", "--answers", "-", stdin=json.dumps(body))
        assert done.returncode == 2
        assert "QuestionnaireResponse.status" in done.stderr


class TestBatch:
    """synth and batch from the command line."""

    def test_synth_then_batch(self, tmp_path: Path) -> None:
        """A synthetic population screens; the summary and chart are written."""
        pop, out = tmp_path / "pop.parquet", tmp_path / "out.parquet"
        assert cli("synth", str(pop), "--people", "2000").returncode == 0
        done = cli("batch", str(pop), str(out))
        assert done.returncode == 0, done.stderr
        assert "2,000 people screened" in done.stdout
        assert "Disposition" in done.stdout
        assert (tmp_path / "out.summary.png").read_bytes()[:4] == b"\x89PNG"
        import polars as pl

        result = pl.read_parquet(out)
        assert result.height == 2000
        assert result["disposition"].null_count() == 0

    def test_bad_table_exits_2(self, tmp_path: Path) -> None:
        """A table with a misspelled column names it and exits with 2; no output."""
        import polars as pl

        bad = tmp_path / "bad.parquet"
        pl.DataFrame({"person_id": ["a"], "agee": [40.0]}).write_parquet(bad)
        done = cli("batch", str(bad), str(tmp_path / "out.parquet"))
        assert done.returncode == 2
        assert "agee: unknown column; did you mean 'age'?" in done.stderr
        assert not (tmp_path / "out.parquet").exists()
