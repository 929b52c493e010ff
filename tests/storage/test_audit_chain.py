"""The audit log: one hash chain through every writer, append-only in the database.

Tampering is done as an attacker with database access would: drop the triggers with
raw SQL, then change rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from tests.helpers import run
from typer.testing import CliRunner

from ketascreen.cli import app as cli_app
from ketascreen.config import Settings
from ketascreen.storage.audit import GENESIS, Verdict, entry_hash, verify
from ketascreen.storage.crypto import Vault
from ketascreen.storage.database import downgrade, make_engine, migrate
from ketascreen.storage.orm import AuditEvent
from ketascreen.storage.repository import Repository
from ketascreen.storage.staff import StaffStore
from ketascreen.web.app import create_app

PASSWORD = "correct horse battery"
INTACT = re.compile(
    r"^(\d+) entries, chain intact, head ([0-9a-f]{64}) \(entry (\d+)\)"
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database, disposed of afterwards."""
    url = Settings(database_url=database_url).resolved_database_url
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def repo(engine: Engine) -> Repository:
    """A repository on the test database."""
    return Repository(engine, Vault(os.urandom(32)))


def logged(repo: Repository, count: int) -> None:
    """Append ``count`` entries through :meth:`Repository.audit`."""
    for n in range(count):
        repo.audit("tester", "test.entry", f"t{n}", f"entry {n}")


def entries(engine: Engine) -> list[Any]:
    """Every stored entry, in id order."""
    with engine.connect() as conn:
        return list(conn.execute(select(AuditEvent).order_by(AuditEvent.id)))


Statement = str | tuple[str, dict[str, Any]]


def tamper(engine: Engine, *statements: Statement) -> None:
    """Drop the append-only triggers with raw SQL, then run ``statements``
    (SQL, or SQL and its parameters)."""
    if engine.dialect.name == "postgresql":
        drop = ["DROP TRIGGER audit_events_no_change ON audit_events"]
    else:
        drop = [
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ]
    with engine.begin() as conn:
        for statement in (*drop, *statements):
            sql, params = (statement, {}) if isinstance(statement, str) else statement
            conn.execute(text(sql), params)


def broken(verdict: Verdict, bad_id: int, *words: str) -> None:
    """The verdict names ``bad_id`` as the first bad entry, in the given words."""
    assert not verdict.intact
    assert verdict.bad_id == bad_id, verdict
    for word in words:
        assert word in (verdict.problem or ""), verdict.problem


class TestAppPaths:
    """Entries written through the real app form one intact chain."""

    def test_api_and_staff_actions(self, database_url: str, tmp_path: Path) -> None:
        """Submissions (group commit), token reads, sign-in and staff actions chain."""
        key = base64.b64encode(os.urandom(32)).decode()
        settings = Settings(database_url=database_url, data_dir=tmp_path, data_key=key)
        with TestClient(create_app(settings)) as client:
            state = client.app.state.ketascreen  # type: ignore[attr-defined]
            store: StaffStore = state.staff
            ids, tokens = [], []
            for age in (30, 40, 50):
                body = client.post(
                    "/api/v1/screenings", json={"answers": {"age": age}}
                ).json()
                ids.append(body["id"])
                tokens.append(body["access_token"])
            read = client.get(
                f"/api/v1/screenings/{ids[0]}",
                headers={"Authorization": f"Bearer {tokens[0]}"},
            )
            assert read.status_code == 200
            store.add_user("doc@clinic.test", "Doc", "clinician", PASSWORD)
            login = client.post(
                "/staff/login", data={"email": "doc@clinic.test", "password": PASSWORD}
            )
            assert login.status_code in (200, 303)
            assert client.get("/staff").status_code == 200
            doctor = store.users()[0]
            store.set_status(doctor, ids[1], "in_review", "called")
            store.override(doctor, ids[2], "prepare_first", "history reviewed again")
            verdict = verify(state.repository.engine)
            stored = entries(state.repository.engine)
        assert verdict.intact, verdict.problem
        assert verdict.entries == len(stored)
        assert (verdict.head_id, verdict.head_hash) == (stored[-1].id, stored[-1].hash)
        actions = [e.action for e in stored]
        for action in (
            "screening.create",
            "screening.read",
            "user.create",
            "login.ok",
            "queue.view",
            "screening.status",
            "screening.override",
        ):
            assert action in actions
        assert [e.id for e in stored] == list(range(1, len(stored) + 1))


class TestConcurrency:
    """Appends from many threads and connection pools stay one line."""

    @pytest.mark.parametrize("engines", [1, 2])
    def test_threads(self, database_url: str, engines: int) -> None:
        """Threads mixing batch writes, single entries and sign-ins keep one chain.

        With two engines the threads share no connection pool, like two server
        processes.
        """
        url = Settings(database_url=database_url).resolved_database_url
        pool = [make_engine(url) for _ in range(engines)]
        migrate(pool[0])
        vault = Vault(os.urandom(32))
        repos = [Repository(e, vault) for e in pool]
        admin = StaffStore(repos[0]).add_user("a@clinic.test", "A", "admin", PASSWORD)
        result = run({"age": 40})
        errors: list[BaseException] = []

        def work(n: int) -> None:
            repo = repos[n % engines]
            staff = StaffStore(repo)
            try:
                staff.login("a@clinic.test", "wrong password!")
                for i in range(6):
                    batch = [repo.prepare(answers={}, result=result) for _ in range(3)]
                    repo.write(batch)
                    repo.audit(f"thread{n}", "test.entry", f"{n}-{i}")
                    staff.queue(admin, limit=1)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        verdict = verify(pool[0])
        stored = entries(pool[0])
        for engine in pool:
            engine.dispose()
        assert verdict.intact, verdict.problem
        # user.create + 8 threads x (1 login + 6 rounds x (3 creates + 2 entries))
        assert verdict.entries == len(stored) == 1 + 8 * (1 + 6 * 5)
        assert [e.id for e in stored] == list(range(1, len(stored) + 1))


class TestTampering:
    """verify names the first bad entry and what is wrong with it."""

    def test_intact(self, repo: Repository) -> None:
        """An untouched log checks out, and the head is the newest entry."""
        logged(repo, 5)
        verdict = verify(repo.engine)
        assert verdict.intact
        assert verdict.entries == 5
        assert verdict.head_hash == entries(repo.engine)[-1].hash

    def test_documented_format(self, repo: Repository) -> None:
        """Hashes follow the format in audit.py's docstring, checkable without ketascreen."""
        repo.audit("tester", "test.entry", "t1", "déjà vu")
        logged(repo, 1)
        first, second = entries(repo.engine)
        at = first.at.replace(tzinfo=UTC) if first.at.tzinfo is None else first.at
        when = f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}Z"
        fields = [1, when, "tester", "test.entry", "t1", "déjà vu"]
        encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        expected = hashlib.sha256(f"{'0' * 64}\n{encoded}".encode()).hexdigest()
        assert (first.prev_hash, first.hash) == ("0" * 64, expected)
        assert second.prev_hash == first.hash

    def test_edited_entry(self, repo: Repository) -> None:
        """A changed field no longer matches the entry's hash."""
        logged(repo, 6)
        tamper(repo.engine, "UPDATE audit_events SET detail = 'nothing' WHERE id = 3")
        broken(verify(repo.engine), 3, "entry 3 was edited")

    def test_edited_and_rehashed(self, repo: Repository) -> None:
        """An edit whose hash is recomputed breaks the next entry's link."""
        logged(repo, 6)
        row = entries(repo.engine)[2]
        forged = entry_hash(
            row.prev_hash,
            {**row._mapping, "actor": "someone else"},
        )
        tamper(
            repo.engine,
            (
                "UPDATE audit_events SET actor = 'someone else', hash = :hash "
                "WHERE id = 3",
                {"hash": forged},
            ),
        )
        broken(verify(repo.engine), 4, "entry 4 does not follow entry 3", "rewritten")

    def test_deleted_middle_entry(self, repo: Repository) -> None:
        """The entry after a deleted one is chained to an entry that is not there."""
        logged(repo, 6)
        tamper(repo.engine, "DELETE FROM audit_events WHERE id = 3")
        broken(verify(repo.engine), 4, "entry 4 does not follow entry 2", "missing")

    def test_deleted_tail(self, repo: Repository) -> None:
        """Deleting the newest entries leaves the head naming an entry that is gone."""
        logged(repo, 6)
        tamper(repo.engine, "DELETE FROM audit_events WHERE id >= 5")
        verdict = verify(repo.engine)
        broken(verdict, 5, "head mismatch", "newest entries were deleted")
        assert verdict.entries == 4

    def test_swapped_pair(self, repo: Repository) -> None:
        """Two entries that trade places are out of order."""
        logged(repo, 6)
        tamper(
            repo.engine,
            "UPDATE audit_events SET id = -3 WHERE id = 3",
            "UPDATE audit_events SET id = 3 WHERE id = 4",
            "UPDATE audit_events SET id = 4 WHERE id = -3",
        )
        broken(verify(repo.engine), 3, "entry 3 is out of order", "entry 4")

    def test_inserted_entry(self, repo: Repository) -> None:
        """An entry slipped in before the first one, correctly hashed, is found."""
        logged(repo, 4)
        forged = {
            "id": -1,
            "at": datetime.now(UTC),
            "actor": "intruder",
            "action": "test.entry",
            "target": "-",
            "detail": "",
        }
        digest = entry_hash(GENESIS, forged)
        with repo.engine.begin() as conn:
            conn.execute(
                insert(AuditEvent),
                [{**forged, "prev_hash": GENESIS, "hash": digest}],
            )
        broken(verify(repo.engine), -1, "entry -1 was inserted", "start of the log")

    def test_appended_outside_the_chain(self, repo: Repository) -> None:
        """An entry chained onto the newest one without moving the head is found."""
        logged(repo, 4)
        last = entries(repo.engine)[-1]
        forged = {
            "id": 5,
            "at": datetime.now(UTC),
            "actor": "intruder",
            "action": "test.entry",
            "target": "-",
            "detail": "",
        }
        with repo.engine.begin() as conn:
            conn.execute(
                insert(AuditEvent),
                [
                    {
                        **forged,
                        "prev_hash": last.hash,
                        "hash": entry_hash(last.hash, forged),
                    }
                ],
            )
        broken(verify(repo.engine), 5, "entry 5 was inserted after the head")

    def test_anchor_catches_a_rewritten_log(self, repo: Repository) -> None:
        """A log rewritten with fresh hashes checks out alone, but not against an anchor."""
        logged(repo, 4)
        anchor = verify(repo.engine)
        rows = entries(repo.engine)
        prev, updates = GENESIS, list[Statement]()
        for row in rows:
            fields = {**row._mapping}
            if row.id == 2:
                fields["detail"] = "rewritten"
            digest = entry_hash(prev, fields)
            updates.append(
                (
                    "UPDATE audit_events SET detail = :detail, prev_hash = :prev, "
                    "hash = :hash WHERE id = :id",
                    {
                        "detail": fields["detail"],
                        "prev": prev,
                        "hash": digest,
                        "id": row.id,
                    },
                )
            )
            prev = digest
        updates.append(("UPDATE audit_head SET last_hash = :hash", {"hash": prev}))
        tamper(repo.engine, *updates)
        assert verify(repo.engine).intact
        broken(
            verify(repo.engine, {anchor.head_id: anchor.head_hash}),
            anchor.head_id,
            f"entry {anchor.head_id} differs from the anchor",
        )

    def test_anchor_still_in_chain(self, repo: Repository) -> None:
        """An earlier head stays valid as the log grows; one past the end is missing."""
        logged(repo, 3)
        earlier = verify(repo.engine)
        logged(repo, 3)
        assert verify(repo.engine, {earlier.head_id: earlier.head_hash}).intact
        broken(verify(repo.engine, {99: earlier.head_hash}), 99, "anchor entry 99")

    def test_head_row_deleted(self, repo: Repository) -> None:
        """Without its head row the chain cannot be checked or grown."""
        logged(repo, 2)
        drop = "DROP TRIGGER audit_head_no_delete"
        if repo.engine.dialect.name == "postgresql":
            drop += " ON audit_head"
        tamper(repo.engine, drop, "DELETE FROM audit_head")
        broken(verify(repo.engine), 0, "audit_head row is missing")


class TestAppendOnly:
    """The database itself refuses changes to the log."""

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_events SET detail = 'x' WHERE id = 1",
            "DELETE FROM audit_events WHERE id = 1",
            "DELETE FROM audit_events",
            "DELETE FROM audit_head",
        ],
    )
    def test_refused(self, repo: Repository, statement: str) -> None:
        """UPDATE and DELETE fail and change nothing; the head cannot be deleted."""
        logged(repo, 2)
        before = entries(repo.engine)
        refused = re.escape("refused (the audit log is append-only)")
        with pytest.raises(DBAPIError, match=refused), repo.engine.begin() as conn:
            conn.execute(text(statement))
        assert entries(repo.engine) == before
        assert verify(repo.engine).intact

    def test_truncate_refused_on_postgresql(self, repo: Repository) -> None:
        """TRUNCATE skips row triggers, so PostgreSQL has a statement trigger for it."""
        if repo.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no TRUNCATE")
        logged(repo, 1)
        refused = "audit_events: TRUNCATE refused"
        with pytest.raises(DBAPIError, match=refused), repo.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events"))

    def test_unchained_insert_refused(self, repo: Repository) -> None:
        """An entry written around the chain (no hashes) is refused."""
        row = {"at": datetime.now(UTC), "actor": "x", "action": "y", "target": "z"}
        with pytest.raises(DBAPIError), repo.engine.begin() as conn:
            conn.execute(insert(AuditEvent), [{**row, "detail": ""}])


class TestMigration:
    """0006 chains the entries already stored, and downgrades cleanly."""

    def test_chains_existing_entries(self, database_url: str) -> None:
        """Entries written before 0006 are chained in id order; down and up again."""
        url = Settings(database_url=database_url).resolved_database_url
        engine = make_engine(url)
        migrate(engine, "0005")
        with engine.begin() as conn:
            for n in (1, 2, 3):
                conn.execute(
                    text(
                        "INSERT INTO audit_events (at, actor, action, target, detail) "
                        "VALUES (:at, 'old', 'old.entry', :t, 'ümlaut ✓')"
                    ),
                    {"at": datetime(2025, 1, n, 9, 30, 0, 123456, UTC), "t": f"t{n}"},
                )
        migrate(engine)
        first = verify(engine)
        assert first.intact
        assert first.entries == 3
        downgrade(engine, "0005")
        with engine.begin() as conn:  # no triggers, no hash columns any more
            conn.execute(text("UPDATE audit_events SET detail = '' WHERE id = 3"))
            assert "audit_head" not in _tables(conn)
        migrate(engine)
        again = verify(engine)
        assert again.intact
        assert again.entries == 3
        assert again.head_hash != first.head_hash  # entry 3 changed while unguarded
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
        engine.dispose()


def _tables(conn: Any) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


class TestVerifyCommand:
    """``ketascreen audit verify``: exit codes, messages, the run itself audited."""

    def invoke(self, *args: str) -> Any:
        return CliRunner().invoke(cli_app, ["audit", "verify", *args])

    def test_intact_then_recorded(self, repo: Repository, database_url: str) -> None:
        """Exit 0 with the count and head; the run is the log's next entry."""
        logged(repo, 3)
        done = self.invoke("--db", database_url)
        assert done.exit_code == 0, done.output
        match = INTACT.match(done.stdout)
        assert match is not None, done.stdout
        assert match.group(1) == "3"
        assert match.group(3) == "3"
        newest = entries(repo.engine)[-1]
        assert (newest.actor, newest.action, newest.detail) == (
            "cli",
            "audit.verify",
            "intact, 3 entries",
        )
        anchor = f"{match.group(3)}:{match.group(2)}"
        again = self.invoke("--db", database_url, "--anchor", anchor)
        assert again.exit_code == 0, again.output
        assert again.stdout.startswith("4 entries, chain intact")

    def test_broken_exit_1(self, repo: Repository, database_url: str) -> None:
        """Exit 1 naming the first bad entry; the failed run is recorded too."""
        logged(repo, 4)
        tamper(repo.engine, "DELETE FROM audit_events WHERE id = 2")
        done = self.invoke("--db", database_url)
        assert done.exit_code == 1
        assert "Audit chain broken: entry 3 does not follow entry 1" in done.stderr
        with repo.engine.connect() as conn:
            detail = conn.scalar(
                select(AuditEvent.detail).where(
                    AuditEvent.id == select(func.max(AuditEvent.id)).scalar_subquery()
                )
            )
        assert detail == "broken at entry 3"

    def test_wrong_anchor_exit_1(self, repo: Repository, database_url: str) -> None:
        """An anchor whose hash is not in the chain fails the check."""
        logged(repo, 2)
        done = self.invoke("--db", database_url, "--anchor", f"2:{'ab' * 32}")
        assert done.exit_code == 1
        assert "entry 2 differs from the anchor" in done.stderr

    @pytest.mark.parametrize("anchor", ["7", "x:" + "a" * 64, "3:abc", "0:" + "a" * 64])
    def test_bad_anchor_exit_2(self, database_url: str, anchor: str) -> None:
        """A malformed anchor is bad input, named as such."""
        done = self.invoke("--db", database_url, "--anchor", anchor)
        assert done.exit_code == 2
        assert "--anchor" in done.stderr
        assert "ID:HASH" in done.stderr
