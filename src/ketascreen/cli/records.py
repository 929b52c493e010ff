"""Records and data protection: ``audit``, ``keys``, ``export-person``,
``erase-person``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from ketascreen.cli.common import DbOpt, err, fail, out, settings_for, storage
from ketascreen.errors import Problem

audit_app = typer.Typer(help="The audit log: append-only and hash-chained.")
AnchorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor",
        help="ID:HASH of a head printed by an earlier verify; it must still be in "
        "the chain (repeatable).",
    ),
]


@audit_app.command("verify")
def audit_verify(anchor: AnchorOpt = None, db: DbOpt = None) -> None:
    """Walk the audit chain: exit 0 if intact, 1 naming the first bad entry.

    The run itself is appended to the log (actor "cli", action "audit.verify").
    """
    from sqlalchemy.exc import SQLAlchemyError

    from ketascreen.storage import audit
    from ketascreen.storage.database import make_engine, migrate

    anchors = dict(_anchor(value) for value in anchor or [])
    engine = make_engine(settings_for(db).resolved_database_url)
    try:
        migrate(engine)
        verdict = audit.verify(engine, anchors)
        _record_verify(engine, verdict)
    except SQLAlchemyError as exc:
        fail([Problem("database", str(exc).splitlines()[0])], "Cannot verify:")
    finally:
        engine.dispose()
    if not verdict.intact:
        err.print(f"Audit chain broken: {verdict.problem}.", highlight=False)
        err.print(
            f"{verdict.entries} entries checked out, up to entry {verdict.head_id}.",
            highlight=False,
        )
        raise typer.Exit(1)
    head = f"{verdict.head_id}:{verdict.head_hash}"
    out.print(
        f"{verdict.entries} entries, chain intact, head {verdict.head_hash} "
        f"(entry {verdict.head_id})",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"Record it with your backups; later: ketascreen audit verify --anchor {head}",
        highlight=False,
        soft_wrap=True,
    )


def _anchor(value: str) -> tuple[int, str]:
    entry, _, digest = value.partition(":")
    digest = digest.strip().lower()
    if not (entry.isdigit() and int(entry) > 0 and _is_sha256(digest)):
        fail(
            [
                Problem(
                    "--anchor",
                    f"{value!r} is not ID:HASH (an entry number, a colon and the "
                    "64-character hex hash that verify printed)",
                )
            ],
            "Bad input:",
        )
    return int(entry), digest


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _record_verify(engine: Any, verdict: Any) -> None:
    """Append the verify run to the log; a log that cannot grow is only reported."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import SQLAlchemyError

    from ketascreen.storage import audit

    outcome = (
        f"intact, {verdict.entries} entries"
        if verdict.intact
        else f"broken at entry {verdict.bad_id}"
    )
    entry = {"at": datetime.now(UTC), "actor": "cli", "action": "audit.verify"}
    try:
        with engine.begin() as conn:
            audit.append(conn, [{**entry, "target": "-", "detail": outcome}])
    except (SQLAlchemyError, audit.AuditChainError) as exc:
        err.print(f"Note: this run was not recorded in the log ({exc}).")


keys_app = typer.Typer(
    help="The data keys that seal answers, results and notes at rest (rotation)."
)


def cli_actor() -> str:
    """Who runs the command, for the audit log: ``cli:`` and the OS user."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry
        user = str(os.getuid())
    return f"cli:{user}"


@keys_app.command("status")
def keys_status(db: DbOpt = None) -> None:
    """How many stored values each key seals: a retired key at 0 can be dropped."""
    from ketascreen.storage.crypto import key_id
    from ketascreen.storage.rotation import key_usage, unknown_keys

    with storage(db) as (ring, engine):
        usage = key_usage(engine)
    table = Table("key id", "role", "values sealed")
    table.add_row(
        key_id(ring.current).hex(), "current", str(usage[key_id(ring.current)])
    )
    for key in ring.retired:
        table.add_row(key_id(key).hex(), "retired", str(usage[key_id(key)]))
    for kid, count in unknown_keys(ring, usage).items():
        table.add_row(kid.hex(), "unknown: cannot be opened", str(count))
    out.print(table)
    source = ring.key_file or "KETASCREEN_DATA_KEY / KETASCREEN_RETIRED_DATA_KEYS"
    out.print(f"Keys from {source}.", highlight=False, soft_wrap=True)


@keys_app.command("rotate")
def keys_rotate(
    db: DbOpt = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows re-sealed per transaction.")
    ] = 500,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after this many rows; run again to go on."),
    ] = None,
) -> None:
    """Re-seal every stored value with a new key (key file) or the current one.

    With a key file, a new key is made when every value already has the current one;
    the old key stays as a retired one. Otherwise it finishes an unfinished rotation.
    Restartable: run it again after a crash or a --limit.
    """
    from ketascreen.storage.crypto import key_id
    from ketascreen.storage.rotation import RotationError, rotate

    try:
        with storage(db) as (ring, engine):
            done = rotate(
                ring, engine, actor=cli_actor(), batch_size=batch_size, limit=limit
            )
    except RotationError as exc:
        err.print(f"Not rotated: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    current = key_id(done.ring.current).hex()
    if done.new_key:
        out.print(
            f"New data key {current} written to {done.ring.key_file}; the old key "
            "stays there as a retired key.",
            highlight=False,
            soft_wrap=True,
        )
    rows = done.report.rows
    out.print(
        f"Re-sealed {sum(rows.values())} rows ({done.report.values} values): "
        + ", ".join(
            f"{table} {rows[table]}"
            for table in ("screenings", "drafts", "screening_notes")
        ),
        highlight=False,
    )
    if done.report.skipped:
        out.print(f"{done.report.skipped} rows changed meanwhile and were left.")
    if done.remaining:
        out.print(
            f"{done.remaining} values are still sealed with older keys: run "
            "`ketascreen keys rotate` again to finish.",
            highlight=False,
        )
    elif ring.key_file is None and not sum(rows.values()):
        out.print(
            "Every value is sealed with the current key. To rotate a key set in the "
            "environment: put the new key in KETASCREEN_DATA_KEY and the old one in "
            "KETASCREEN_RETIRED_DATA_KEYS, restart the server, then run this again.",
            highlight=False,
        )
    else:
        out.print(
            f"Every stored value is sealed with key {current}. Restart the server if "
            "it runs; `ketascreen keys drop-retired` removes the retired keys.",
            highlight=False,
        )


@keys_app.command("drop-retired")
def keys_drop_retired(db: DbOpt = None) -> None:
    """Remove retired keys from the key file; refused while any value needs one."""
    from ketascreen.storage.rotation import RotationError, drop_retired

    try:
        with storage(db) as (ring, engine):
            if not ring.retired:
                out.print("There are no retired keys.")
                return
            drop_retired(ring, engine, actor=cli_actor())
    except RotationError as exc:
        err.print(f"Not dropped: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    out.print(
        f"Dropped {len(ring.retired)} retired keys from {ring.key_file}.",
        highlight=False,
    )


def person_export(
    ref: Annotated[str, typer.Argument(help="The clinic's reference for the person.")],
    target: Annotated[Path, typer.Argument(help="The JSON file to write (mode 0600).")],
    db: DbOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the file if it exists.")
    ] = False,
) -> None:
    """Write everything stored about a person (an access request) to one JSON file.

    Exit 1 when no screening has that reference, 2 for a path that cannot be
    written. The export is audited.
    """
    from ketascreen.storage.person import (
        ExportPathError,
        check_export_path,
        export_person,
        write_export,
    )

    try:
        check_export_path(target, force=force)
    except ExportPathError as exc:
        fail([Problem(str(target), str(exc))], "Cannot export:")
    with _repository(db) as repository:
        document = export_person(repository, ref, actor=cli_actor())
    if document is None:
        _nobody(ref, "nothing was exported")
    try:
        write_export(document, target, force=force)
    except ExportPathError as exc:
        fail([Problem(str(target), str(exc))], "Cannot export:")
    out.print(
        f"Exported {len(document['screenings'])} screenings to {target}.",
        highlight=False,
    )


def person_erase(
    ref: Annotated[str, typer.Argument(help="The clinic's reference for the person.")],
    db: DbOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: this cannot be undone.")
    ] = False,
) -> None:
    """Delete a person's screenings, drafts and staff notes (an erasure request).

    Audit entries stay (they hold no health data) and one erasure entry is added.
    Exit 2 without --yes; 1 when no screening has that reference.
    """
    from ketascreen.storage.person import erase_person

    if not yes:
        fail(
            [Problem("--yes", "erasing cannot be undone; give --yes to confirm")],
            "Nothing erased:",
        )
    with _repository(db) as repository:
        counts = erase_person(repository, ref, actor=cli_actor())
    if counts is None:
        _nobody(ref, "nothing was erased")
    out.print(
        "Erased " + ", ".join(f"{n} {what}" for what, n in counts.items()) + ".",
        highlight=False,
    )


@contextmanager
def _repository(db: str | None) -> Iterator[Any]:
    """The screenings' repository on a migrated database, with the data keys."""
    from ketascreen.storage.repository import Repository

    with storage(db) as (ring, engine):
        yield Repository(engine, ring.vault())


def _nobody(ref: str, outcome: str) -> NoReturn:
    err.print(
        f"No screening is stored for the reference {ref!r}; {outcome}.",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(1)
