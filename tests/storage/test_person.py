"""A person's access and erasure requests, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.storage.people import (
    ANSWERS_A,
    ANSWERS_B,
    REF_A,
    REF_B,
    Clinic,
    audit_actions,
    populate,
    screening_ids,
)

from ketascreen.storage.orm import DraftRow, NoteRow
from ketascreen.storage.person import (
    EXPORT_FORMAT,
    ExportPathError,
    erase_person,
    export_person,
    write_export,
)
from ketascreen.storage.repository import Repository
from ketascreen.storage.rotation import rotate
from ketascreen.web.state import keyring


@pytest.fixture
def clinic(database_url: str, tmp_path: Path) -> Iterator[Clinic]:
    """The clinic's data, sealed with a key from a key file in tmp_path."""
    stored = populate(database_url, tmp_path)
    yield stored
    stored.engine.dispose()


def count(clinic: Clinic, column: Any, ids: list[str] | None = None) -> int:
    """Rows of the column's table (whose column value is one of ``ids``)."""
    query = select(func.count()).select_from(column.class_)
    if ids is not None:
        query = query.where(column.in_(ids))
    with clinic.engine.connect() as conn:
        found: int = conn.execute(query).scalar_one()
        return found


class TestExport:
    """export_person gathers exactly that person's data and audits the request."""

    def test_everything_about_the_person(self, clinic: Clinic) -> None:
        """Screenings with answers, results, notes read, staff notes, status history,
        audit entries and drafts; nothing of anyone else."""
        document = export_person(clinic.repo, f" {REF_A} ", actor="cli:test")
        assert document is not None
        assert document["format"] == EXPORT_FORMAT
        assert document["person_ref"] == REF_A
        screenings = document["screenings"]
        assert [s["id"] for s in screenings] == clinic.a_ids
        first, second = screenings
        assert first["answers"] == ANSWERS_A
        assert first["result"]["disposition"] == first["disposition"]
        assert first["note"]["text"] == "Referral letter for A"
        assert second["note"]["text"] == "Intake note for A"
        assert second["note"]["based_on"] == first["id"]
        assert first["override_disposition"] == "needs_specialist_review"
        assert [(n["kind"], n["status"], n["text"]) for n in first["staff_notes"]] == [
            ("status", "in_review", "staff note on A"),
            ("override", None, "override reason A"),
        ]
        assert [e["action"] for e in first["audit"]] == [
            "screening.create",
            "screening.status",
            "screening.override",
            "screening.note",
        ]
        assert [e["action"] for e in second["audit"]] == ["screening.create"]
        assert [d["screening_id"] for d in document["drafts"]] == [first["id"]]
        assert document["drafts"][0]["answers"] == ANSWERS_A
        dumped = json.dumps(document)
        for foreign in (REF_B, str(ANSWERS_B["reason_for_seeking"]), "staff note on B"):
            assert foreign not in dumped
        assert clinic.b_ids[0] not in dumped
        assert clinic.other_id not in dumped

    def test_audited_without_the_reference(self, clinic: Clinic) -> None:
        """The export appends one entry naming the screenings, never the reference."""
        before = audit_actions(clinic.engine)
        export_person(clinic.repo, REF_A, actor="cli:test")
        after = audit_actions(clinic.engine)
        assert after[: len(before)] == before
        [(actor, action, target, detail)] = after[len(before) :]
        assert (actor, action, target) == ("cli:test", "person.export", "-")
        assert all(sid in detail for sid in clinic.a_ids)
        assert REF_A not in detail

    def test_nobody(self, clinic: Clinic) -> None:
        """An unknown reference gives None and appends nothing."""
        before = audit_actions(clinic.engine)
        assert export_person(clinic.repo, "MRN-NOBODY", actor="t") is None
        assert erase_person(clinic.repo, "MRN-NOBODY", actor="t") is None
        assert audit_actions(clinic.engine) == before

    def test_found_halfway_through_a_rotation(self, clinic: Clinic) -> None:
        """Rows not yet re-sealed still carry the old key's person key: found too."""
        partial = rotate(clinic.ring, clinic.engine, actor="t", batch_size=1, limit=1)
        assert partial.remaining > 0
        ring = keyring(clinic.settings)
        document = export_person(
            Repository(clinic.engine, ring.vault()), REF_A, actor="t"
        )
        assert document is not None
        assert [s["id"] for s in document["screenings"]] == clinic.a_ids


class TestErase:
    """erase_person deletes that person's data in one transaction and audits it."""

    def test_erases_only_that_person(self, clinic: Clinic) -> None:
        """A's screenings, drafts and staff notes go; B's and others stay; the audit
        entries stay and one erasure entry is added."""
        b_before = export_person(clinic.repo, REF_B, actor="t")
        audit_before = audit_actions(clinic.engine)
        counts = erase_person(clinic.repo, REF_A, actor="cli:test")
        assert counts == {"screenings": 2, "drafts": 1, "staff notes": 2}
        assert screening_ids(clinic.engine, clinic.a_ids) == set()
        assert screening_ids(clinic.engine, [*clinic.b_ids, clinic.other_id]) == {
            *clinic.b_ids,
            clinic.other_id,
        }
        assert count(clinic, NoteRow.screening_id, clinic.a_ids) == 0
        assert count(clinic, DraftRow.screening_id, clinic.a_ids) == 0
        assert count(clinic, DraftRow.id) == 1  # the other person's draft
        audit_after = audit_actions(clinic.engine)
        assert audit_after[: len(audit_before)] == audit_before
        [(actor, action, target, detail)] = audit_after[len(audit_before) :]
        assert (actor, action, target) == ("cli:test", "person.erase", "-")
        assert "erased 2 screenings, 1 drafts, 2 staff notes" in detail
        assert REF_A not in detail
        assert export_person(clinic.repo, REF_A, actor="t") is None
        b_after = export_person(clinic.repo, REF_B, actor="t")
        assert b_before is not None
        assert b_after is not None
        assert (
            b_after["screenings"][0]["staff_notes"]
            == b_before["screenings"][0]["staff_notes"]
        )
        assert b_after["screenings"][0]["answers"] == ANSWERS_B


class TestWriteExport:
    """The export file: atomic, private, never over another file by accident."""

    def test_private_and_atomic(self, tmp_path: Path) -> None:
        """Mode 0600, the JSON as given, no temporary file left."""
        target = tmp_path / "person.json"
        write_export({"a": "é"}, target, force=False)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é"}
        assert os.listdir(tmp_path) == ["person.json"]

    def test_refuses_to_overwrite(self, tmp_path: Path) -> None:
        """An existing file is kept unless force; force replaces it, still 0600."""
        target = tmp_path / "person.json"
        target.write_text("keep", encoding="utf-8")
        target.chmod(0o644)
        with pytest.raises(ExportPathError, match="already exists; give --force"):
            write_export({"a": 1}, target, force=False)
        assert target.read_text(encoding="utf-8") == "keep"
        write_export({"a": 1}, target, force=True)
        assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1}
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert os.listdir(tmp_path) == ["person.json"]

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("missing/person.json", "does not exist"),
            ("folder", "is a folder"),
            ("file.txt/person.json", "is not a folder"),
        ],
    )
    def test_bad_paths(self, tmp_path: Path, name: str, problem: str) -> None:
        """A missing folder, a folder, or a file as the folder: named, nothing written."""
        (tmp_path / "folder").mkdir()
        (tmp_path / "file.txt").write_text("x", encoding="utf-8")
        with pytest.raises(ExportPathError, match=problem):
            write_export({"a": 1}, tmp_path / name, force=True)
        assert sorted(os.listdir(tmp_path)) == ["file.txt", "folder"]
