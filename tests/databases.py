"""Real databases for tests: a SQLite file, and a PostgreSQL server the tests start.

The PostgreSQL server is started once per test session with the machine's ``initdb``
and ``pg_ctl`` (run as the ``postgres`` user when the tests run as root, since
PostgreSQL refuses to run as root), listens on loopback only, and is stopped at the end.
Each test gets a fresh database on it. Outage tests start a server of their own with
:func:`postgres_instance` and stop and start it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries (pg_ctl, initdb) are not installed"
        )
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresInstance:
    """One throwaway PostgreSQL server: its URL, and stop/start for outage tests."""

    url: str
    run_as: list[str]
    bindir: Path
    data: Path
    log: Path
    options: str

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl`` on this server's data directory (as its owner)."""
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.pg_ctl("-o", self.options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``immediate`` is a crash (no checkpoint, clients cut)."""
        self.pg_ctl("-m", mode, "-w", "stop")


@contextmanager
def postgres_instance() -> Iterator[PostgresInstance]:
    """Start a throwaway PostgreSQL server; stop and delete it afterwards."""
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="ketascreen-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = base / "data"
    port = _free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "ketascreen",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    instance = PostgresInstance(
        url=f"postgresql://ketascreen@127.0.0.1:{port}/postgres",
        run_as=as_user,
        bindir=bindir,
        data=data,
        log=base / "server.log",
        options=f"-p {port} -k {base} -h 127.0.0.1 -F",
    )
    instance.start()
    try:
        yield instance
    finally:
        with suppress(subprocess.CalledProcessError):  # already stopped
            instance.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yield a URL to its maintenance database."""
    with postgres_instance() as instance:
        yield instance.url


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server and return its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name
