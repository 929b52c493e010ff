"""Store and fetch screenings. Every write is one transaction; health data is sealed."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ketascreen.config import LINK_LIFETIME_DAYS
from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.outcome import result_json as result_json_bytes
from ketascreen.domain.types import SEVERITY
from ketascreen.storage import audit as audit_chain
from ketascreen.storage import links
from ketascreen.storage.crypto import Vault
from ketascreen.storage.database import one_statement
from ketascreen.storage.direct import Direct
from ketascreen.storage.orm import AuditEvent, DraftRow, ScreeningRow


@dataclass(frozen=True)
class Prepared:
    """A sealed screening ready to write: its row, its audit entry, what to return."""

    values: dict[str, Any]
    audit: dict[str, Any]
    stored: StoredScreening
    access_token: str


#: A resume link stops working after this long without changes.
DRAFT_LIFETIME = timedelta(days=30)

# Draft statements are built once: every questionnaire page reads a draft and every
# answered page writes one, and building a statement costs more than running it.
_NEW_DRAFT = insert(DraftRow)
_DRAFT_BY_TOKEN = select(
    DraftRow.id, DraftRow.answers, DraftRow.updated_at, DraftRow.screening_id
).where(DraftRow.token_hash == bindparam("token_hash"))
_SAVE_DRAFT = (
    update(DraftRow)
    .where(DraftRow.id == bindparam("draft_id"))
    .values(answers=bindparam("sealed"), updated_at=bindparam("now"))
)
# What a reader with the private link gets, and the link's hash to check it against.
_SCREENING_BY_ID = select(
    ScreeningRow.id,
    ScreeningRow.created_at,
    ScreeningRow.status,
    ScreeningRow.disposition,
    ScreeningRow.result,
    ScreeningRow.answers,
    ScreeningRow.token_hash,
).where(ScreeningRow.id == bindparam("screening_id"))

#: An audit entry not yet chained: ``at``, ``actor``, ``action``, ``target``,
#: ``detail`` (see :func:`ketascreen.storage.audit.new_entry`).
Entry = dict[str, Any]


@dataclass(frozen=True)
class Draft:
    """Answers in progress."""

    id: str
    answers: dict[str, Any]
    screening_id: str | None
    expired: bool = False


@dataclass(frozen=True)
class StoredScreening:
    """A screening as read back from storage (the result JSON is decoded on demand)."""

    id: str
    created_at: datetime
    status: str
    disposition: str
    result_json: bytes
    answers: dict[str, Any]
    # The note read with the answers and what it contributed (opened only when asked).
    note: dict[str, Any] | None = None
    # The private link's token: only on a screening just stored or replayed ("" when
    # read back; only its hash is stored).
    access_token: str = ""

    @property
    def result(self) -> dict[str, Any]:
        """The stored result as a JSON object."""
        value: dict[str, Any] = json.loads(self.result_json)
        return value


class Repository:
    """Screening storage over one engine and one encryption key."""

    def __init__(self, engine: Engine, vault: Vault) -> None:
        self.engine = engine
        # Single statements (a draft read or save, a session check) run on this one.
        self.single = one_statement(engine)
        self._draft_by_token = Direct(self.single, _DRAFT_BY_TOKEN)
        self._save_draft = Direct(self.single, _SAVE_DRAFT)
        self._screening_by_id = Direct(self.single, _SCREENING_BY_ID)
        self.vault = vault
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.draft_lifetime = DRAFT_LIFETIME
        self.link_lifetime = timedelta(days=LINK_LIFETIME_DAYS)
        self._person_key = vault.subkey(b"person reference")

    def person_key(self, person_ref: str) -> str:
        """A keyed hash of a person reference: indexable, not reversible without the key."""
        return _person_hash(self._person_key, person_ref)

    def person_keys(self, person_ref: str) -> list[str]:
        """The person's key under the current data key and under each retired one.

        Rows not yet re-sealed after a key rotation still carry a retired key's hash.
        """
        retired = self.vault.retired_subkeys(b"person reference")
        return [_person_hash(k, person_ref) for k in (self._person_key, *retired)]

    def save(
        self,
        *,
        answers: dict[str, Any],
        result: ScreeningResult,
        idempotency_key: str | None = None,
        actor: str = "person",
        person_ref: str | None = None,
        note: dict[str, Any] | None = None,
        draft_token: str | None = None,
    ) -> tuple[StoredScreening, bool]:
        """Store a screening and its audit entry in one transaction.

        Args:
            answers: the validated answers as given.
            result: the screening result.
            idempotency_key: a client key; a repeat of the same submission returns the
                first screening with a working link (see :meth:`_replay`).
            actor: who submitted it, for the audit log.
            person_ref: the clinic's reference for the person (e.g. a record number);
                screenings with the same reference form the person's history.
            note: a free-text note read with the answers, as a JSON object (the text
                and what it contributed); sealed like the answers.
            draft_token: the resume token of the draft submitted (its result link is
                found from it; see :mod:`ketascreen.storage.links`).

        Returns:
            The stored screening with its private link's token, and True if it was
            created now (False on a repeat).

        Raises:
            NotTheSameSubmission: the key came before with other answers.
            LinkRevoked: a repeat of a screening whose link the clinic revoked.
        """
        request = {"answers": answers, "person_ref": person_ref, "note": note}
        if idempotency_key:
            existing = self._replay(idempotency_key, request, draft_token)
            if existing is not None:
                return existing, False
        prepared = self.prepare(
            answers=answers,
            result=result,
            idempotency_key=idempotency_key,
            actor=actor,
            person_ref=person_ref,
            note=note,
            draft_token=draft_token,
        )
        try:
            self.write([prepared])
        except IntegrityError:
            # Two identical submits raced; the first one won, so return it.
            if idempotency_key:
                existing = self._replay(idempotency_key, request, draft_token)
                if existing is not None:
                    return existing, False
            raise
        return prepared.stored, True

    def prepare(
        self,
        *,
        answers: dict[str, Any],
        result: ScreeningResult,
        idempotency_key: str | None = None,
        actor: str = "person",
        person_ref: str | None = None,
        note: dict[str, Any] | None = None,
        person_key: str | None = None,
        draft_token: str | None = None,
    ) -> Prepared:
        """Seal a screening and build its rows, ready for :meth:`write`.

        ``person_key`` links the screening to a history that has no clinic reference
        (a re-screening of a screening stored without one); a ``person_ref`` gives its
        own key. The private link is random, or found from ``draft_token`` for a
        draft; only its hash is stored.
        """
        screening_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        result_json = result_json_bytes(result)
        context = screening_id.encode()
        token = (
            links.from_draft(draft_token, now) if draft_token else links.new_token(now)
        )
        values = {
            "id": screening_id,
            "created_at": now,
            "disposition": result.disposition.value,
            "severity": SEVERITY[result.disposition.value],
            "status": "new",
            "ruleset_version": result.ruleset_version,
            "ruleset_hash": result.ruleset_hash,
            "questionnaire_version": result.questionnaire_version,
            "answers": self.vault.seal(answers, context),
            "result": self.vault.seal_bytes(result_json, context),
            "token_hash": links.digest(token),
            "idempotency_key": idempotency_key,
            "override_disposition": None,
            "person_key": self.person_key(person_ref) if person_ref else person_key,
            "person_ref": self.vault.seal(person_ref, context) if person_ref else None,
            "note": self.vault.seal(note, context) if note is not None else None,
        }
        audit = {
            "at": now,
            "actor": actor,
            "action": "screening.create",
            "target": screening_id,
            "detail": "",
        }
        stored = StoredScreening(
            id=screening_id,
            created_at=now,
            status="new",
            disposition=result.disposition.value,
            result_json=result_json,
            answers=answers,
            note=note,
            access_token=token,
        )
        return Prepared(values, audit, stored, token)

    def write(self, batch: list[Prepared], entries: list[Entry] | None = None) -> None:
        """Write screenings, their audit entries and other audit ``entries`` in one
        transaction (all or none).

        The audit chain's head moves first, once for the whole batch.
        """
        with self.engine.begin() as conn:
            chained = audit_chain.chain(
                conn, [*(p.audit for p in batch), *(entries or ())]
            )
            if batch:
                conn.execute(insert(ScreeningRow), [p.values for p in batch])
            conn.execute(insert(AuditEvent), chained)

    def get_with_token(self, screening_id: str, token: str) -> StoredScreening | None:
        """The screening if the token is its current, unexpired link; None otherwise.

        An unknown id and a wrong, revoked, replaced or expired token all give None.
        The read is audited before the screening is returned.
        """
        found = self.view_with_token(screening_id, token)
        if found is None:
            return None
        stored, entry = found
        self.write([], [entry])
        return stored

    def view_with_token(
        self, screening_id: str, token: str
    ) -> tuple[StoredScreening, Entry] | None:
        """Like :meth:`get_with_token`, but the audit entry of the read is returned,
        for the caller to write (a batch writer) before it shows the screening."""
        row = self._screening_by_id.first(screening_id=screening_id)
        if row is None:
            return None
        row_id, created_at, status, disposition, result, answers, token_hash = row
        if not links.opens(token_hash, token, datetime.now(UTC), self.link_lifetime):
            return None
        context = row_id.encode()
        stored = StoredScreening(
            id=row_id,
            created_at=audit_chain.as_utc(created_at),
            status=status,
            disposition=disposition,
            result_json=self.vault.open_bytes(result, context),
            answers=self.vault.open(answers, context),
        )
        return stored, audit_chain.new_entry("person", "screening.read", row_id)

    def new_draft(self) -> str:
        """Start a draft and return its private resume token (never stored in clear)."""
        token = secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        draft_id = str(uuid.uuid4())
        row = {
            "id": draft_id,
            "token_hash": links.digest(token),
            "created_at": now,
            "updated_at": now,
            "answers": self.vault.seal({}, draft_id.encode()),
            "screening_id": None,
        }
        with self.single.begin() as conn:
            conn.execute(_NEW_DRAFT, row)
        return token

    def draft(self, token: str) -> Draft | None:
        """The draft for a resume token, or None if there is none."""
        row = self._draft_by_token.first(token_hash=links.digest(token))
        if row is None:
            return None
        draft_id, sealed, updated, screening_id = row
        answers = self.vault.open(sealed, draft_id.encode())
        expired = datetime.now(UTC) - audit_chain.as_utc(updated) > self.draft_lifetime
        return Draft(draft_id, answers, screening_id, expired)

    def save_draft(
        self, token: str, answers: dict[str, Any], *, draft_id: str | None = None
    ) -> None:
        """Replace a draft's answers (one statement, after a lookup if needed).

        Args:
            token: the draft's resume token.
            answers: the answers so far.
            draft_id: the draft's id when the caller just read it (saves a lookup).

        Raises:
            LookupError: no draft has this token.
        """
        if draft_id is None:
            row = self._draft_by_token.first(token_hash=links.digest(token))
            if row is None:
                raise LookupError("no such draft")
            draft_id = row[0]
        sealed = self.vault.seal(answers, draft_id.encode())
        self._save_draft.run(draft_id=draft_id, sealed=sealed, now=datetime.now(UTC))

    def submit_draft(self, token: str, result: ScreeningResult) -> StoredScreening:
        """Store the screening for a draft once; submitting again returns the same one.

        Either way it carries the same result link, found from the resume token.
        """
        draft = self.draft(token)
        if draft is None:
            raise LookupError("no such draft")
        stored, _ = self.save(
            answers=draft.answers,
            result=result,
            idempotency_key=f"draft:{draft.id}",
            draft_token=token,
        )
        with self.single.begin() as conn:
            conn.execute(
                update(DraftRow)
                .where(DraftRow.id == draft.id)
                .values(screening_id=stored.id)
            )
        return stored

    def audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        """Append one entry to the audit log (its own transaction)."""
        self.write([], [audit_chain.new_entry(actor, action, target, detail)])

    def audit_events(self, target: str) -> list[AuditEvent]:
        """Audit entries for one target, oldest first."""
        with self.sessions() as session:
            query = (
                select(AuditEvent)
                .where(AuditEvent.target == target)
                .order_by(AuditEvent.id)
            )
            return list(session.scalars(query))

    def count(self) -> int:
        """How many screenings are stored."""
        with self.single.connect() as conn:
            count = select(func.count()).select_from(ScreeningRow)
            return conn.execute(count).scalar_one()

    def draft_link(self, draft_token: str, screening_id: str) -> str | None:
        """The result link of a submitted draft (None if the screening is gone).

        It opens the result only while it is the screening's current link: a revoked
        or replaced link stays dead when the person comes back through the draft.
        """
        with self.single.connect() as conn:
            created_at = conn.execute(
                select(ScreeningRow.created_at).where(ScreeningRow.id == screening_id)
            ).scalar_one_or_none()
        if created_at is None:
            return None
        return links.from_draft(draft_token, audit_chain.as_utc(created_at))

    def _replay(
        self, key: str, request: dict[str, Any], draft_token: str | None
    ) -> StoredScreening | None:
        """The screening stored under an Idempotency-Key, with a working link.

        A draft's link is found again from its resume token. Any other repeat must be
        the same submission (answers, clinic reference, note text); as only the link's
        hash is stored, it gets a fresh link and the earlier one stops working. A
        link the clinic revoked stays revoked. The fresh link is audited.
        """
        with self.sessions.begin() as session:
            row = session.scalars(
                select(ScreeningRow)
                .where(ScreeningRow.idempotency_key == key)
                .with_for_update()
            ).first()
            if row is None:
                return None
            stored = self._stored(row, with_note=True)
            if draft_token is not None:
                token = links.from_draft(draft_token, stored.created_at)
                return replace(stored, access_token=token)
            if not self._same_submission(row, stored, request):
                raise links.NotTheSameSubmission
            if row.token_hash == links.REVOKED:
                raise links.LinkRevoked
            now = datetime.now(UTC)
            token = links.new_token(now)
            row.token_hash = links.digest(token)
            entry = _audit("person", "screening.link_replay", row.id, now)
            entry.detail = "a repeated submission got a new link"
            session.add(entry)
            return replace(stored, access_token=token)

    def _same_submission(
        self, row: ScreeningRow, stored: StoredScreening, request: dict[str, Any]
    ) -> bool:
        context = row.id.encode()
        person_ref = (
            self.vault.open(row.person_ref, context) if row.person_ref else None
        )
        note = request["note"] or {}
        return (
            stored.answers == request["answers"]
            and person_ref == request["person_ref"]
            and (stored.note or {}).get("text") == note.get("text")
        )

    def _stored(self, row: ScreeningRow, *, with_note: bool = False) -> StoredScreening:
        context = row.id.encode()
        return StoredScreening(
            id=row.id,
            created_at=audit_chain.as_utc(row.created_at),
            status=row.status,
            disposition=row.disposition,
            result_json=self.vault.open_bytes(row.result, context),
            answers=self.vault.open(row.answers, context),
            note=(
                self.vault.open(row.note, context)
                if with_note and row.note is not None
                else None
            ),
        )


def _person_hash(key: bytes, person_ref: str) -> str:
    return hmac.new(key, person_ref.strip().encode(), hashlib.sha256).hexdigest()


def _audit(actor: str, action: str, target: str, at: datetime) -> AuditEvent:
    return AuditEvent(at=at, actor=actor, action=action, target=target, detail="")
