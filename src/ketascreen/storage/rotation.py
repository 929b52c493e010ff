"""Key rotation: re-seal every stored value with the current data key.

A rotation makes a new current key (with a key file; with the key in the environment
the operator sets it), keeps the old key as a retired one, then re-seals every sealed
value in batches, one transaction each, and recomputes each screening's person key
(the keyed hash of its clinic reference) with the new key. A value is re-sealed with
the same context, so it opens to exactly what it held.

It is restartable: re-sealing only picks values that carry another key's id, so
running it again after a crash (or after ``limit``) finishes the job, and every value
stays readable throughout, by the current key or a retired one. Each row is updated
only if its sealed values are still what was read (compare and swap), so a server
writing at the same time never loses a change; such a row is counted as skipped and
re-sealed by the next run if it still needs it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    func,
    or_,
    select,
    update,
)

from ketascreen.storage.crypto import (
    KeyRing,
    Vault,
    key_id,
    sealed_key_id,
    write_key_file,
)
from ketascreen.storage.orm import Base, DraftRow, NoteRow, ScreeningRow
from ketascreen.storage.repository import Repository

#: Rows re-sealed per transaction.
BATCH_SIZE = 500


class RotationError(RuntimeError):
    """A rotation cannot start or go on; the message says why and what to do."""


@dataclass(frozen=True)
class SealedTable:
    """A table with sealed columns, and the column each value's context comes from."""

    orm: type[Base]
    columns: tuple[str, ...]
    context: str

    @property
    def name(self) -> str:
        """The table's name."""
        return str(self.orm.__tablename__)

    def column(self, name: str) -> Any:
        """The ORM column by name."""
        return getattr(self.orm, name)


#: Every sealed value: screenings (answers, result, the note read with them, the clinic
#: reference), drafts' answers, and staff notes (bound to their screening's id).
SEALED = (
    SealedTable(ScreeningRow, ("answers", "result", "note", "person_ref"), "id"),
    SealedTable(DraftRow, ("answers",), "id"),
    SealedTable(NoteRow, ("text",), "screening_id"),
)


@dataclass
class ResealReport:
    """What one pass re-sealed."""

    rows: Counter[str] = field(default_factory=Counter)  # table name -> rows
    values: int = 0
    skipped: int = 0  # rows changed by someone else meanwhile


@dataclass(frozen=True)
class Rotation:
    """The outcome of :func:`rotate`."""

    ring: KeyRing  # the keyring now in use
    new_key: bool  # a new current key was made (key file)
    report: ResealReport
    remaining: int  # values still sealed with another key than the current one


def key_usage(engine: Engine) -> Counter[bytes]:
    """How many stored values each key id seals, over every sealed column."""
    usage: Counter[bytes] = Counter()
    with engine.connect() as conn:
        for table in SEALED:
            for name in table.columns:
                sealed_by = func.substr(table.column(name), 3, 8)
                query = (
                    select(sealed_by, func.count())
                    .where(table.column(name).is_not(None))
                    .group_by(sealed_by)
                )
                for kid, count in conn.execute(query):
                    usage[bytes(kid)] += count
    return usage


def unknown_keys(ring: KeyRing, usage: Counter[bytes]) -> dict[bytes, int]:
    """Key ids in use that no key of the ring has (those values cannot be opened)."""
    known = {key_id(k) for k in (ring.current, *ring.retired)}
    return {kid: n for kid, n in usage.items() if kid not in known}


def rotate(
    ring: KeyRing,
    engine: Engine,
    *,
    actor: str,
    batch_size: int = BATCH_SIZE,
    limit: int | None = None,
) -> Rotation:
    """Rotate to a new key (key file) or to the current one, and re-seal everything.

    With a key file and every value already sealed with its current key, a new key
    is made and written first (the old one kept as retired). When some values still
    carry an older key, a rotation was left unfinished: it is finished with the
    current key, and no new key is made.

    Args:
        ring: the keyring as loaded.
        engine: the database (migrated).
        actor: who rotates, for the audit log.
        batch_size: rows per transaction.
        limit: stop after re-sealing this many rows (run again to go on).

    Returns:
        The keyring in use afterwards, what was re-sealed and what remains.

    Raises:
        RotationError: some values were sealed with a key not in the ring.
    """
    usage = key_usage(engine)
    _refuse_unknown(ring, usage)
    new_key = False
    if ring.key_file is not None and _stale(ring, usage) == 0:
        ring = KeyRing(
            AESGCM.generate_key(bit_length=256),
            (ring.current, *ring.retired),
            ring.key_file,
        )
        write_key_file(ring)  # first: every value sealed from now on needs it
        new_key = True
    repository = Repository(engine, ring.vault())
    report = reseal(repository, batch_size=batch_size, limit=limit)
    remaining = _stale(ring, key_usage(engine))
    repository.audit(
        actor,
        "keys.rotate",
        "keys",
        f"current key {key_id(ring.current).hex()}"
        + (" (new)" if new_key else "")
        + f"; {sum(report.rows.values())} rows re-sealed; "
        f"{remaining} values still sealed with older keys",
    )
    return Rotation(ring, new_key, report, remaining)


def retired_in_use(ring: KeyRing, engine: Engine) -> dict[bytes, int]:
    """How many stored values each retired key still seals (only those above 0)."""
    usage = key_usage(engine)
    return {key_id(k): usage[key_id(k)] for k in ring.retired if usage[key_id(k)]}


def drop_retired(ring: KeyRing, engine: Engine, *, actor: str) -> KeyRing:
    """Remove the retired keys from the key file, once no stored value needs them.

    Raises:
        RotationError: a value still needs a retired key, or the keys come from the
            environment (the operator removes them there).
    """
    needed = retired_in_use(ring, engine)
    if needed:
        raise RotationError(
            "retired keys still seal stored values ("
            + ", ".join(f"{kid.hex()}: {n}" for kid, n in needed.items())
            + "); run `ketascreen keys rotate` to finish re-sealing them first"
        )
    if ring.key_file is None:
        raise RotationError(
            "the keys come from the environment: no stored value needs the retired "
            "keys, so remove KETASCREEN_RETIRED_DATA_KEYS there"
        )
    kept = KeyRing(ring.current, (), ring.key_file)
    write_key_file(kept)
    Repository(engine, kept.vault()).audit(
        actor,
        "keys.drop_retired",
        "keys",
        "dropped " + ", ".join(key_id(k).hex() for k in ring.retired),
    )
    return kept


def reseal(
    repository: Repository,
    *,
    batch_size: int = BATCH_SIZE,
    limit: int | None = None,
) -> ResealReport:
    """Re-seal, with the current key, every value sealed with another one.

    Args:
        repository: storage with the keyring (current key and the retired ones).
        batch_size: rows per transaction.
        limit: stop after re-sealing this many rows.

    Returns:
        What was re-sealed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ResealReport()
    for table in SEALED:
        after: Any = None
        while True:
            done = sum(report.rows.values())
            size = batch_size if limit is None else min(batch_size, limit - done)
            if size <= 0:
                return report
            with repository.engine.begin() as conn:
                rows = _stale_rows(conn, table, repository.vault, after, size)
                for row in rows:
                    _reseal_row(conn, repository, table, row, report)
            if not rows:
                break
            after = rows[-1].pk
    return report


def _stale_rows(
    conn: Connection, table: SealedTable, vault: Vault, after: Any, size: int
) -> list[Any]:
    """The next rows (by primary key) with a value sealed with another key."""
    key = table.orm.__mapper__.primary_key[0]
    stale = or_(
        *(func.substr(table.column(c), 3, 8) != vault.key_id for c in table.columns)
    )
    query = select(
        key.label("pk"),
        table.column(table.context).label("context"),
        *(table.column(c).label(c) for c in table.columns),
    )
    query = query.where(stale)
    if after is not None:
        query = query.where(key > after)
    return list(conn.execute(query.order_by(key).limit(size)))


def _reseal_row(
    conn: Connection,
    repository: Repository,
    table: SealedTable,
    row: Any,
    report: ResealReport,
) -> None:
    """Re-seal one row's stale values if nobody changed them since they were read."""
    vault = repository.vault
    context = str(row.context).encode()
    key = table.orm.__mapper__.primary_key[0]
    sealed = {name: row._mapping[name] for name in table.columns}
    values: dict[str, Any] = {}
    unchanged: list[ColumnElement[bool]] = [key == row.pk]
    for name, blob in sealed.items():
        column = table.column(name)
        unchanged.append(column.is_(None) if blob is None else column == blob)
        if blob is not None and sealed_key_id(blob) != vault.key_id:
            values[name] = _reseal_value(vault, table, name, row.pk, blob, context)
    resealed = len(values)
    if table.orm is ScreeningRow and sealed["person_ref"] is not None:
        reference = vault.open(bytes(sealed["person_ref"]), context)
        values["person_key"] = repository.person_key(reference)
    done = conn.execute(update(table.orm).where(and_(*unchanged)).values(**values))
    if done.rowcount != 1:
        report.skipped += 1
        return
    report.rows[table.name] += 1
    report.values += resealed


def _reseal_value(
    vault: Vault, table: SealedTable, name: str, primary: Any, blob: Any, context: bytes
) -> bytes:
    try:
        return vault.reseal(bytes(blob), context)
    except InvalidTag as exc:
        raise RotationError(
            f"{table.name}.{name} of row {primary} does not open with its key: it was "
            "changed outside ketascreen; restore that row from a backup"
        ) from exc


def _refuse_unknown(ring: KeyRing, usage: Counter[bytes]) -> None:
    unknown = unknown_keys(ring, usage)
    if unknown:
        raise RotationError(
            "some stored values were sealed with a key that is neither the current "
            "nor a retired one ("
            + ", ".join(f"key id {kid.hex()}: {n} values" for kid, n in unknown.items())
            + "); add that key as a retired key (docs/deployment.md) and run again"
        )


def _stale(ring: KeyRing, usage: Counter[bytes]) -> int:
    current = key_id(ring.current)
    return sum(n for kid, n in usage.items() if kid != current)
