"""Run ketascreen's migrations as ``serve`` does, and SIGKILL the process mid-way.

Usage: ``python tests/reliability/migrate_and_kill.py`` with a JSON list of jobs
``[[database_url, n], ...]`` on standard input. For each job a forked child opens the
database with :func:`ketascreen.storage.database.make_engine`, runs
:func:`ketascreen.storage.database.migrate` (the upgrade to head that ``serve`` runs
at start) and SIGKILLs itself just before its ``n``-th SQL statement reaches the
database. This process imports everything once and holds no connection or thread when
it forks, so each child starts clean. Prints a JSON list: each child's exit status
(``-9`` when it was killed, ``0`` if the migration finished before statement ``n``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from sqlalchemy import event

from ketascreen.storage.database import make_engine, migrate


def migrate_until(url: str, n: int) -> None:
    """Migrate ``url`` to head; SIGKILL this process before statement ``n``."""
    engine = make_engine(url)
    seen = 0

    def count(*_args: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(engine, "before_cursor_execute", count)
    migrate(engine)


def run(url: str, n: int) -> int:
    """Fork a child for one job; its exit status (negative: killed by that signal)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            migrate_until(url, n)
        except BaseException:  # reported as the child's exit status
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> None:
    """Read the jobs, run each in a child, print their exit statuses as JSON."""
    jobs = json.load(sys.stdin)
    statuses = [run(url, n) for url, n in jobs]
    sys.stdout.write(json.dumps(statuses) + "\n")


if __name__ == "__main__":
    main()
