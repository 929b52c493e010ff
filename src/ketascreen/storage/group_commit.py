"""Group commit: concurrent submissions share one transaction.

Each request prepares (seals) its screening, hands it to the writer and waits. The
writer takes everything waiting, writes it in one transaction in a worker thread, and
only then answers each request. A submission is acknowledged only after its commit, so
nothing acknowledged can be lost; if a batch fails on a duplicate key, its items are
retried one by one so only the duplicate fails.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.exc import IntegrityError

from ketascreen.storage.repository import Prepared, Repository

MAX_BATCH = 64


class GroupWriter:
    """Batches concurrent :meth:`Repository.write` calls."""

    def __init__(self, repository: Repository, max_batch: int = MAX_BATCH) -> None:
        self.repository = repository
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Prepared, asyncio.Future[None]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def submit(self, prepared: Prepared) -> None:
        """Write one prepared screening; returns once it is committed (or raises)."""
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((prepared, future))
        await future

    async def close(self) -> None:
        """Stop the writer (pending submissions were already answered)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(
        self, queue: asyncio.Queue[tuple[Prepared, asyncio.Future[None]]]
    ) -> None:
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < self.max_batch:
                batch.append(queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[tuple[Prepared, asyncio.Future[None]]]) -> None:
        try:
            await asyncio.to_thread(self.repository.write, [p for p, _ in batch])
        except IntegrityError:
            for prepared, future in batch:
                try:
                    await asyncio.to_thread(self.repository.write, [prepared])
                except Exception as exc:
                    _settle(future, exc)
                else:
                    _settle(future, None)
            return
        except Exception as exc:
            for _, future in batch:
                _settle(future, exc)
            return
        for _, future in batch:
            _settle(future, None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the request went away (e.g. the client disconnected)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
