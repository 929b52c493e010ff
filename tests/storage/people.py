"""A small clinic's stored data for key rotation and person-request tests.

Two people with clinic references (A with two screenings, a note read with the first,
a re-screening, staff notes and an override; B with one screening and a staff note),
a screening from a draft with no reference, and one draft that became A's first
screening. Everything is written through the real storage code on a real database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text, update
from tests.helpers import run

from ketascreen.config import Settings
from ketascreen.storage.crypto import KeyRing, sealed_key_id
from ketascreen.storage.database import make_engine, migrate
from ketascreen.storage.orm import AuditEvent, DraftRow
from ketascreen.storage.repository import Repository
from ketascreen.storage.staff import StaffStore, StaffUser
from ketascreen.web.state import keyring

PASSWORD = "correct horse battery"
REF_A, REF_B = "MRN-A-1001", "MRN-B-2002"
ANSWERS_A = {"age": 40, "bipolar_dx": "no", "reason_for_seeking": "answer of A"}
ANSWERS_B = {"age": 55, "reason_for_seeking": "answer of B"}
ANSWERS_DRAFT = {"age": 33}
#: Every sealed column: table, primary key, context column, sealed columns.
SEALED = {
    "screenings": ("id", "id", ("answers", "result", "note", "person_ref")),
    "drafts": ("id", "id", ("answers",)),
    "screening_notes": ("id", "screening_id", ("text",)),
}


@dataclass
class Clinic:
    """The stored data and the storage objects over it."""

    settings: Settings
    ring: KeyRing
    repo: Repository
    staff: StaffStore
    clinician: StaffUser
    a_ids: list[str]
    b_ids: list[str]
    other_id: str
    draft_token: str
    b_link: str  # the private link token of B's screening

    @property
    def engine(self) -> Engine:
        """The database engine."""
        return self.repo.engine


def open_storage(settings: Settings) -> tuple[KeyRing, Repository]:
    """The keyring (key file or environment) and a repository on a migrated database."""
    ring = keyring(settings)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return ring, Repository(engine, ring.vault())


def populate(database_url: str, data_dir: Path, **settings: Any) -> Clinic:
    """Store the clinic's data (keys from a key file in ``data_dir`` by default)."""
    config = Settings(database_url=database_url, data_dir=data_dir, **settings)
    ring, repo = open_storage(config)
    staff = StaffStore(repo)
    clinician = staff.add_user("doc@clinic.test", "Doc", "clinician", PASSWORD)
    first, _ = repo.save(
        answers=ANSWERS_A,
        result=run(ANSWERS_A),
        person_ref=REF_A,
        note={"text": "Referral letter for A", "report": {"found": []}},
    )
    staff.set_status(clinician, first.id, "in_review", "staff note on A")
    staff.override(clinician, first.id, "needs_specialist_review", "override reason A")
    second = staff.add_note_version(
        clinician,
        first.id,
        result=run(ANSWERS_A),
        note={"text": "Intake note for A", "report": {"found": []}},
    )
    b, _ = repo.save(answers=ANSWERS_B, result=run(ANSWERS_B), person_ref=REF_B)
    staff.set_status(clinician, b.id, "consult_booked", "staff note on B")
    token = repo.new_draft()
    repo.save_draft(token, ANSWERS_DRAFT)
    other = repo.submit_draft(token, run(ANSWERS_DRAFT))
    _draft_became(repo, first.id)
    return Clinic(
        config,
        ring,
        repo,
        staff,
        clinician,
        [first.id, second],
        [b.id],
        other.id,
        token,
        b.access_token,
    )


def _draft_became(repo: Repository, screening_id: str) -> None:
    """A draft that became ``screening_id`` (its answers kept, as submit_draft does).

    Today only the JSON API takes a clinic reference, so no draft becomes a
    referenced screening through the app; erasure still deletes such drafts.
    """
    token = repo.new_draft()
    repo.save_draft(token, ANSWERS_A)
    draft = repo.draft(token)
    assert draft is not None
    with repo.engine.begin() as conn:
        conn.execute(
            update(DraftRow)
            .where(DraftRow.id == draft.id)
            .values(screening_id=screening_id)
        )


def sealed_values(engine: Engine) -> list[tuple[str, str, str, str, bytes]]:
    """Every sealed value as stored: table, row id, column, context, blob."""
    found = []
    with engine.connect() as conn:
        for table, (key, context, columns) in SEALED.items():
            listed = ", ".join(columns)
            query = text(f"SELECT {key}, {context}, {listed} FROM {table}")  # noqa: S608 - fixed names
            for row in conn.execute(query):
                for column, blob in zip(columns, row[2:], strict=True):
                    if blob is not None:
                        found.append(
                            (table, str(row[0]), column, str(row[1]), bytes(blob))
                        )
    return found


def opened(repo: Repository) -> dict[tuple[str, str, str], Any]:
    """Every sealed value opened: (table, row id, column) to its value."""
    return {
        (table, row, column): repo.vault.open(blob, context.encode())
        for table, row, column, context, blob in sealed_values(repo.engine)
    }


def key_ids(engine: Engine) -> set[bytes]:
    """The key ids carried by the stored values."""
    return {sealed_key_id(blob) for *_, blob in sealed_values(engine)}


def screening_ids(engine: Engine, ids: list[str]) -> set[str]:
    """Which of ``ids`` are still stored."""
    with engine.connect() as conn:
        query = text("SELECT id FROM screenings")
        return {row[0] for row in conn.execute(query)} & set(ids)


def audit_actions(engine: Engine) -> list[tuple[str, str, str, str]]:
    """Every audit entry: actor, action, target, detail (in order)."""
    with engine.connect() as conn:
        query = select(
            AuditEvent.actor, AuditEvent.action, AuditEvent.target, AuditEvent.detail
        ).order_by(AuditEvent.id)
        return [(r.actor, r.action, r.target, r.detail) for r in conn.execute(query)]
