"""A person's access and erasure requests, by the clinic's reference for the person.

:func:`export_person` gathers everything stored about the person: each screening
with its answers, result and the note read with it, its staff notes and status
history, its audit entries, and the drafts that became it. :func:`erase_person`
deletes the screenings, those drafts and the staff notes in one transaction. Audit
entries hold no health data and stay (the log is append-only); each request appends
one entry of its own, naming the screenings, never the reference.

A person is found by the keyed hash of the reference under every key of the ring, so
rows not yet re-sealed after a key rotation are found too.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_json
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ketascreen.storage.audit import as_utc
from ketascreen.storage.orm import AuditEvent, DraftRow, NoteRow, ScreeningRow
from ketascreen.storage.repository import Repository, _audit

#: The ``format`` of an export document.
EXPORT_FORMAT = "ketascreen person export 1"


class ExportPathError(ValueError):
    """The export cannot be written to the path asked for; the message says why."""


def export_person(
    repository: Repository, person_ref: str, *, actor: str
) -> dict[str, Any] | None:
    """Everything stored about a person, as one JSON-ready document; audited.

    Args:
        repository: storage with the keyring.
        person_ref: the clinic's reference for the person.
        actor: who asks, for the audit log.

    Returns:
        The document, or None when no screening has that reference (nothing audited).
    """
    with repository.sessions.begin() as session:
        rows = _screenings(session, repository, person_ref)
        if not rows:
            return None
        ids = [row.id for row in rows]
        notes = _by_screening(session, NoteRow, NoteRow.screening_id, ids)
        drafts = _by_screening(session, DraftRow, DraftRow.screening_id, ids)
        events = _by_screening(session, AuditEvent, AuditEvent.target, ids)
        vault = repository.vault
        document = {
            "format": EXPORT_FORMAT,
            "exported_at": _utc(datetime.now(UTC)),
            "person_ref": person_ref.strip(),
            "screenings": [_screening(repository, row, notes, events) for row in rows],
            "drafts": [
                {
                    "id": d.id,
                    "created_at": _utc(d.created_at),
                    "updated_at": _utc(d.updated_at),
                    "screening_id": d.screening_id,
                    "answers": vault.open(d.answers, d.id.encode()),
                }
                for d in drafts
            ],
        }
        session.add(
            _entry(actor, "person.export", ids, f"exported {len(ids)} screenings")
        )
        return document


def erase_person(
    repository: Repository, person_ref: str, *, actor: str
) -> dict[str, int] | None:
    """Delete a person's screenings, the drafts that became them and their staff
    notes, in one transaction with its audit entry.

    Args:
        repository: storage with the keyring.
        person_ref: the clinic's reference for the person.
        actor: who asks, for the audit log.

    Returns:
        How many screenings, drafts and staff notes were deleted, or None when no
        screening has that reference (nothing changed).
    """
    with repository.sessions.begin() as session:
        ids = [row.id for row in _screenings(session, repository, person_ref)]
        if not ids:
            return None
        counts = {
            "screenings": len(ids),
            "drafts": _count(session, DraftRow.screening_id, ids),
            "staff notes": _count(session, NoteRow.screening_id, ids),
        }
        summary = "erased " + ", ".join(f"{n} {what}" for what, n in counts.items())
        # The audit entry first: like every other writer, take the audit chain's head
        # before any row lock, so an erase and a staff action cannot deadlock.
        session.add(_entry(actor, "person.erase", ids, summary))
        session.flush()
        _delete(session, DraftRow, DraftRow.screening_id, ids)
        _delete(session, NoteRow, NoteRow.screening_id, ids)
        _delete(session, ScreeningRow, ScreeningRow.id, ids)
        return counts


def write_export(document: dict[str, Any], path: Path, *, force: bool) -> None:
    """Write an export as JSON, readable by its owner only (mode 0600), atomically.

    The file is written under a temporary name in the same folder, then renamed, so
    a crash never leaves half a file under the name asked for.

    Args:
        document: from :func:`export_person`.
        path: the file to write.
        force: replace an existing file.

    Raises:
        ExportPathError: the folder is missing, the path is a folder, the file exists
            (without ``force``), or the folder cannot be written.
    """
    check_export_path(path, force=force)
    try:
        fd, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise ExportPathError(f"cannot be written ({exc})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_json(document, indent=2) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # refuses if the file appeared meanwhile
    except FileExistsError as exc:
        raise ExportPathError("already exists; give --force to replace it") from exc
    except OSError as exc:
        raise ExportPathError(f"cannot be written ({exc})") from exc
    finally:
        Path(temporary).unlink(missing_ok=True)


def check_export_path(path: Path, *, force: bool) -> None:
    """Refuse a path an export cannot be written to, before anything is read.

    Raises:
        ExportPathError: naming the path and the problem.
    """
    folder = path.parent
    if not folder.exists():
        raise ExportPathError(f"the folder {folder} does not exist")
    if not folder.is_dir():
        raise ExportPathError(f"{folder} is not a folder")
    if path.is_dir():
        raise ExportPathError("is a folder; give a file name")
    if path.exists() and not force:
        raise ExportPathError("already exists; give --force to replace it")
    if not os.access(folder, os.W_OK):
        raise ExportPathError(f"the folder {folder} is not writable")


def _screenings(
    session: Session, repository: Repository, person_ref: str
) -> list[ScreeningRow]:
    keys = repository.person_keys(person_ref)
    query = (
        select(ScreeningRow)
        .where(ScreeningRow.person_key.in_(keys))
        .order_by(ScreeningRow.created_at, ScreeningRow.id)
    )
    return list(session.scalars(query))


def _by_screening(session: Session, orm: Any, column: Any, ids: list[str]) -> list[Any]:
    key = orm.__mapper__.primary_key[0]
    return list(session.scalars(select(orm).where(column.in_(ids)).order_by(key)))


def _count(session: Session, column: Any, ids: list[str]) -> int:
    return session.scalar(select(func.count()).where(column.in_(ids))) or 0


def _delete(session: Session, orm: Any, column: Any, ids: list[str]) -> int:
    deleted: int = (
        session.connection().execute(delete(orm).where(column.in_(ids))).rowcount
    )
    return deleted


def _screening(
    repository: Repository,
    row: ScreeningRow,
    notes: list[NoteRow],
    events: list[AuditEvent],
) -> dict[str, Any]:
    vault, context = repository.vault, row.id.encode()
    return {
        "id": row.id,
        "created_at": _utc(row.created_at),
        "status": row.status,
        "disposition": row.disposition,
        "override_disposition": row.override_disposition,
        "ruleset_version": row.ruleset_version,
        "ruleset_hash": row.ruleset_hash,
        "questionnaire_version": row.questionnaire_version,
        "answers": vault.open(row.answers, context),
        "result": vault.open(row.result, context),
        "note": vault.open(row.note, context) if row.note is not None else None,
        "staff_notes": [
            {
                "at": _utc(n.at),
                "author": n.author,
                "kind": n.kind,
                "status": n.status,
                "disposition": n.disposition,
                "text": vault.open(n.text, context),
            }
            for n in notes
            if n.screening_id == row.id
        ],
        "audit": [
            {
                "id": e.id,
                "at": _utc(e.at),
                "actor": e.actor,
                "action": e.action,
                "detail": e.detail,
            }
            for e in events
            if e.target == row.id
        ],
    }


def _entry(actor: str, action: str, ids: list[str], summary: str) -> AuditEvent:
    """One audit entry for a person's request: the screenings, never the reference."""
    entry = _audit(actor, action, "-", datetime.now(UTC))
    entry.detail = f"{summary}; screenings: {', '.join(ids)}"
    return entry


def _utc(at: datetime) -> str:
    """ISO 8601 in UTC; a naive time (as SQLite returns them) is taken as UTC."""
    return as_utc(at).isoformat().replace("+00:00", "Z")
