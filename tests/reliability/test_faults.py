"""Fault tests with real processes: nothing acknowledged is lost, nothing is half-written.

Each test runs the real server (``ketascreen serve``, started by tests/servers.py) or the
real migration code in its own process, and breaks it for real: SIGKILL mid-burst, the
PostgreSQL server stopped with ``pg_ctl stop -m immediate``, a file-size limit on the
server process (a full disk), a read-only database file, SIGKILL at a chosen statement of
a migration. Afterwards the database is opened again and checked whole:
:func:`check_store` decrypts every row and matches screenings, audit entries and drafts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import make_url

from ketascreen.config import normalise_database_url
from ketascreen.domain.outcome import ScreeningResult
from ketascreen.rules.loader import Content
from ketascreen.screening import screen
from ketascreen.storage import audit
from ketascreen.storage.crypto import Vault
from ketascreen.storage.database import alembic_config, downgrade, make_engine, migrate
from ketascreen.storage.repository import Repository
from tests.databases import PostgresInstance, fresh_database, postgres_instance
from tests.servers import (
    Server,
    free_port,
    running_server,
    server_env,
    start_server,
)

log = logging.getLogger(__name__)

#: Answers every submission shares; each one varies age, blood pressure and PHQ-9.
BASE_ANSWERS: dict[str, Any] = {
    "sex_at_birth": "female",
    "phq9_9": 0,
    "pregnant": "no",
    "breastfeeding": "no",
    "heart_conditions": ["high_bp"],
    "htn_controlled": "yes",
    "bp_diastolic": 86,
    "medication_classes": ["antidepressant"],
    "ketamine_allergy": "no",
    **{f"gad7_{n}": 1 for n in range(1, 8)},
}


def answers_for(n: int) -> dict[str, Any]:
    """Distinct valid answers for submission ``n``."""
    return {
        **BASE_ANSWERS,
        "age": 18 + n % 70,
        "bp_systolic": 110 + n % 60,
        **{f"phq9_{i}": (n + i) % 4 for i in range(1, 9)},
    }


@dataclass(frozen=True)
class Ack:
    """A submission the server acknowledged: what was sent and what it answered."""

    id: str
    token: str
    answers: dict[str, Any]
    result: dict[str, Any] | None  # None for a person's form (the answer is a redirect)
    draft_token: str | None = None


@dataclass(frozen=True)
class StoreReport:
    """What :func:`check_store` found."""

    screenings: int
    audit_creates: int
    drafts: int
    ids: frozenset[str]


# --- the database, opened directly ------------------------------------------------


@pytest.fixture
def data_key() -> str:
    """A fresh data key (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database on the session server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'ketascreen.db'}"
    server: str = request.getfixturevalue("postgres")
    return fresh_database(server)


@pytest.fixture
def opened(db_url: str) -> Iterator[Engine]:
    """An engine on the test database, for checking it from outside the server."""
    engine = make_engine(normalise_database_url(db_url))
    yield engine
    engine.dispose()


def check_store(engine: Engine, key: str) -> StoreReport:
    """Check the whole store: every row opens, every screening has its audit entry.

    Raises AssertionError on a row that does not decrypt, a screening without exactly
    one ``screening.create`` entry, such an entry without its screening, a draft that
    points at a missing screening, a broken audit chain, or (SQLite) a failed
    ``PRAGMA integrity_check``.
    """
    vault = Vault(base64.b64decode(key))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, answers, result, person_ref, note FROM screenings")
        ).all()
        creates = conn.execute(
            text(
                "SELECT target, count(*) FROM audit_events "
                "WHERE action = 'screening.create' GROUP BY target"
            )
        ).all()
        drafts = conn.execute(
            text("SELECT id, answers, screening_id FROM drafts")
        ).all()
    ids = set()
    for row_id, answers, result, person_ref, note in rows:
        context = row_id.encode()
        assert isinstance(vault.open(answers, context), dict)
        ScreeningResult.model_validate_json(vault.open_bytes(result, context))
        for sealed in (person_ref, note):
            if sealed is not None:
                vault.open(sealed, context)
        ids.add(row_id)
    created: dict[str, int] = dict(creates)
    assert set(created) == ids, "screenings and their audit entries differ"
    assert set(created.values()) <= {1}, "a screening has more than one create entry"
    for draft_id, answers, screening_id in drafts:
        assert isinstance(vault.open(answers, draft_id.encode()), dict)
        assert screening_id is None or screening_id in ids, "draft without screening"
    assert audit.verify(engine).intact, "the audit chain is broken"
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    return StoreReport(len(ids), sum(created.values()), len(drafts), frozenset(ids))


def same_result(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Two results are the same screening result (compared as models)."""
    return ScreeningResult.model_validate(left) == ScreeningResult.model_validate(right)


def check_acknowledged(
    server: Server, engine: Engine, key: str, acks: list[Ack]
) -> None:
    """Every acknowledged submission reads back whole, through the API and stored."""
    vault = Vault(base64.b64decode(key))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for ack in acks:
            got = client.get(
                f"/api/v1/screenings/{ack.id}",
                headers={"Authorization": f"Bearer {ack.token}"},
            )
            assert got.status_code == 200, (ack.id, got.status_code)
            if ack.result is not None:
                assert same_result(got.json()["result"], ack.result)
    with engine.connect() as conn:
        for ack in acks:
            answers = conn.execute(
                text("SELECT answers FROM screenings WHERE id = :id"), {"id": ack.id}
            ).scalar_one()
            assert vault.open(answers, ack.id.encode()) == ack.answers
            if ack.draft_token is not None:
                digest = hashlib.sha256(ack.draft_token.encode()).hexdigest()
                linked = conn.execute(
                    text("SELECT screening_id FROM drafts WHERE token_hash = :h"),
                    {"h": digest},
                ).scalar_one()
                assert linked == ack.id


# --- submissions over HTTP -----------------------------------------------------------

#: The headers of a browser asking for a page.
HTML = {"Accept": "text/html,application/xhtml+xml"}


async def submit_api(
    client: httpx.AsyncClient, n: int, idempotent: bool = False
) -> Ack | httpx.Response:
    """POST one screening; the Ack on 201, else the response."""
    answers = answers_for(n)
    headers = {"Idempotency-Key": f"fault-{n}"} if idempotent else {}
    response = await client.post(
        "/api/v1/screenings",
        json={"answers": answers, "person_ref": f"person-{n % 50}"},
        headers=headers,
    )
    if response.status_code != 201:
        return response
    body = response.json()
    assert body["id"]
    assert body["access_token"]
    return Ack(body["id"], body["access_token"], answers, body["result"])


async def submit_form(client: httpx.AsyncClient) -> Ack | httpx.Response:
    """The person's way: start a draft, then finish it; the Ack on the result redirect."""
    started = await client.post("/start", headers=HTML)
    if started.status_code != 303:
        return started
    draft_token = started.headers["location"].removeprefix("/s/")
    finished = await client.post(f"/s/{draft_token}/finish", headers=HTML)
    location = finished.headers.get("location", "")
    if finished.status_code != 303 or not location.startswith("/result/"):
        return finished
    screening_id, token = location.removeprefix("/result/").split("/")
    return Ack(screening_id, token, {}, None, draft_token)


async def submit(client: httpx.AsyncClient, n: int) -> Ack | httpx.Response:
    """Submission ``n`` of a mix: mostly the JSON API, some idempotent, some forms."""
    if n % 10 == 0:
        return await submit_form(client)
    return await submit_api(client, n, idempotent=n % 10 == 1)


# --- 1. kill -9 in the middle of a burst ---------------------------------------------


async def burst_then_kill(
    server: Server, total: int, kill_after: int, concurrency: int
) -> tuple[list[Ack], int]:
    """Send ``total`` submissions, SIGKILL the server after ``kill_after`` acks.

    Returns:
        The acknowledged submissions, and how many got no acknowledgement.
    """
    acks: list[Ack] = []
    failed = 0
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=server.url, limits=limits, timeout=30
    ) as client:

        async def one(n: int) -> None:
            nonlocal failed
            async with gate:
                try:
                    outcome: Ack | httpx.Response | None = await submit(client, n)
                except httpx.TransportError:
                    outcome = None  # the server died under it
            if isinstance(outcome, Ack):
                acks.append(outcome)
                if len(acks) == kill_after:
                    server.kill()
            else:
                assert outcome is None, f"submission {n}: HTTP {outcome.status_code}"
                failed += 1

        await asyncio.gather(*(one(n) for n in range(total)))
    return acks, failed


@pytest.mark.slow
def test_kill_9_mid_burst_loses_nothing_acknowledged(
    db_url: str, opened: Engine, data_key: str, tmp_path: Path
) -> None:
    """SIGKILL mid-burst: every acknowledged submission is stored whole; no half rows."""
    env = server_env(tmp_path / "data", database_url=db_url, data_key=data_key)
    server = start_server(env, log=tmp_path / "server.log")
    try:
        acks, failed = asyncio.run(
            burst_then_kill(server, total=300, kill_after=100, concurrency=32)
        )
    finally:
        server.kill()
    assert server.proc.returncode == -9
    assert len(acks) >= 100, "the kill came too early"
    assert failed > 0, "the kill came after the burst"
    with running_server(env, log=tmp_path / "server2.log") as again:
        report = check_store(opened, data_key)
        check_acknowledged(again, opened, data_key, acks)
    assert {a.id for a in acks} <= report.ids
    log.info(
        "kill -9 (%s): %d sent, %d acknowledged, %d not, %d stored, %d lost",
        opened.dialect.name,
        len(acks) + failed,
        len(acks),
        failed,
        report.screenings,
        len({a.id for a in acks} - report.ids),
    )


# --- 2. the database stopped in the middle of a run (PostgreSQL) ---------------------


ADMIN = ("admin@clinic.test", "a long admin password")
#: What a person or clinician must never see on a page.
LEAKS = ("Traceback", "OperationalError", "psycopg", "sqlalchemy", "Internal Server")
KINDS = ("submit", "read", "start", "page", "queue", "welcome")


@dataclass
class Stream:
    """Mixed requests against the server: API submissions and reads, a person's
    pages, a clinician's queue, the welcome page (which needs no database)."""

    client: httpx.AsyncClient
    acks: list[Ack] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    n: int = 0

    async def next(self) -> tuple[str, httpx.Response]:
        """Send the next request of the cycle; its kind and response."""
        self.n += 1
        kind = KINDS[self.n % len(KINDS)]
        if kind == "submit":
            outcome = await submit_api(self.client, self.n)
            if isinstance(outcome, Ack):
                self.acks.append(outcome)
                return kind, httpx.Response(201)
            return kind, outcome
        if kind == "read" and self.acks:
            ack = self.acks[self.n % len(self.acks)]
            bearer = {"Authorization": f"Bearer {ack.token}"}
            path = f"/api/v1/screenings/{ack.id}"
            return kind, await self.client.get(path, headers=bearer)
        if kind in ("start", "read") or (kind == "page" and not self.drafts):
            response = await self.client.post("/start", headers=HTML)
            if response.status_code == 303:
                self.drafts.append(response.headers["location"])
            return "start", response
        if kind == "page":
            draft = self.drafts[self.n % len(self.drafts)]
            return kind, await self.client.get(draft, headers=HTML)
        path = "/staff" if kind == "queue" else "/"
        return kind, await self.client.get(path, headers=HTML)


def check_unavailable(kind: str, response: httpx.Response) -> None:
    """A request during the outage: 503 said clearly, JSON for the API, a kind page
    (with the crisis line every page has) for people; no technical detail."""
    assert response.status_code == 503, (kind, response.status_code, response.text)
    assert response.headers.get("retry-after"), kind
    if kind in ("submit", "read"):
        assert response.headers["content-type"] == "application/json"
        assert "Nothing was saved" in response.json()["detail"]
        return
    assert response.headers["content-type"].startswith("text/html"), kind
    page = response.text
    assert "try again" in page
    assert "988" in page or "emergency" in page.lower(), "no crisis line on the page"
    assert not any(leak in page for leak in LEAKS), page


OK = {
    "submit": 201,
    "read": 200,
    "start": 303,
    "page": 303,
    "queue": 200,
    "welcome": 200,
}


async def run_outage(
    server: Server, pg: PostgresInstance
) -> tuple[dict[str, int], list[Ack]]:
    """Requests before, during and after the database is stopped: counts by phase,
    and the acknowledged submissions.

    Before: every request succeeds. During (after ``pg_ctl stop -m immediate``
    returned): every request needing the database gets 503, the welcome page 200.
    After ``pg_ctl start``: the same server process succeeds again by itself.
    """
    counts = dict.fromkeys(
        ("before", "while_stopping", "down_503", "down_ok", "wait_503", "after"), 0
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        login = await client.post(
            "/staff/login", data={"email": ADMIN[0], "password": ADMIN[1]}
        )
        assert login.status_code == 303
        stream = Stream(client)
        for _ in range(60):
            kind, response = await stream.next()
            assert response.status_code == OK[kind], (kind, response.status_code)
            counts["before"] += 1
        # Requests keep coming while the database crashes under them.
        stopping = asyncio.create_task(asyncio.to_thread(pg.stop, "immediate"))
        while not stopping.done():
            kind, response = await stream.next()
            assert response.status_code in (OK[kind], 503), (kind, response.text)
            counts["while_stopping"] += 1
        await stopping
        for _ in range(60):
            kind, response = await stream.next()
            if kind == "welcome":
                assert response.status_code == 200
                counts["down_ok"] += 1
            else:
                check_unavailable(kind, response)
                counts["down_503"] += 1
        await asyncio.to_thread(pg.start)
        deadline = asyncio.get_running_loop().time() + 60
        while True:  # the pool reconnects on its own; allow it a few tries
            kind, response = await stream.next()
            if kind == "welcome":  # needs no database: says nothing about recovery
                assert response.status_code == 200
                continue
            if response.status_code == OK[kind]:
                break
            check_unavailable(kind, response)
            counts["wait_503"] += 1
            assert asyncio.get_running_loop().time() < deadline, "no recovery"
        for _ in range(60):
            kind, response = await stream.next()
            assert response.status_code == OK[kind], (kind, response.text)
            counts["after"] += 1
    counts["acknowledged"] = len(stream.acks)
    return counts, stream.acks


@pytest.mark.slow
def test_database_stopped_mid_run_503_then_recovers(
    tmp_path: Path, data_key: str
) -> None:
    """PostgreSQL crashes mid-run: 503 said clearly; back by itself; nothing half-written."""
    with postgres_instance() as pg:
        url = fresh_database(pg.url)
        env = server_env(
            tmp_path / "data",
            database_url=url,
            data_key=data_key,
            admin_email=ADMIN[0],
            admin_password=ADMIN[1],
        )
        with running_server(env, log=tmp_path / "server.log") as server:
            counts, acks = asyncio.run(run_outage(server, pg))
            assert server.proc.poll() is None, "the server did not survive"
            engine = make_engine(normalise_database_url(url))
            try:
                report = check_store(engine, data_key)
                check_acknowledged(server, engine, data_key, acks)
            finally:
                engine.dispose()
        assert "database error, answered 503" in server.log_tail(400)
    assert {a.id for a in acks} <= report.ids
    log.info("database stopped (postgresql): %s, %d stored", counts, report.screenings)


# --- 3. a full disk, a read-only database file (SQLite) -----------------------------


async def submit_all(server: Server, first: int, count: int) -> list[Ack]:
    """``count`` API submissions one after another; all must be acknowledged."""
    acks = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for n in range(first, first + count):
            outcome = await submit_api(client, n)
            assert isinstance(outcome, Ack), outcome.text
            acks.append(outcome)
    return acks


async def fill_disk(server: Server, first: int) -> tuple[list[Ack], int]:
    """Submit until the file-size limit has refused ten writes (a smaller write may
    still fit in between: it is acknowledged, so it must be stored).

    Returns:
        The submissions acknowledged meanwhile, and how many got 503.
    """
    acks: list[Ack] = []
    refused = 0
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for n in range(first, first + 2000):
            outcome = await submit_api(client, n)
            if isinstance(outcome, Ack):
                acks.append(outcome)
                continue
            check_unavailable("submit", outcome)
            refused += 1
            if refused == 10:
                break
    assert refused == 10, "the file-size limit never refused a write"
    return acks, refused


async def check_full(server: Server) -> None:
    """With no byte left, a person's page and an API submission each get 503."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        check_unavailable("start", await client.post("/start", headers=HTML))
        outcome = await submit_api(client, 9999)
        assert not isinstance(outcome, Ack)
        check_unavailable("submit", outcome)


def limit_file_size(server: Server, limit: int) -> None:
    """RLIMIT_FSIZE on the running server process: no file may grow past ``limit``
    bytes (a write beyond fails with EFBIG; Python ignores SIGXFSZ)."""
    subprocess.run(
        ["prlimit", f"--pid={server.proc.pid}", f"--fsize={limit}:{limit}"],
        check=True,
    )


def sqlite_files(database: Path) -> list[Path]:
    """The database file and its WAL companions that exist."""
    names = (database, Path(f"{database}-wal"), Path(f"{database}-shm"))
    return [path for path in names if path.exists()]


@pytest.mark.slow
def test_full_disk_gives_503_not_corruption(tmp_path: Path, data_key: str) -> None:
    """A file-size limit on the running server (the disk is full): 503 said clearly,
    the server's log names the problem, the database stays whole."""
    database = tmp_path / "data" / "ketascreen.db"
    url = f"sqlite:///{database}"
    env = server_env(tmp_path / "data", database_url=url, data_key=data_key)
    with running_server(env, log=tmp_path / "server.log") as server:
        before = asyncio.run(submit_all(server, 0, 20))
        # Room for a few more submissions (each adds about 16 pages to the WAL).
        limit = max(path.stat().st_size for path in sqlite_files(database)) + 262_144
        limit_file_size(server, limit)
        during, refused = asyncio.run(fill_disk(server, 100))
        limit_file_size(server, 1)  # not one more byte
        asyncio.run(check_full(server))
        server.kill()  # crash while full, the harder case
        assert "database error, answered 503" in server.log_tail(400)
    acks = before + during
    engine = make_engine(url)
    try:
        with running_server(env, log=tmp_path / "server2.log") as again:
            report = check_store(engine, data_key)
            check_acknowledged(again, engine, data_key, acks)
            after = asyncio.run(submit_all(again, 5000, 5))  # space is back
            check_acknowledged(again, engine, data_key, after)
    finally:
        engine.dispose()
    assert {a.id for a in acks} <= report.ids
    log.info(
        "full disk (sqlite): %d acknowledged before the limit (%d bytes), %d after "
        "it until %d were refused with 503; %d stored, integrity ok",
        len(before),
        limit,
        len(during),
        refused,
        report.screenings,
    )


def without_file_override() -> list[str]:
    """A command prefix that makes file permissions bind: root without
    CAP_DAC_OVERRIDE (and DAC_READ_SEARCH) when the tests run as root, as in CI."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: chmod would not bind")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.slow
def test_read_only_database_refuses_to_start_clearly(
    tmp_path: Path, data_key: str
) -> None:
    """A read-only database file: the server refuses to start, naming the file and
    the problem; the file is unchanged and every row reads back once it is writable."""
    database = tmp_path / "data" / "ketascreen.db"
    url = f"sqlite:///{database}"
    env = server_env(tmp_path / "data", database_url=url, data_key=data_key)
    with running_server(env, log=tmp_path / "server.log") as server:
        acks = asyncio.run(submit_all(server, 0, 10))
    content_before = database.read_bytes()
    database.chmod(0o444)
    started = subprocess.run(
        [
            *without_file_override(),
            sys.executable,
            "-m",
            "ketascreen",
            "serve",
            "--port",
            str(free_port()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    message = " ".join((started.stdout + started.stderr).split())
    assert started.returncode == 2, message
    assert str(database) in message
    assert "readonly" in message or "read-only" in message, message
    assert "Traceback" not in message
    assert database.read_bytes() == content_before
    database.chmod(0o644)
    engine = make_engine(url)
    try:
        with running_server(env, log=tmp_path / "server2.log") as again:
            report = check_store(engine, data_key)
            check_acknowledged(again, engine, data_key, acks)
    finally:
        engine.dispose()
    log.info("read-only (sqlite): refused to start with: %s", message)
    assert report.screenings == len(acks)


# --- 4. a crash in the middle of a migration -----------------------------------------

KILLER = Path(__file__).with_name("migrate_and_kill.py")
_VERSION_STAMP = re.compile(r"alembic_version.*(VALUES \('|version_num=')(\w+)'", re.S)


def revisions() -> list[str]:
    """Every revision, oldest first (the history is linear)."""
    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


class Databases:
    """Databases for one backend: new ones, and exact copies of a prepared one."""

    def __init__(self, backend: str, folder: Path, server: str | None) -> None:
        self.backend, self.folder, self.server = backend, folder, server
        self.count = 0

    def new(self) -> str:
        """An empty database's URL."""
        self.count += 1
        if self.server is None:
            return f"sqlite:///{self.folder / f'db{self.count}.db'}"
        return normalise_database_url(fresh_database(self.server))

    def copy(self, url: str) -> str:
        """A new database holding exactly what ``url`` holds (closed) now."""
        target = self.new()
        if self.server is None:
            with (
                closing(sqlite3.connect(make_url(url).database or "")) as source,
                closing(sqlite3.connect(make_url(target).database or "")) as copy,
            ):
                source.backup(copy)
            return target
        with psycopg.connect(self.server, autocommit=True) as conn:
            name, template = target.rsplit("/", 1)[1], url.rsplit("/", 1)[1]
            conn.execute(f'DROP DATABASE "{name}"')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return target


@dataclass(frozen=True)
class Seeded:
    """A database at one revision, with screenings stored before it was migrated."""

    url: str
    answers: dict[str, dict[str, Any]]  # screening id to its answers


def seeded_at(dbs: Databases, below: str | None, key: str, content: Content) -> Seeded:
    """A database stopped at revision ``below`` (None: empty) holding three screenings
    stored by the current code (then downgraded, as an older database would hold)."""
    url = dbs.new()
    engine = make_engine(url)
    stored: dict[str, dict[str, Any]] = {}
    if below is not None:
        migrate(engine)
        repository = Repository(engine, Vault(base64.b64decode(key)))
        for n in range(3):
            answers = answers_for(n)
            result = screen(answers, content=content)
            saved, _ = repository.save(answers=answers, result=result, person_ref="p")
            stored[saved.id] = answers
        downgrade(engine, below)
    engine.dispose()
    return Seeded(url, stored)


def kill_points(url: str, revision: str) -> list[int]:
    """The statements to die before: each write of an upgrade to head, up to and
    including the one that records ``revision`` as done (found by a dry run)."""
    engine = make_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    migrate(engine)
    engine.dispose()
    points = []
    for n, statement in enumerate(statements, 1):
        if not statement.lstrip().upper().startswith(("SELECT", "PRAGMA", "BEGIN")):
            points.append(n)
        stamp = _VERSION_STAMP.search(statement)
        if stamp and stamp.group(2) == revision:
            return points
    raise AssertionError(f"the upgrade never recorded {revision}")


def schema(engine: Engine) -> dict[str, tuple[list[str], list[str]]]:
    """Each table's columns and index names."""
    inspector = inspect(engine)
    return {
        table: (
            sorted(c["name"] for c in inspector.get_columns(table)),
            sorted(str(i["name"]) for i in inspector.get_indexes(table)),
        )
        for table in inspector.get_table_names()
    }


def check_recovers(seeded: Seeded, key: str, content: Content, head: str) -> None:
    """Migrating again reaches head with the head schema; the data reads back."""
    engine = make_engine(seeded.url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head
        vault = Vault(base64.b64decode(key))
        with engine.connect() as conn:
            for screening_id, answers in seeded.answers.items():
                sealed = conn.execute(
                    text("SELECT answers FROM screenings WHERE id = :id"),
                    {"id": screening_id},
                ).scalar_one()
                assert vault.open(sealed, screening_id.encode()) == answers
        repository = Repository(engine, vault)
        answers = answers_for(7)
        saved, _ = repository.save(
            answers=answers, result=screen(answers, content=content)
        )
        assert repository.get_with_token(saved.id, saved.access_token)
        check_store(engine, key)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_crash_during_migration_leaves_database_usable(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    data_key: str,
    content: Content,
) -> None:
    """SIGKILL before each write of each revision's upgrade; migrating again works."""
    server = request.getfixturevalue("postgres") if backend == "postgresql" else None
    dbs = Databases(backend, tmp_path, server)
    history = revisions()
    jobs: list[tuple[Seeded, int]] = []
    for below, revision in zip([None, *history], history, strict=False):
        template = seeded_at(dbs, below, data_key, content)
        for n in kill_points(dbs.copy(template.url), revision):
            jobs.append((Seeded(dbs.copy(template.url), template.answers), n))
    killed = subprocess.run(
        [sys.executable, str(KILLER)],
        input=json.dumps([(seeded.url, n) for seeded, n in jobs]),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    statuses = json.loads(killed.stdout)
    assert statuses == [-signal.SIGKILL] * len(jobs), killed.stderr
    for seeded, _n in jobs:
        check_recovers(seeded, data_key, content, history[-1])
    log.info(
        "migration crash (%s): %d revisions, %d kill points, all recovered to %s",
        backend,
        len(history),
        len(jobs),
        history[-1],
    )
