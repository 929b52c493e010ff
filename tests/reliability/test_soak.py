"""The soak harness in its quick form (benchmarks/soak.py --quick), on both databases.

It drives a real ``ketascreen serve`` with people, API clients and a clinician for 30
seconds; this test reads the harness's last line (JSON) and checks what it found: no
5xx, nothing acknowledged lost, and exactly as many new rows as acknowledged
screenings. Throughput is the harness's figure to report, not something to assert.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]
# Every kind of request the harness sends; each must have been answered at least once.
KINDS = {
    "welcome",
    "start",
    "resume",
    "page",
    "page_post",
    "finish",
    "submit",
    "result",
    "submit_again",
    "api_submit",
    "api_keyed",
    "api_retry",
    "api_read",
    "staff_login",
    "staff_queue",
    "staff_screening",
}


def quick_soak(db: str, database_url: str | None) -> tuple[dict[str, Any], str, int]:
    """Run the harness; its figures, its output and its exit code."""
    # Every acknowledged screening is read back, however many a fast machine makes.
    command = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--quick"]
    command += ["--read-back", "0"]
    command += ["--db", db]
    if database_url:
        command += ["--database-url", database_url]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, output
    return json.loads(lines[-1]), output, done.returncode


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_quick_soak(db: str, request: pytest.FixtureRequest) -> None:
    """30 s of mixed load: no 5xx, nothing lost, every acknowledged row stored once."""
    url = (
        fresh_database(request.getfixturevalue("postgres"))
        if db == "postgresql"
        else None
    )
    figures, output, code = quick_soak(db, url)
    assert figures["db"] == db
    assert figures["errors_5xx"] == 0, output
    assert figures["errors_other"] == 0, output
    assert figures["lost"] == 0, output
    assert figures["mismatches"] == 0, output
    assert figures["acknowledged"] > 0
    assert figures["stored"] == figures["acknowledged"], output
    assert figures["read_back"] == figures["acknowledged"]
    assert figures["replays"] > 0
    assert set(figures["counts"]) == KINDS
    assert all(figures["counts"][kind] > 0 for kind in KINDS), figures["counts"]
    assert code == 0, output
