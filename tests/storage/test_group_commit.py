"""Group commit: concurrent submissions and audit entries share transactions, and
nothing is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError
from tests.helpers import run

from ketascreen.storage import audit
from ketascreen.storage.crypto import Vault
from ketascreen.storage.database import make_engine, migrate
from ketascreen.storage.group_commit import GroupWriter
from ketascreen.storage.repository import Entry, Prepared, Repository


@pytest.fixture
def repo(database_url: str) -> Iterator[Repository]:
    """A migrated repository on a real database, closed afterwards."""
    engine = make_engine(database_url)
    migrate(engine)
    yield Repository(engine, Vault(os.urandom(32)))
    engine.dispose()


class TestGroupWriter:
    """Batches are all-or-nothing per item; every acknowledged screening is stored."""

    def test_concurrent_submissions_all_stored(self, repo: Repository) -> None:
        """Fifty concurrent submissions are all committed, in fewer transactions."""
        writer = GroupWriter(repo)
        result = run({"age": 40})
        calls: list[int] = []
        original = repo.write

        def counting(batch: list[Prepared], entries: list[Entry] | None = None) -> None:
            calls.append(len(batch))
            original(batch, entries)

        repo.write = counting  # type: ignore[method-assign]

        async def main() -> None:
            prepared = [
                repo.prepare(answers={"age": 40}, result=result) for _ in range(50)
            ]
            await asyncio.gather(*(writer.submit(p) for p in prepared))
            await writer.close()

        asyncio.run(main())
        assert repo.count() == 50
        assert sum(calls) == 50
        assert len(calls) < 50

    def test_audit_entries_join_the_batches(self, repo: Repository) -> None:
        """Audit entries of reads share transactions with submissions; each is
        committed, in the one chain, by the time its ``audit`` call returns."""
        writer = GroupWriter(repo)
        result = run({"age": 40})
        calls: list[int] = []
        original = repo.write

        def counting(batch: list[Prepared], entries: list[Entry] | None = None) -> None:
            calls.append(len(batch) + len(entries or []))
            original(batch, entries)

        repo.write = counting  # type: ignore[method-assign]
        committed: list[bool] = []

        async def read(n: int) -> None:
            target = f"read-{n}"
            await writer.audit(audit.new_entry("person", "screening.read", target))
            committed.append(bool(repo.audit_events(target)))  # another connection

        async def main() -> None:
            prepared = [repo.prepare(answers={}, result=result) for _ in range(20)]
            await asyncio.gather(
                *(writer.submit(p) for p in prepared), *(read(n) for n in range(20))
            )
            await writer.close()

        asyncio.run(main())
        assert committed == [True] * 20
        assert repo.count() == 20
        assert sum(calls) == 40
        assert len(calls) < 40
        verdict = audit.verify(repo.engine)
        assert verdict.intact, verdict.problem
        assert verdict.entries == 40

    def test_lone_read_entry_written_at_once(self, repo: Repository) -> None:
        """With nothing waiting or being written, a read's entry is written on the
        event loop's thread (no trip to a worker); a submission still goes to one."""
        import threading

        writer = GroupWriter(repo)
        threads: list[str] = []
        original = repo.write

        def recording(
            batch: list[Prepared], entries: list[Entry] | None = None
        ) -> None:
            threads.append(threading.current_thread().name)
            original(batch, entries)

        repo.write = recording  # type: ignore[method-assign]

        async def main() -> str:
            await writer.audit(audit.new_entry("person", "screening.read", "lone"))
            await writer.submit(repo.prepare(answers={}, result=run({"age": 40})))
            await writer.close()
            return threading.current_thread().name

        loop_thread = asyncio.run(main())
        assert threads[0] == loop_thread
        assert threads[1] != loop_thread
        assert [e.action for e in repo.audit_events("lone")] == ["screening.read"]

    def test_duplicate_fails_alone(self, repo: Repository) -> None:
        """A duplicate id in a batch fails only that submission."""
        writer = GroupWriter(repo)
        result = run({"age": 40})
        first = repo.prepare(answers={}, result=result)
        clash = dataclasses.replace(
            repo.prepare(answers={}, result=result),
            values={**first.values},
            audit={**first.audit},
        )
        others = [repo.prepare(answers={}, result=result) for _ in range(5)]

        async def main() -> list[object]:
            outcomes: list[object] = await asyncio.gather(
                *(writer.submit(p) for p in [first, clash, *others]),
                return_exceptions=True,
            )
            await writer.close()
            return outcomes

        outcomes = asyncio.run(main())
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failures) == 1
        assert isinstance(failures[0], IntegrityError)
        assert repo.count() == 6

    def test_failed_batch_writes_nothing(self, repo: Repository) -> None:
        """If the audit insert fails, no screening of the batch is kept; all get the
        error, the reader whose entry it was included (it must not see the screening)."""
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        with repo.engine.begin() as conn:
            conn.execute(text("DROP TABLE audit_events"))
        writer = GroupWriter(repo)
        result = run({"age": 40})

        async def main() -> list[object]:
            prepared = [repo.prepare(answers={}, result=result) for _ in range(3)]
            outcomes: list[object] = await asyncio.gather(
                *(writer.submit(p) for p in prepared),
                writer.audit(audit.new_entry("person", "screening.read", "x")),
                return_exceptions=True,
            )
            await writer.close()
            return outcomes

        outcomes = asyncio.run(main())
        assert len(outcomes) == 4
        assert all(isinstance(o, DBAPIError) for o in outcomes), outcomes
        assert repo.count() == 0
