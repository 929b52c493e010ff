"""The audit log's hash chain: appending entries in one line, and verifying it.

Every entry carries the hash of the entry before it and its own hash::

    hash = SHA-256(prev_hash + "\\n" + canonical entry), as lowercase hex

where the canonical entry is the UTF-8 JSON array ``[id, at, actor, action, target,
detail]`` with no spaces and non-ASCII characters kept, and ``at`` is UTC written as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``. The first entry's ``prev_hash`` is 64 zeros. The
format needs no key, so anyone holding a copy of the database can check it.

Appends are serialised by the one-row ``audit_head`` table (newest id, newest hash).
A transaction that writes entries moves the head first (``UPDATE ... RETURNING``):
on PostgreSQL that takes the row's lock until commit, on SQLite the database's write
lock, so two transactions (threads, processes) can never chain onto the same entry,
and entries and head commit or roll back together. A batch of screenings shares one
head move. Entries added to an ORM session are chained when it flushes
(:func:`_chain_new_entries`); Core writers call :func:`chain` or :func:`append`.
Database triggers (migration 0006) refuse UPDATE and DELETE on ``audit_events``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    String,
    bindparam,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session, UOWTransaction

from ketascreen.storage.orm import AuditEvent, AuditHead

#: The ``prev_hash`` of the first entry.
GENESIS = "0" * 64
#: The primary key of the one ``audit_head`` row.
HEAD_ID = 1
_FIELDS = ("at", "actor", "action", "target", "detail")
_PAGE = 2000  # rows fetched at a time while verifying
# Built once: building a statement costs more than SQLite takes to run it.
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == HEAD_ID)
    .values(last_id=AuditHead.last_id + bindparam("count", type_=Integer))
    .returning(AuditHead.last_id, AuditHead.last_hash)
)
_SET_HEAD_HASH = (
    update(AuditHead)
    .where(AuditHead.id == HEAD_ID)
    .values(last_hash=bindparam("hash", type_=String))
)


class AuditChainError(RuntimeError):
    """The chain cannot be appended to (its head row is missing)."""


def new_entry(actor: str, action: str, target: str, detail: str = "") -> dict[str, Any]:
    """An entry to append (:func:`append`, or a batch writer), stamped now."""
    return {
        "at": datetime.now(UTC),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
    }


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive time (as SQLite returns them) is taken as UTC.

    The storage layer reads its times back through here.
    """
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def utc_text(at: datetime) -> str:
    """``at`` as the chain's canonical encoding writes it."""
    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The hash of one entry (``id``, ``at``, ``actor``, ``action``, ``target``,
    ``detail``) chained after ``prev_hash``."""
    fields = [
        entry["id"],
        utc_text(entry["at"]),
        entry["actor"],
        entry["action"],
        entry["target"],
        entry["detail"],
    ]
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def chain(
    connection: Connection, entries: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Give entries their ids and hashes and move the head past them.

    Call it first in the transaction that writes the entries: moving the head locks
    it until that transaction ends.

    Args:
        connection: the connection of the writing transaction.
        entries: ``at``, ``actor``, ``action``, ``target`` and ``detail`` of each.

    Returns:
        The rows to insert, in order, with ``id``, ``prev_hash`` and ``hash``.

    Raises:
        AuditChainError: there is no head row.
    """
    moved = connection.execute(_MOVE_HEAD, {"count": len(entries)}).one_or_none()
    if moved is None:
        raise AuditChainError("the audit_head row is missing; the log cannot grow")
    last_id, prev = moved
    rows = []
    for entry_id, entry in enumerate(entries, start=last_id - len(entries) + 1):
        row: dict[str, Any] = {name: entry.get(name) for name in _FIELDS}
        row.update(id=entry_id, detail=row["detail"] or "", prev_hash=prev)
        row["at"] = as_utc(row["at"])
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    connection.execute(_SET_HEAD_HASH, {"hash": prev})
    return rows


def append(connection: Connection, entries: Sequence[Mapping[str, Any]]) -> None:
    """Chain and insert entries in the connection's transaction."""
    if entries:
        connection.execute(insert(AuditEvent), chain(connection, entries))


@event.listens_for(Session, "before_flush")
def _chain_new_entries(
    session: Session, _context: UOWTransaction, _instances: object
) -> None:
    """Chain the audit entries a session is about to insert, in the order added."""
    new = [e for e in session.new if isinstance(e, AuditEvent) and e.hash is None]
    if not new:
        return
    fields = [{name: getattr(e, name) for name in _FIELDS} for e in new]
    for entry, row in zip(new, chain(session.connection(), fields), strict=True):
        for name, value in row.items():
            setattr(entry, name, value)


@dataclass(frozen=True)
class Verdict:
    """The result of walking the chain.

    ``head_id`` and ``head_hash`` are the last entry that checked out; ``problem``
    names the first bad entry (``bad_id``) and what is wrong, or is None.
    """

    entries: int
    head_id: int
    head_hash: str
    problem: str | None = None
    bad_id: int | None = None

    @property
    def intact(self) -> bool:
        """Whether every entry, the head and every anchor checked out."""
        return self.problem is None


def verify(engine: Engine, anchors: Mapping[int, str] | None = None) -> Verdict:
    """Walk the whole chain in id order.

    Each entry must follow the one before it (its ``prev_hash``), match its own
    contents (its ``hash``) and, where an anchor names its id, the anchored hash.
    The head row must name the newest entry. Entries appended while the walk runs
    are fine: the head is read before the walk and again after it.

    Args:
        engine: the database.
        anchors: entry id -> hash, heads recorded earlier (e.g. with a backup).

    Returns:
        The verdict.
    """
    pending = dict(anchors or {})
    with engine.connect() as conn:
        head = _read_head(conn)
        if head is None:
            return Verdict(0, 0, GENESIS, "the audit_head row is missing", 0)
        walked = _Walk(head, pending)
        result = conn.execution_options(yield_per=_PAGE).execute(
            select(AuditEvent).order_by(AuditEvent.id)
        )
        broken = walked.run(result)
        result.close()
        if broken is not None:
            return walked.verdict(*_link_problem(conn, broken, walked.last_id))
        if walked.problem is not None:
            return walked.verdict(*walked.problem)
        return walked.verdict(*_end_problem(conn, walked, head, pending))


@dataclass
class _Walk:
    """The state of a walk: the newest good entry so far, and the first problem."""

    head: tuple[int, str]
    anchors: dict[int, str]
    entries: int = 0
    last_id: int = 0
    last_hash: str = GENESIS
    head_seen: bool = False
    problem: tuple[str, int] | None = None

    def run(self, entries: Iterable[Row[Any]]) -> Row[Any] | None:
        """Check entries until the first problem; return the entry whose link broke."""
        self.head_seen = self.head[0] == 0
        for entry in entries:
            if entry.prev_hash != self.last_hash:
                return entry
            self.problem = self._entry_problem(entry)
            if self.problem is not None:
                return None
            self.entries += 1
            self.last_id, self.last_hash = entry.id, entry.hash
        return None

    def _entry_problem(self, entry: Row[Any]) -> tuple[str, int] | None:
        row = {name: getattr(entry, name) for name in ("id", *_FIELDS)}
        if entry_hash(entry.prev_hash, row) != entry.hash:
            problem = f"entry {entry.id} was edited: its contents do not match its hash"
            return problem, entry.id
        anchored = self.anchors.pop(entry.id, None)
        if anchored is not None and anchored != entry.hash:
            return (
                f"entry {entry.id} differs from the anchor recorded for it: the log "
                "was rewritten up to there",
                entry.id,
            )
        if entry.id == self.head[0]:
            self.head_seen = True
            if entry.hash != self.head[1]:
                return (
                    f"head mismatch: entry {entry.id} is the head but its hash is not "
                    "the one the head records",
                    entry.id,
                )
        return None

    def verdict(self, problem: str | None, bad_id: int | None) -> Verdict:
        """The verdict with this walk's figures."""
        return Verdict(self.entries, self.last_id, self.last_hash, problem, bad_id)


def _read_head(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _link_problem(conn: Connection, entry: Row[Any], previous: int) -> tuple[str, int]:
    """Say why ``entry`` does not follow entry ``previous`` (0: the start)."""
    after = f"entry {previous}" if previous else "the start of the log"
    following = select(func.min(AuditEvent.id))
    since = "the start of the log"
    if entry.prev_hash != GENESIS:
        target = conn.scalar(
            select(func.min(AuditEvent.id)).where(AuditEvent.hash == entry.prev_hash)
        )
        if target is None:
            return (
                f"entry {entry.id} does not follow {after}: the entry it was chained "
                f"to is missing (deleted), or {after} was rewritten",
                entry.id,
            )
        if target >= entry.id:
            return (
                f"entry {entry.id} is out of order: it was chained after entry "
                f"{target}, which comes after it",
                entry.id,
            )
        following = following.where(AuditEvent.id > target)
        since = f"entry {target}"
    first: int = conn.scalar(following) or entry.id
    span = (
        f"entry {first} is" if first == previous else f"entries {first}-{previous} are"
    )
    return (
        f"entry {first} was inserted: entry {entry.id} was chained directly after "
        f"{since}, so {span} not part of the chain",
        first,
    )


def _end_problem(
    conn: Connection, walk: _Walk, head: tuple[int, str], anchors: dict[int, str]
) -> tuple[str | None, int | None]:
    """Check the head and the anchors once every entry has checked out."""
    if not walk.head_seen:
        return (
            f"head mismatch: the head records entry {head[0]} but the newest entry is "
            f"{walk.last_id}: the newest entries were deleted",
            walk.last_id + 1,
        )
    now = _read_head(conn)
    if now is not None and walk.last_id > now[0]:
        beyond = conn.scalar(
            select(func.min(AuditEvent.id)).where(AuditEvent.id > now[0])
        )
        return (
            f"entry {beyond} was inserted after the head (entry {now[0]}): it was not "
            "appended through the chain",
            beyond,
        )
    if anchors:
        missing = min(anchors)
        return (
            f"anchor entry {missing} is not in the log (the newest entry is "
            f"{walk.last_id}): it was deleted",
            missing,
        )
    return None, None
