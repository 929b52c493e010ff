"""`ketascreen keys`, `export-person` and `erase-person`: output and exit codes.

The commands run in-process (Typer's runner) over real databases and a real key file,
and once as a real process with no standard input.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner, Result

from ketascreen.cli import app
from ketascreen.storage.crypto import Vault, key_id
from ketascreen.storage.orm import ScreeningRow
from ketascreen.web.state import keyring
from tests.storage.people import REF_A, Clinic, key_ids, populate, screening_ids


@pytest.fixture
def clinic(database_url: str, tmp_path: Path) -> Iterator[Clinic]:
    """Stored data with its key file in tmp_path/data."""
    stored = populate(database_url, tmp_path / "data")
    yield stored
    stored.engine.dispose()


def ketascreen(clinic: Clinic, *args: str) -> Result:
    """Run a command on the clinic's database and key file."""
    env = {
        "KETASCREEN_DATA_DIR": str(clinic.settings.data_dir),
        "KETASCREEN_DATA_KEY": None,
        "KETASCREEN_RETIRED_DATA_KEYS": None,
        "KETASCREEN_DATABASE_URL": None,
        "COLUMNS": "200",
    }
    url = str(clinic.settings.database_url)
    return CliRunner().invoke(app, [*args, "--db", url], env=env)


class TestKeys:
    """keys status / rotate / drop-retired."""

    def test_rotation_in_steps(self, clinic: Clinic) -> None:
        """A partial rotate, status, a refused drop, the rest, then the drop."""
        old = key_id(clinic.ring.current).hex()
        partial = ketascreen(
            clinic, "keys", "rotate", "--batch-size", "2", "--limit", "3"
        )
        assert partial.exit_code == 0, partial.output
        assert "New data key" in partial.stdout
        assert "Re-sealed 3 rows" in partial.stdout
        assert (
            "still sealed with older keys: run `ketascreen keys rotate` again"
            in partial.stdout
        )
        new = key_id(keyring(clinic.settings).current).hex()
        status = ketascreen(clinic, "keys", "status")
        assert status.exit_code == 0
        assert f"{old} │ retired" in status.stdout
        assert f"{new} │ current" in status.stdout
        refused = ketascreen(clinic, "keys", "drop-retired")
        assert refused.exit_code == 1
        assert (
            f"Not dropped: retired keys still seal stored values ({old}:"
            in refused.stderr
        )
        finished = ketascreen(clinic, "keys", "rotate")
        assert finished.exit_code == 0, finished.output
        assert "New data key" not in finished.stdout
        assert f"Every stored value is sealed with key {new}" in finished.stdout
        assert key_ids(clinic.engine) == {bytes.fromhex(new)}
        dropped = ketascreen(clinic, "keys", "drop-retired")
        assert dropped.exit_code == 0, dropped.output
        assert "Dropped 1 retired keys" in dropped.stdout
        assert keyring(clinic.settings).retired == ()
        assert (
            ketascreen(clinic, "keys", "drop-retired").stdout
            == "There are no retired keys.\n"
        )

    def test_unknown_key(self, clinic: Clinic) -> None:
        """A value sealed with a key outside the ring: listed as unknown; rotate
        refuses with exit 1 naming its key id, and makes no new key."""
        stranger = Vault(os.urandom(32))
        sid = clinic.b_ids[0]
        with clinic.engine.begin() as conn:
            conn.execute(
                update(ScreeningRow)
                .where(ScreeningRow.id == sid)
                .values(note=stranger.seal({"text": "x"}, sid.encode()))
            )
        status = ketascreen(clinic, "keys", "status")
        assert (
            f"{stranger.key_id.hex()} │ unknown: cannot be opened │ 1" in status.stdout
        )
        refused = ketascreen(clinic, "keys", "rotate")
        assert refused.exit_code == 1
        assert (
            "Not rotated: some stored values were sealed with a key" in refused.stderr
        )
        assert f"key id {stranger.key_id.hex()}: 1 values" in refused.stderr
        assert keyring(clinic.settings) == clinic.ring

    def test_bad_key_file(self, clinic: Clinic) -> None:
        """A key file that is not base64 is named, exit 2."""
        (clinic.settings.data_dir / "data.key").write_text("not a key!\n")
        done = ketascreen(clinic, "keys", "status")
        assert done.exit_code == 2
        assert "data.key is not valid base64" in done.stderr


class TestExportPerson:
    """export-person REF OUT."""

    def test_export(self, clinic: Clinic, tmp_path: Path) -> None:
        """Exit 0, a 0600 JSON file with the person's screenings; audited."""
        target = tmp_path / "a.json"
        done = ketascreen(clinic, "export-person", REF_A, str(target))
        assert done.exit_code == 0, done.output
        assert done.stdout == f"Exported 2 screenings to {target}.\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        document = json.loads(target.read_text(encoding="utf-8"))
        assert [s["id"] for s in document["screenings"]] == clinic.a_ids
        entry = clinic.repo.audit_events("-")[-1]
        assert entry.action == "person.export"
        assert entry.actor.startswith("cli:")

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("exists.json", "already exists; give --force to replace it"),
            ("missing/a.json", "does not exist"),
            (".", "is a folder; give a file name"),
        ],
    )
    def test_bad_path(
        self, clinic: Clinic, tmp_path: Path, name: str, problem: str
    ) -> None:
        """Exit 2 naming the path and the problem; nothing read, nothing audited."""
        (tmp_path / "exists.json").write_text("keep", encoding="utf-8")
        before = len(clinic.repo.audit_events("-"))
        done = ketascreen(clinic, "export-person", REF_A, str(tmp_path / name))
        assert done.exit_code == 2
        assert "Cannot export:" in done.stderr
        assert f"{tmp_path / name}: " in done.stderr
        assert problem in done.stderr
        assert (tmp_path / "exists.json").read_text(encoding="utf-8") == "keep"
        assert len(clinic.repo.audit_events("-")) == before

    def test_force(self, clinic: Clinic, tmp_path: Path) -> None:
        """--force replaces an existing file."""
        target = tmp_path / "a.json"
        target.write_text("old", encoding="utf-8")
        done = ketascreen(clinic, "export-person", REF_A, str(target), "--force")
        assert done.exit_code == 0, done.output
        assert json.loads(target.read_text(encoding="utf-8"))["person_ref"] == REF_A

    def test_nobody(self, clinic: Clinic, tmp_path: Path) -> None:
        """An unknown reference: exit 1, no file."""
        done = ketascreen(clinic, "export-person", "MRN-NONE", str(tmp_path / "x.json"))
        assert done.exit_code == 1
        assert "No screening is stored for the reference 'MRN-NONE'" in done.stderr
        assert not (tmp_path / "x.json").exists()


class TestErasePerson:
    """erase-person REF --yes."""

    def test_erase(self, clinic: Clinic) -> None:
        """Exit 0 with counts; afterwards the person is unknown (exit 1); B stays."""
        done = ketascreen(clinic, "erase-person", REF_A, "--yes")
        assert done.exit_code == 0, done.output
        assert done.stdout == "Erased 2 screenings, 1 drafts, 2 staff notes.\n"
        again = ketascreen(clinic, "erase-person", REF_A, "--yes")
        assert again.exit_code == 1
        assert "nothing was erased" in again.stderr
        assert screening_ids(clinic.engine, [*clinic.a_ids, *clinic.b_ids]) == set(
            clinic.b_ids
        )

    def test_needs_yes_without_stdin(self, clinic: Clinic) -> None:
        """A real process with no standard input: exit 2 at once, nothing erased."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ketascreen",
                "erase-person",
                REF_A,
                "--db",
                str(clinic.settings.database_url),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={
                "PATH": "/usr/bin:/bin",
                "KETASCREEN_DATA_DIR": str(clinic.settings.data_dir),
            },
        )
        assert done.returncode == 2
        assert "--yes: erasing cannot be undone; give --yes to confirm" in done.stderr
        assert len(clinic.repo.audit_events(clinic.a_ids[0])) > 0
        assert clinic.staff.screening(clinic.clinician, clinic.a_ids[0]) is not None
