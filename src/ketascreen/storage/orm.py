"""SQLAlchemy 2 models. Health data (answers, results) is stored encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base for ketascreen tables."""


class ScreeningRow(Base):
    """One stored screening: encrypted answers and result, plus queue metadata.

    ``note`` is set when a free-text note was read with the answers: the note, what it
    contributed and which screening it re-screened, sealed like the answers.
    """

    __tablename__ = "screenings"
    # The review queue's order, alone or after a filter (migration 0007).
    __table_args__ = (
        Index("ix_screenings_queue", "severity", "created_at", "id"),
        Index("ix_screenings_queue_status", "status", "severity", "created_at", "id"),
        Index(
            "ix_screenings_queue_disposition",
            "disposition",
            "severity",
            "created_at",
            "id",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    disposition: Mapped[str] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="new")
    ruleset_version: Mapped[str] = mapped_column(String(200))
    ruleset_hash: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[str] = mapped_column(String(100))
    answers: Mapped[bytes] = mapped_column(LargeBinary)
    result: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    override_disposition: Mapped[str | None] = mapped_column(String(32))
    person_key: Mapped[str | None] = mapped_column(String(64), index=True)
    person_ref: Mapped[bytes | None] = mapped_column(LargeBinary)
    note: Mapped[bytes | None] = mapped_column(LargeBinary)


class AuditEvent(Base):
    """Append-only, hash-chained log of access and changes (see ``storage/audit.py``).

    ``id``, ``prev_hash`` and ``hash`` are set when the entry is flushed or written
    through :func:`ketascreen.storage.audit.append`; database triggers refuse UPDATE
    and DELETE.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The audit chain's newest entry (one row, ``id`` 1): appends lock it first."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class DraftRow(Base):
    """Answers in progress, resumable by a private link until submitted or expired."""

    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answers: Mapped[bytes] = mapped_column(LargeBinary)
    screening_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class UserRow(Base):
    """A staff account. Passwords are argon2id hashes; there is no default password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SessionRow(Base):
    """A staff login session (server side; the cookie holds only a random id)."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginAttempts(Base):
    """Sign-in attempts from one address in one minute (the address stored hashed).

    One row per address and minute, counted up in a single statement, so that every
    server process shares one limit.
    """

    __tablename__ = "login_attempts"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer)


class NoteRow(Base):
    """A staff note, status change or override on a screening (text sealed)."""

    __tablename__ = "screening_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    screening_id: Mapped[str] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(32))
    disposition: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[bytes] = mapped_column(LargeBinary)
