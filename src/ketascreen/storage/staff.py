"""Staff accounts, sessions, the review queue, status changes, overrides and notes.

Every change is written to the audit log in the same transaction as the change
itself. Every staff read is written to it before what was read is returned: the sync
methods (:meth:`StaffStore.queue`, :meth:`StaffStore.screening`) write the entry
themselves; the ``view_*`` methods return it for the web app's batch writer
(:class:`ketascreen.storage.group_commit.GroupWriter`) to write first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.types import SEVERITY
from ketascreen.storage import links
from ketascreen.storage.audit import as_utc, new_entry
from ketascreen.storage.direct import Direct
from ketascreen.storage.orm import (
    AuditEvent,
    LoginAttempts,
    NoteRow,
    ScreeningRow,
    SessionRow,
    UserRow,
)
from ketascreen.storage.repository import Entry, Repository

ROLES = ("admin", "clinician", "coordinator")
#: Roles that may change a screening's clinical result (override it, re-screen it).
CLINICAL_ROLES = ("clinician", "admin")
STATUSES = (
    "new",
    "in_review",
    "consult_booked",
    "deferred",
    "declined",
    "referred_elsewhere",
)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
LOGIN_ATTEMPTS_PER_MINUTE = 10  # per client address, across every server process
SESSION_LENGTH = timedelta(hours=8)
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class StaffError(ValueError):
    """A staff action was refused; the message says why."""


class NotAllowed(StaffError):
    """The staff member's role may not do this (answered 403)."""


@dataclass(frozen=True)
class StaffUser:
    """A signed-in staff member."""

    id: int
    email: str
    name: str
    role: str
    disabled: bool


@dataclass(frozen=True)
class QueueEntry:
    """One row of the review queue (no health data beyond the disposition)."""

    id: str
    created_at: datetime
    disposition: str
    effective_disposition: str
    status: str
    has_note: bool = False


#: Screenings on one page of the review queue.
QUEUE_PAGE = 100


class QueueQuery(TypedDict, total=False):
    """Filters and paging of the review queue; a key left out filters nothing.

    Keys:
        disposition: only this stored disposition.
        status: only this status.
        search: only ids that start with this.
        limit: at most this many entries (``None``: all; left out: QUEUE_PAGE).
        offset: skip this many first (a later page).
    """

    disposition: str | None
    status: str | None
    search: str | None
    limit: int | None
    offset: int


@dataclass(frozen=True)
class QueuePage:
    """Part of the review queue, and how many screenings match in all."""

    entries: list[QueueEntry]
    total: int
    offset: int = 0

    @property
    def shown(self) -> str:
        """What the page showed, for the audit log."""
        first = self.offset + 1 if self.entries else 0
        return f"{len(self.entries)} rows from {first} of {self.total}"


@dataclass(frozen=True)
class Note:
    """A note, status change or override, newest last."""

    at: datetime
    author: str
    kind: str
    status: str | None
    disposition: str | None
    text: str


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _dialect_insert(dialect: str) -> Any:
    """The INSERT with ON CONFLICT of the database in use (both have RETURNING)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


#: A session and its user in one query (built once: every staff request runs it).
_SESSION_USER = (
    select(
        UserRow.id,
        UserRow.email,
        UserRow.name,
        UserRow.role,
        UserRow.disabled,
        SessionRow.csrf,
        SessionRow.expires_at,
    )
    .join(UserRow, UserRow.id == SessionRow.user_id)
    .where(SessionRow.id_hash == bindparam("id_hash"))
)

#: What a queue entry needs: never the sealed answers, result or note themselves.
_ENTRY_COLUMNS = (
    ScreeningRow.id,
    ScreeningRow.created_at,
    ScreeningRow.disposition,
    ScreeningRow.override_disposition,
    ScreeningRow.status,
    ScreeningRow.note.is_not(None).label("has_note"),
)


# One screening for staff: everything stored, then its notes and the person's history.
_FULL_SCREENING = select(
    ScreeningRow.id,
    ScreeningRow.created_at,
    ScreeningRow.status,
    ScreeningRow.disposition,
    ScreeningRow.override_disposition,
    ScreeningRow.result,
    ScreeningRow.answers,
    ScreeningRow.note,
    ScreeningRow.person_ref,
    ScreeningRow.person_key,
).where(ScreeningRow.id == bindparam("screening_id"))
_NOTES = (
    select(
        NoteRow.at,
        NoteRow.author,
        NoteRow.kind,
        NoteRow.status,
        NoteRow.disposition,
        NoteRow.text,
    )
    .where(NoteRow.screening_id == bindparam("screening_id"))
    .order_by(NoteRow.id)
)
_HISTORY = (
    select(*_ENTRY_COLUMNS)
    .where(ScreeningRow.person_key == bindparam("person_key"))
    .where(ScreeningRow.id != bindparam("screening_id"))
    .order_by(ScreeningRow.created_at.desc())
)


def _entry(row: Any) -> QueueEntry:
    """A queue entry from a row of :data:`_ENTRY_COLUMNS`."""
    return QueueEntry(
        row.id,
        as_utc(row.created_at),
        row.disposition,
        row.override_disposition or row.disposition,
        row.status,
        bool(row.has_note),
    )


def _user(row: UserRow) -> StaffUser:
    return StaffUser(row.id, row.email, row.name, row.role, row.disabled)


class StaffStore:
    """Staff-side storage, sharing the screening repository's engine and key."""

    def __init__(self, repository: Repository) -> None:
        self.repo = repository
        self.sessions = repository.sessions
        self._session_user = Direct(repository.single, _SESSION_USER)
        self._full_screening = Direct(repository.single, _FULL_SCREENING)

    # -- accounts -------------------------------------------------------------------

    def add_user(self, email: str, name: str, role: str, password: str) -> StaffUser:
        """Create an account; refuses unknown roles, duplicates and short passwords."""
        if role not in ROLES:
            raise StaffError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        email = email.strip().lower()
        if "@" not in email or len(email) > 200 or len(name) > 200:
            raise StaffError(
                "give an email address (and name) of at most 200 characters"
            )
        with self.sessions.begin() as session:
            if session.scalars(select(UserRow).where(UserRow.email == email)).first():
                raise StaffError(f"an account for {email} already exists")
            row = UserRow(
                email=email,
                name=name,
                role=role,
                password_hash=_hasher.hash(password),
                disabled=False,
                failed_logins=0,
                locked_until=None,
                created_at=_now(),
            )
            session.add(row)
            session.add(_audit("system", "user.create", email, role))
            session.flush()
            return _user(row)

    def users(self) -> list[StaffUser]:
        """All accounts, by email."""
        with self.sessions() as session:
            return [
                _user(r)
                for r in session.scalars(select(UserRow).order_by(UserRow.email))
            ]

    def set_disabled(self, email: str, disabled: bool) -> None:
        """Disable (or enable) an account and end its sessions."""
        with self.sessions.begin() as session:
            row = self._row(session, email)
            row.disabled = disabled
            for s in session.scalars(
                select(SessionRow).where(SessionRow.user_id == row.id)
            ):
                session.delete(s)
            session.add(
                _audit("system", "user.disable" if disabled else "user.enable", email)
            )

    def reset_password(self, email: str, password: str) -> None:
        """Set a new password, clear the lockout and end the account's sessions."""
        _check_password(password)
        with self.sessions.begin() as session:
            row = self._row(session, email)
            row.password_hash = _hasher.hash(password)
            row.failed_logins = 0
            row.locked_until = None
            for s in session.scalars(
                select(SessionRow).where(SessionRow.user_id == row.id)
            ):
                session.delete(s)
            session.add(_audit("system", "user.reset_password", email))

    def has_users(self) -> bool:
        """Whether any account exists."""
        with self.sessions() as session:
            return session.scalars(select(UserRow.id)).first() is not None

    @staticmethod
    def _row(session: Any, email: str) -> UserRow:
        row: UserRow | None = session.scalars(
            select(UserRow).where(UserRow.email == email.strip().lower())
        ).first()
        if row is None:
            raise StaffError(f"no account for {email}")
        return row

    # -- sign-in --------------------------------------------------------------------

    def allow_login_attempt(self, address: str, now: datetime | None = None) -> bool:
        """Count a sign-in attempt from an address; False when it is over the limit.

        At most LOGIN_ATTEMPTS_PER_MINUTE in any minute, estimated as a sliding
        window: this minute's attempts, and last minute's in proportion to the part
        of it still inside the window. Every attempt counts, refused ones too, so an
        address that keeps trying stays refused. The count is kept in the database,
        one row per hashed address and minute, raised in one statement: every server
        process shares it, and it outlives a restart. Rows older than a minute go.

        Args:
            address: the client's address.
            now: the time of the attempt (default: now).
        """
        at = (now or _now()).timestamp()
        minute, elapsed = divmod(at, 60)
        key = _digest(address)
        upsert = _dialect_insert(self.repo.engine.dialect.name)(LoginAttempts)
        counted = upsert.values(address_hash=key, minute=int(minute), count=1)
        counted = counted.on_conflict_do_update(
            index_elements=[LoginAttempts.address_hash, LoginAttempts.minute],
            set_={"count": LoginAttempts.count + 1},
        ).returning(LoginAttempts.count)
        earlier = select(LoginAttempts.count).where(
            LoginAttempts.address_hash == key, LoginAttempts.minute == int(minute) - 1
        )
        with self.repo.engine.begin() as conn:
            this_minute = conn.execute(counted).scalar_one()
            last_minute = conn.execute(earlier).scalar() or 0
        # Apart, so that no transaction holds two sets of row locks (no deadlock).
        with self.repo.engine.begin() as conn:
            conn.execute(
                delete(LoginAttempts).where(LoginAttempts.minute < int(minute) - 1)
            )
        estimate = this_minute + last_minute * (1 - elapsed / 60)
        return bool(estimate <= LOGIN_ATTEMPTS_PER_MINUTE)

    def login(self, email: str, password: str) -> tuple[str, StaffUser] | None:
        """Check a password; on success start a session and return its cookie token.

        Five failures lock the account for 15 minutes. The answer is the same for an
        unknown email, a wrong password and a locked or disabled account.
        """
        now = _now()
        with self.sessions.begin() as session:
            row = session.scalars(
                select(UserRow).where(UserRow.email == email.strip().lower())
            ).first()
            if row is None:
                _hasher.hash(password)  # same work as a real check: no timing hint
                session.add(_audit(email[:200], "login.unknown_account", "-"))
                return None
            locked = row.locked_until is not None and as_utc(row.locked_until) > now
            if row.disabled or locked:
                session.add(
                    _audit(row.email, "login.refused", "-", "locked or disabled")
                )
                return None
            try:
                _hasher.verify(row.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                row.failed_logins += 1
                if row.failed_logins >= MAX_FAILED_LOGINS:
                    row.locked_until = now + LOCKOUT
                    row.failed_logins = 0
                session.add(_audit(row.email, "login.failed", "-"))
                return None
            row.failed_logins = 0
            token = secrets.token_urlsafe(32)
            session.add(
                SessionRow(
                    id_hash=_digest(token),
                    user_id=row.id,
                    csrf=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=now + SESSION_LENGTH,
                )
            )
            session.add(_audit(row.email, "login.ok", "-"))
            return token, _user(row)

    def session_user(self, token: str) -> tuple[StaffUser, str] | None:
        """The signed-in user and the session's CSRF token, if the session is valid."""
        row = self._session_user.first(id_hash=_digest(token))
        if row is None:
            return None
        user_id, email, name, role, disabled, csrf, expires_at = row
        if as_utc(expires_at) <= _now() or disabled:
            return None
        return StaffUser(user_id, email, name, role, disabled), csrf

    def logout(self, token: str) -> None:
        """End a session."""
        with self.sessions.begin() as session:
            srow = session.get(SessionRow, _digest(token))
            if srow is not None:
                session.delete(srow)

    # -- the queue and screenings ---------------------------------------------------

    def queue(self, actor: StaffUser, **query: Unpack[QueueQuery]) -> QueuePage:
        """Screenings by severity (most severe first), then newest first; audited.

        Args:
            actor: who looks (for the audit log).
            query: filters and paging, see :class:`QueueQuery`.

        Returns:
            The entries, and how many screenings match in all.
        """
        page, entry = self.view_queue(actor, **query)
        self.repo.write([], [entry])
        return page

    def view_queue(
        self, actor: StaffUser, **query: Unpack[QueueQuery]
    ) -> tuple[QueuePage, Entry]:
        """Like :meth:`queue`, but the audit entry of the view is returned, for the
        caller to write before it shows the page."""
        disposition, status = query.get("disposition"), query.get("status")
        search = query.get("search")
        limit, offset = query.get("limit", QUEUE_PAGE), query.get("offset", 0)
        matching = [
            condition
            for condition in (
                ScreeningRow.disposition == disposition if disposition else None,
                ScreeningRow.status == status if status else None,
                # % and _ are letters here, not wildcards.
                ScreeningRow.id.startswith(search.strip().lower(), autoescape=True)
                if search
                else None,
            )
            if condition is not None
        ]
        statement = (
            select(*_ENTRY_COLUMNS)
            .where(*matching)
            .order_by(
                ScreeningRow.severity.desc(),
                ScreeningRow.created_at.desc(),
                ScreeningRow.id.desc(),  # stable across pages; ix_screenings_queue
            )
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(ScreeningRow).where(*matching)
        with self.repo.single.connect() as conn:
            rows = list(conn.execute(statement))
            total = conn.execute(count).scalar_one()
        page = QueuePage([_entry(r) for r in rows], total, offset)
        return page, new_entry(actor.email, "queue.view", "-", page.shown)

    def screening(self, actor: StaffUser, screening_id: str) -> dict[str, Any] | None:
        """Everything stored about one screening, for staff; audited."""
        found = self.view_screening(actor, screening_id)
        if found is None:
            return None
        screening, entry = found
        self.repo.write([], [entry])
        return screening

    def view_screening(
        self, actor: StaffUser, screening_id: str
    ) -> tuple[dict[str, Any], Entry] | None:
        """Like :meth:`screening`, but the audit entry of the view is returned, for
        the caller to write before it shows the screening."""
        row = self._full_screening.first(screening_id=screening_id)
        if row is None:
            return None
        (row_id, created_at, status, disposition, override) = row[:5]
        result, answers, note, person_ref, person_key = row[5:]
        vault, context = self.repo.vault, row_id.encode()
        with self.repo.single.connect() as conn:
            notes = [
                Note(
                    as_utc(n.at),
                    n.author,
                    n.kind,
                    n.status,
                    n.disposition,
                    str(vault.open(n.text, context)),
                )
                for n in conn.execute(_NOTES, {"screening_id": row_id})
            ]
            history = (
                [
                    _entry(r)
                    for r in conn.execute(
                        _HISTORY, {"person_key": person_key, "screening_id": row_id}
                    )
                ]
                if person_key
                else []
            )
        screening = {
            "history": history,
            "person_ref": vault.open(person_ref, context) if person_ref else None,
            "id": row_id,
            "created_at": as_utc(created_at),
            "status": status,
            "disposition": disposition,
            "override": override,
            # JSON as stored: callers parse it straight into the model.
            "result_json": vault.open_bytes(result, context),
            "answers": vault.open(answers, context),
            "notes": notes,
            "note": vault.open(note, context) if note is not None else None,
        }
        return screening, new_entry(actor.email, "screening.view", row_id)

    def set_status(
        self, actor: StaffUser, screening_id: str, status: str, note: str
    ) -> None:
        """Move a screening along the workflow, with an optional note; audited."""
        if status not in STATUSES:
            raise StaffError(f"status must be one of {', '.join(STATUSES)}")
        with self.sessions.begin() as session:
            row = self._screening(session, screening_id)
            row.status = status
            session.add(self._note(screening_id, actor, "status", note, status=status))
            session.add(_audit(actor.email, "screening.status", screening_id, status))

    def override(
        self, actor: StaffUser, screening_id: str, disposition: str, reason: str
    ) -> None:
        """Override the disposition (clinicians and admins only); a reason is required."""
        if actor.role not in CLINICAL_ROLES:
            raise NotAllowed("only a clinician can override a disposition")
        if disposition not in SEVERITY or disposition == "info":
            raise StaffError("choose one of the five dispositions")
        if len(reason.strip()) < 10:
            raise StaffError("give a reason for the override (at least 10 characters)")
        with self.sessions.begin() as session:
            row = self._screening(session, screening_id)
            row.override_disposition = disposition
            session.add(
                self._note(
                    screening_id, actor, "override", reason, disposition=disposition
                )
            )
            session.add(
                _audit(
                    actor.email,
                    "screening.override",
                    screening_id,
                    f"{row.disposition} -> {disposition}",
                )
            )

    def add_note_version(
        self,
        actor: StaffUser,
        screening_id: str,
        *,
        result: ScreeningResult,
        note: dict[str, Any],
    ) -> str:
        """Store a re-screening with a note as a new version in the person's history.

        The new screening keeps the person's answers from the one it re-screens, and
        gets the new result and the note (sealed, with who added it and what it
        re-screened). It joins that screening's history: the same clinic reference,
        or, when there is none, a history key the two then share. The new row, the
        key and the audit entries are written in one transaction.

        Args:
            actor: a clinician or admin.
            screening_id: the screening re-screened.
            result: the result of its answers read with the note.
            note: the note's text and what it contributed, as a JSON object.

        Returns:
            The new screening's id.

        Raises:
            StaffError: the actor may not do this, or there is no such screening.
        """
        check_may_rescreen(actor)
        with self.sessions.begin() as session:
            source = self._screening(session, screening_id)
            context = source.id.encode()
            if source.person_key is None:
                # No clinic reference to hash: a random key links the versions and
                # says nothing about the person.
                source.person_key = secrets.token_hex(32)
            prepared = self.repo.prepare(
                answers=self.repo.vault.open(source.answers, context),
                result=result,
                actor=actor.email,
                person_ref=(
                    self.repo.vault.open(source.person_ref, context)
                    if source.person_ref
                    else None
                ),
                person_key=source.person_key,
                note={**note, "based_on": source.id, "added_by": actor.email},
            )
            new_id = prepared.stored.id
            session.execute(insert(ScreeningRow), [prepared.values])
            session.add(AuditEvent(**prepared.audit))
            session.add(
                _audit(
                    actor.email,
                    "screening.note",
                    source.id,
                    f"new version {new_id}: {result.disposition.value}",
                )
            )
            return new_id

    def revoke_link(self, actor: StaffUser, screening_id: str) -> None:
        """Stop the person's private link from working (clinicians and admins); audited.

        A repeated submission does not bring it back; :meth:`new_link` does.
        """
        _check_clinical(actor, "revoke a private link")
        with self.sessions.begin() as session:
            row = self._screening(session, screening_id)
            row.token_hash = links.REVOKED
            session.add(_audit(actor.email, "screening.link_revoke", screening_id))

    def new_link(self, actor: StaffUser, screening_id: str) -> str:
        """Issue a new private link for the person (clinicians and admins); audited.

        The previous link stops working. The token is returned once, to show to the
        staff member; only its hash is stored.
        """
        _check_clinical(actor, "send a new private link")
        token = links.new_token(_now())
        with self.sessions.begin() as session:
            row = self._screening(session, screening_id)
            row.token_hash = links.digest(token)
            session.add(_audit(actor.email, "screening.link_new", screening_id))
        return token

    def audit_log(self, limit: int = 1000) -> list[AuditEvent]:
        """The newest audit entries, oldest first."""
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
                )
            )
            return rows[::-1]

    @staticmethod
    def _screening(session: Any, screening_id: str) -> ScreeningRow:
        row: ScreeningRow | None = session.get(ScreeningRow, screening_id)
        if row is None:
            raise StaffError("no such screening")
        return row

    def _note(
        self,
        screening_id: str,
        actor: StaffUser,
        kind: str,
        text: str,
        *,
        status: str | None = None,
        disposition: str | None = None,
    ) -> NoteRow:
        return NoteRow(
            screening_id=screening_id,
            at=_now(),
            author=actor.email,
            kind=kind,
            status=status,
            disposition=disposition,
            text=self.repo.vault.seal(text.strip(), screening_id.encode()),
        )


def check_may_rescreen(actor: StaffUser) -> None:
    """Refuse a re-screening (e.g. with a note) by anyone but a clinician or admin.

    Raises:
        StaffError: the actor's role may not change a screening's clinical result.
    """
    _check_clinical(actor, "re-screen with a note")


def _check_clinical(actor: StaffUser, what: str) -> None:
    if actor.role not in CLINICAL_ROLES:
        raise NotAllowed(f"only a clinician can {what}")


def _check_password(password: str) -> None:
    if len(password) < 12:
        raise StaffError("the password must be at least 12 characters")


def _audit(actor: str, action: str, target: str, detail: str = "") -> AuditEvent:
    return AuditEvent(
        at=_now(), actor=actor, action=action, target=target, detail=detail
    )
