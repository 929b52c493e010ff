"""Soak: the real server under a mix of people, API clients and clinicians.

Not a test (tests/reliability/test_soak.py runs the ``--quick`` form). Starts
``ketascreen serve`` on loopback with a fresh database (SQLite in a temporary folder, or
a throwaway PostgreSQL server), creates a clinician with ``ketascreen users add``,
measures a reference (GET of the stylesheet: the cheapest thing the server answers),
then for a bounded time drives it from a bounded number of concurrent users:

- people: welcome, start, every section page shown and posted, finish, the result
  (sometimes finishing twice, which must lead to the same screening);
- API clients: POST /api/v1/screenings, some with an Idempotency-Key, some of those sent
  again (after the first answer, or two at once), which must answer with the same
  screening; GET /api/v1/screenings/{id} with the access token;
- clinicians: the review queue and screening pages.

Every acknowledged submission (a 201, or the redirect to its result) is recorded. After
the load, each is read back with its token (a random sample of ``--read-back``, or
all with ``--read-back 0``), the server is stopped, and the rows in the database are compared:
``lost`` counts acknowledged screenings missing or unreadable, ``extra`` stored rows
that no client was told about. Exits 1 on any 5xx, lost screening, unexplained extra
row, or retry answered with another screening; the figures are printed either way.
Last line: JSON. Target (issue 7): 10 minutes at >= 500 requests/s, zero 5xx, zero lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: the checkout's shared helpers
    sys.path.insert(0, str(ROOT))

from tests.databases import fresh_database, postgres_instance  # noqa: E402
from tests.servers import Server, add_staff, running_server, server_env  # noqa: E402

from ketascreen.config import normalise_database_url  # noqa: E402
from web import ANSWERS  # noqa: E402 - benchmarks/web.py, beside this file

# The load generator shares the machine with the server: uvloop (installed with
# uvicorn[standard]) leaves more of it to the server than asyncio's own loop.
try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it (not on Windows)
    uvloop = None  # type: ignore[assignment]

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when there is one."""
    return uvloop.run(main) if uvloop is not None else asyncio.run(main)


CLINICIAN = ("soak-clinician@example.org", "soak-password-not-secret")
PAGES_PER_FLOW = 60  # more would mean the flow loops
RECENT = 2000  # acknowledged screenings that API and clinician reads pick from
TIMEOUT = 120  # seconds; a request on loopback that takes longer counts as an error
#: The content type of a form body sent already encoded.
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class TimeUp(Exception):
    """The load phase is over; the user stops before sending another request."""


@dataclass
class Kind:
    """What happened to one kind of request."""

    latencies: list[float] = field(default_factory=list)
    server_errors: int = 0
    other_errors: int = 0


@dataclass
class Tally:
    """Every request's outcome, and every acknowledged submission."""

    kinds: dict[str, Kind] = field(default_factory=lambda: defaultdict(Kind))
    # id -> every access token received for it, oldest first: a repeated submission
    # may get a fresh link that replaces the earlier one.
    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    # Ids acknowledged twice at once: which of the two links is current is not known.
    ambiguous: set[str] = field(default_factory=set)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))
    replays: int = 0
    mismatches: int = 0  # a retry or second finish answered with another screening
    unanswered: int = 0  # submissions that got no answer at all (may be stored)
    examples: list[str] = field(default_factory=list)

    def acknowledge(
        self, screening_id: str, token: str, *, at_once: bool = False
    ) -> None:
        """Record a submission the server said it stored, and the link it gave."""
        tokens = self.acknowledged.setdefault(screening_id, [])
        if token not in tokens:
            tokens.append(token)
        if at_once:
            self.ambiguous.add(screening_id)
        elif len(tokens) == 1:
            self.recent.append(screening_id)

    def token(self, screening_id: str) -> str:
        """The link received last for a screening."""
        return self.acknowledged[screening_id][-1]

    def problem(self, kind: str, what: str, *, server: bool = False) -> None:
        """Count an error of a kind, keeping the first few as examples."""
        if server:
            self.kinds[kind].server_errors += 1
        else:
            self.kinds[kind].other_errors += 1
        if len(self.examples) < 8:
            self.examples.append(f"{kind}: {what}")


@dataclass(frozen=True)
class Answer:
    """A response, read whole."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Soak:
    """One load phase: a client, a deadline and the tally."""

    def __init__(self, client: aiohttp.ClientSession) -> None:
        self.client = client
        self.deadline = 0.0
        self.tally = Tally()
        self.staff: dict[str, str] = {}

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        expect: int,
        *,
        submission: bool = False,
        **kwargs: Any,
    ) -> Answer | None:
        """Send one request and record it; the answer if it had the expected status."""
        if time.monotonic() >= self.deadline:
            raise TimeUp
        started = time.perf_counter()
        try:
            answer = await fetch(self.client, method, path, **kwargs)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.unanswered += submission
            self.tally.problem(kind, f"{method} {path}: {type(exc).__name__} {exc}")
            return None
        self.tally.kinds[kind].latencies.append((time.perf_counter() - started) * 1000)
        if answer.status == expect:
            return answer
        detail = f"{method} {path} -> {answer.status} {answer.body[:160]!r}"
        self.tally.problem(kind, detail, server=answer.status >= 500)
        return None


async def fetch(
    client: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> Answer:
    """One request, redirects not followed, the body read whole."""
    async with client.request(method, path, allow_redirects=False, **kwargs) as got:
        return Answer(got.status, got.headers, await got.read())


def profile(rng: random.Random) -> dict[str, Any]:
    """Answers for one person: mostly calm, sometimes with a suicide-risk answer."""
    answers: dict[str, Any] = {**ANSWERS, "age": rng.randint(18, 80)}
    if rng.random() < 0.2:
        answers.update(phq9_9=1, asq_1="no", asq_2="no", asq_3="no", asq_4="no")
    return answers


def as_form(answers: dict[str, Any]) -> bytes:
    """Every answer as an encoded form body; each page reads only its own items.

    Encoded once per person, not at each page: the load generator shares the
    machine with the server, and its own CPU comes off the server's.
    """
    fields = [
        (key, str(v))
        for key, value in answers.items()
        for v in (value if isinstance(value, list) else [value])
    ]
    return urlencode([*fields, ("action", "next")]).encode()


def location(answer: Answer) -> str:
    """The redirect target's path, without a fragment."""
    return answer.headers["location"].split("#", 1)[0]


async def person(soak: Soak, rng: random.Random) -> None:
    """A person from the welcome page to their result."""
    form = as_form(profile(rng))
    await soak.call("welcome", "GET", "/", 200)
    started = await soak.call("start", "POST", "/start", 303)
    resumed = started and await soak.call("resume", "GET", location(started), 303)
    if not resumed:
        return
    path = location(resumed)
    for _ in range(PAGES_PER_FLOW):
        if path.endswith("/finish"):
            await finish(soak, path, rng)
            return
        if not await soak.call("page", "GET", path, 200):
            return
        posted = await soak.call(
            "page_post", "POST", path, 303, data=form, headers=FORM_TYPE
        )
        if not posted:
            return
        path = location(posted)
    soak.tally.problem("page_post", f"no finish after {PAGES_PER_FLOW} pages")


async def finish(soak: Soak, path: str, rng: random.Random) -> None:
    """The finish page, the submission, the result; sometimes a second submission."""
    await soak.call("finish", "GET", path, 200)
    done = await soak.call("submit", "POST", path, 303, submission=True)
    if not done:
        return
    result = location(done)
    _, _, screening_id, token = result.split("/")
    soak.tally.acknowledge(screening_id, token)
    await soak.call("result", "GET", result, 200)
    if rng.random() < 0.1 or not soak.tally.kinds["submit_again"].latencies:
        again = await soak.call("submit_again", "POST", path, 303)
        if again and location(again) != result:
            soak.tally.mismatches += 1
            soak.tally.problem("submit_again", f"{location(again)} is not {result}")


async def api_submit(soak: Soak, rng: random.Random) -> None:
    """An API client stores a screening."""
    body = {"answers": profile(rng)}
    created = await soak.call(
        "api_submit", "POST", "/api/v1/screenings", 201, json=body, submission=True
    )
    if created:
        data = created.json()
        soak.tally.acknowledge(data["id"], data["access_token"])


async def api_with_key(soak: Soak, rng: random.Random) -> None:
    """A submission with an Idempotency-Key, sometimes sent again or twice at once."""
    kwargs: dict[str, Any] = {
        "json": {"answers": profile(rng)},
        "headers": {"Idempotency-Key": f"soak-{uuid.uuid4()}"},
        "submission": True,
    }
    path, chance = "/api/v1/screenings", rng.random()
    answers: list[Answer | None] = []
    if chance < 0.2:  # two at once: the second may race the first to the database
        both = await asyncio.gather(
            soak.call("api_keyed", "POST", path, 201, **kwargs),
            soak.call("api_retry", "POST", path, 201, **kwargs),
            return_exceptions=True,  # one sent before the deadline is still counted
        )
        for outcome in both:
            if isinstance(outcome, BaseException) and not isinstance(outcome, TimeUp):
                raise outcome
            answers.append(None if isinstance(outcome, TimeUp) else outcome)
    else:
        answers.append(await soak.call("api_keyed", "POST", path, 201, **kwargs))
        if answers[0] and chance < 0.6:
            # The first answer is recorded below even if time is up before the retry
            # (otherwise its screening would count as an extra row nobody was told of).
            with contextlib.suppress(TimeUp):
                answers.append(
                    await soak.call("api_retry", "POST", path, 201, **kwargs)
                )
    bodies = [a.json() for a in answers if a is not None]
    if len({b["id"] for b in bodies}) > 1:
        soak.tally.mismatches += 1
        soak.tally.problem("api_retry", "one key, two screenings")
    for body in bodies:
        soak.tally.acknowledge(body["id"], body["access_token"], at_once=chance < 0.2)
    soak.tally.replays += max(0, len(bodies) - 1)


async def api_read(soak: Soak, rng: random.Random) -> None:
    """An API client reads a screening back with its token."""
    if not soak.tally.recent:
        await api_submit(soak, rng)
        return
    screening_id = rng.choice(soak.tally.recent)
    headers = {"Authorization": f"Bearer {soak.tally.token(screening_id)}"}
    path = f"/api/v1/screenings/{screening_id}"
    read = await soak.call("api_read", "GET", path, 200, headers=headers)
    if read and read.json()["id"] != screening_id:
        soak.tally.problem("api_read", f"{path} answered with another screening")


async def clinician(soak: Soak, rng: random.Random) -> None:
    """A clinician looks at the queue, then at a few screenings."""
    await soak.call("staff_queue", "GET", "/staff", 200, headers=soak.staff)
    recent = list(soak.tally.recent)[-200:]
    for screening_id in rng.sample(recent, min(3, len(recent))):
        path = f"/staff/screenings/{screening_id}"
        await soak.call("staff_screening", "GET", path, 200, headers=soak.staff)


Scenario = Callable[[Soak, random.Random], Awaitable[None]]
# Weights per scenario (a person's flow is ~30 requests, an API call one).
SCENARIOS: list[tuple[Scenario, float]] = [
    (person, 0.2),
    (api_submit, 0.3),
    (api_with_key, 0.15),
    (api_read, 0.2),
    (clinician, 0.15),
]
KINDS = [
    "welcome",
    "start",
    "resume",
    "page",
    "page_post",
    "finish",
    "submit",
    "result",
    "submit_again",
    "api_submit",
    "api_keyed",
    "api_retry",
    "api_read",
    "staff_login",
    "staff_queue",
    "staff_screening",
]


async def user(soak: Soak, seed: int) -> None:
    """One concurrent user: scenario after scenario until the time is up."""
    rng = random.Random(seed)
    scenarios, weights = zip(*SCENARIOS, strict=True)
    try:
        while True:
            await rng.choices(scenarios, weights)[0](soak, rng)
    except TimeUp:
        return


def client_for(url: str, concurrency: int) -> aiohttp.ClientSession:
    """A client with one connection per user, the server's own Origin on every request
    (as a browser sends with a form), and a cookie jar that keeps nothing: staff
    requests carry their cookie themselves, so a read with a token can never succeed
    through a staff session by accident."""
    return aiohttp.ClientSession(
        url,
        headers={"Origin": url},
        connector=aiohttp.TCPConnector(limit=concurrency),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=TIMEOUT),
    )


async def sign_in(soak: Soak) -> None:
    """Sign the clinician in; their requests carry the session cookie."""
    email, password = CLINICIAN
    soak.deadline = time.monotonic() + 60
    response = await soak.call(
        "staff_login",
        "POST",
        "/staff/login",
        303,
        data={"email": email, "password": password},
    )
    cookie = response.headers.get("set-cookie", "") if response else ""
    if not cookie.startswith("ks_staff="):
        raise RuntimeError(f"clinician sign-in failed: {soak.tally.examples}")
    soak.staff = {"Cookie": cookie.split(";", 1)[0]}


async def load(url: str, seconds: float, concurrency: int, seed: int) -> Soak:
    """The load phase; returns the finished soak with its tally."""
    async with client_for(url, concurrency) as client:
        soak = Soak(client)
        await sign_in(soak)
        soak.deadline = time.monotonic() + seconds
        await asyncio.gather(*(user(soak, seed + n) for n in range(concurrency)))
    return soak


async def reference(url: str, seconds: float, concurrency: int) -> tuple[float, int]:
    """GET /static/style.css with the same client and users: (per second, count)."""
    count = 0
    deadline = time.monotonic() + seconds
    async with client_for(url, concurrency) as client:

        async def loop() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                answer = await fetch(client, "GET", "/static/style.css")
                count += answer.status == 200

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return count / (time.monotonic() - started), count


async def read_back(url: str, tally: Tally, limit: int, seed: int) -> tuple[int, int]:
    """Read acknowledged screenings with the link received last (or, for ones sent
    twice at once, with either link); (checked, unreadable)."""
    ids = list(tally.acknowledged)
    if 0 < limit < len(ids):
        ids = random.Random(seed).sample(ids, limit)
    gate = asyncio.Semaphore(16)
    async with client_for(url, 16) as client:

        async def opens(screening_id: str, token: str) -> bool:
            headers = {"Authorization": f"Bearer {token}"}
            path = f"/api/v1/screenings/{screening_id}"
            async with gate:
                try:
                    got = await fetch(client, "GET", path, headers=headers)
                except (aiohttp.ClientError, TimeoutError):
                    return False
            return got.status == 200 and got.json()["id"] == screening_id

        async def readable(screening_id: str) -> bool:
            tokens = tally.acknowledged[screening_id]
            if screening_id not in tally.ambiguous:
                tokens = tokens[-1:]
            for token in reversed(tokens):
                if await opens(screening_id, token):
                    return True
            return False

        results = await asyncio.gather(*(readable(i) for i in ids))
    return len(ids), results.count(False)


def stored_ids(database_url: str) -> tuple[set[str], int]:
    """Screening ids in the database, and how many were audited as created."""
    engine = create_engine(normalise_database_url(database_url))
    try:
        with engine.connect() as conn:
            ids = {row[0] for row in conn.execute(text("SELECT id FROM screenings"))}
            audited = conn.execute(
                text(
                    "SELECT count(*) FROM audit_events "
                    "WHERE action = 'screening.create'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return ids, int(audited)


@contextmanager
def database(kind: str, url: str | None, tmp: Path) -> Iterator[tuple[str, int]]:
    """The database to soak: the given URL, a SQLite file, or a throwaway PostgreSQL;
    with the PostgreSQL server's process id when it is ours (else 0)."""
    if url:
        yield url, 0
    elif kind == "sqlite":
        yield f"sqlite:///{tmp / 'ketascreen.db'}", 0
    else:
        with postgres_instance() as server:
            pid = (server.data / "postmaster.pid").read_text().split()[0]
            yield fresh_database(server.url), int(pid)


def percentile(ordered: list[float], fraction: float) -> float:
    """The value at ``fraction`` of a sorted list (0 for an empty one)."""
    return ordered[int(fraction * (len(ordered) - 1))] if ordered else 0.0


@dataclass
class Check:
    """The database against what clients were told."""

    stored: int
    lost: int
    missing: int
    unreadable: int
    checked: int
    extra: int
    audited: int


def compare(
    tally: Tally, before: set[str], after: set[str], audited: int, read: tuple[int, int]
) -> Check:
    """Acknowledged screenings against the rows this run added."""
    added = after - before
    missing = sum(1 for i in tally.acknowledged if i not in after)
    checked, unreadable = read
    return Check(
        stored=len(added),
        lost=missing + unreadable,
        missing=missing,
        unreadable=unreadable,
        checked=checked,
        extra=len(added - tally.acknowledged.keys()),
        audited=audited,
    )


def report(args: argparse.Namespace, phase: Phase, check: Check) -> dict[str, Any]:
    """Print the per-kind table and the summary; return the figures."""
    tally = phase.soak.tally
    print(
        f"{'request':<18}{'count':>9}{'p50 ms':>9}{'p99 ms':>9}{'5xx':>6}{'other':>7}"
    )
    every: list[float] = []
    counts: dict[str, int] = {}
    for name in KINDS:
        kind = tally.kinds[name]
        ordered = sorted(kind.latencies)
        every += ordered
        counts[name] = len(ordered)
        print(
            f"{name:<18}{len(ordered):>9}{percentile(ordered, 0.5):>9.1f}"
            f"{percentile(ordered, 0.99):>9.1f}{kind.server_errors:>6}"
            f"{kind.other_errors:>7}"
        )
    every.sort()
    errors_5xx = sum(k.server_errors for k in tally.kinds.values())
    errors_other = sum(k.other_errors for k in tally.kinds.values())
    for example in tally.examples:
        print("  e.g.", example)
    print(
        f"acknowledged {len(tally.acknowledged)} (+{tally.replays} replays), "
        f"stored {check.stored}, missing {check.missing}, unreadable "
        f"{check.unreadable} of {check.checked} read back, extra {check.extra} "
        f"(unanswered submissions {tally.unanswered}), audited creations "
        f"{check.audited}"
    )
    return {
        "rps": round(len(every) / phase.elapsed, 1),
        "p50_ms": round(percentile(every, 0.5), 2),
        "p99_ms": round(percentile(every, 0.99), 2),
        "errors_5xx": errors_5xx,
        "errors_other": errors_other,
        "acknowledged": len(tally.acknowledged),
        "stored": check.stored,
        "lost": check.lost,
        "extra": check.extra,
        "unreadable": check.unreadable,
        "read_back": check.checked,
        "audited_creations": check.audited,
        "replays": tally.replays,
        "mismatches": tally.mismatches,
        "unanswered": tally.unanswered,
        "requests": len(every),
        "counts": counts,
        "db": args.db,
        "seconds": round(phase.elapsed, 1),
        "concurrency": args.concurrency,
        "server_workers": args.server_workers,
        **phase.machine,
        "server_cpu_ms": per_request(phase.machine["server_cpu_s"], len(every)),
        "generator_cpu_ms": per_request(phase.machine["generator_cpu_s"], len(every)),
        "database_cpu_ms": per_request(phase.machine["database_cpu_s"], len(every)),
    }


def per_request(seconds: float, requests: int) -> float:
    """Milliseconds per request (0 without requests)."""
    return round(1000 * seconds / requests, 2) if requests else 0.0


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--quick", action="store_true", help="30 s of load")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--database-url",
        help="soak this existing database instead (rows already there are left out "
        "of the comparison)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent users")
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument(
        "--read-back",
        type=int,
        default=5000,
        help="read back at most this many acknowledged screenings (a random sample; "
        "0: every one)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.seconds = 30.0
    return args


@dataclass
class Phase:
    """The load phase and the machine around it."""

    soak: Soak
    elapsed: float
    machine: dict[str, float]


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start everything, soak, check; the figures."""
    if args.database_url:  # its kind, for the report
        args.db = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
    with database(args.db, args.database_url, tmp) as (url, database_pid):
        env = server_env(tmp, database_url=url)
        add_staff(env, CLINICIAN[0], "clinician", CLINICIAN[1])  # also migrates
        before, audited_before = stored_ids(url)
        with running_server(
            env, workers=args.server_workers, log=tmp / "server.log"
        ) as server:
            phase = soak_server(args, server, database_pid)
            read = run_loop(
                read_back(server.url, phase.soak.tally, args.read_back, args.seed)
            )
        after, audited = stored_ids(url)
    check = compare(phase.soak.tally, before, after, audited - audited_before, read)
    figures = report(args, phase, check)
    if figures["errors_5xx"]:
        print("server log (end):\n" + server.log_tail(), file=sys.stderr)
    return figures


def soak_server(args: argparse.Namespace, server: Server, database_pid: int) -> Phase:
    """Warm-up, the reference, then the load phase; the machine's load around it.

    ``database_pid``: the PostgreSQL server's process, whose CPU (its backends'
    included) is counted too (0: none of ours).
    """
    run_loop(reference(server.url, 2, args.concurrency))  # every worker is up
    server_cpu = group_cpu_seconds(server.proc.pid)
    reference_rps, count = run_loop(
        reference(server.url, 3 if args.quick else 10, args.concurrency)
    )
    reference_cpu = group_cpu_seconds(server.proc.pid) - server_cpu
    load_before = os.getloadavg()[0]
    cpu, server_cpu = time.process_time(), group_cpu_seconds(server.proc.pid)
    database_cpu = tree_cpu_seconds(database_pid)
    started = time.monotonic()
    soak = run_loop(load(server.url, args.seconds, args.concurrency, args.seed))
    elapsed = time.monotonic() - started
    machine = {
        "reference_rps": round(reference_rps, 1),
        "reference_server_cpu_ms": per_request(reference_cpu, count),
        "generator_cpu_s": round(time.process_time() - cpu, 1),
        "server_cpu_s": round(group_cpu_seconds(server.proc.pid) - server_cpu, 1),
        "database_cpu_s": round(tree_cpu_seconds(database_pid) - database_cpu, 1),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    return Phase(soak, elapsed, machine)


def group_cpu_seconds(group: int) -> float:
    """CPU time used so far by the processes of a process group (Linux /proc; 0
    elsewhere): the server's own cost per request, whatever else runs on the machine."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process has just exited
            continue
        if int(fields[2]) == group:  # fields after the name: state ppid pgrp ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children, those that have exited
    included (Linux /proc; 0 elsewhere or for pid 0)."""
    if not pid:
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid):  # with its waited-for children's time
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> int:
    """Run the soak; 1 if anything acknowledged was lost or the server failed."""
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="ketascreen-soak-") as tmp:
        figures = run(args, Path(tmp))
    print(
        f"{figures['requests']} requests in {figures['seconds']} s: "
        f"{figures['rps']} req/s (reference: GET of the stylesheet "
        f"{figures['reference_rps']} req/s, server CPU "
        f"{figures['reference_server_cpu_ms']} ms each), p50 {figures['p50_ms']} ms, p99 "
        f"{figures['p99_ms']} ms; {args.concurrency} users, {args.server_workers} "
        f"server processes, {figures['db']}; CPU per request: server "
        f"{figures['server_cpu_ms']} ms, database {figures['database_cpu_ms']} ms, "
        f"load generator {figures['generator_cpu_ms']} ms; load average {figures['load_before']:.2f} before, "
        f"{figures['load_after']:.2f} after (target: >= 500 req/s, 0 5xx, 0 lost)"
    )
    print(json.dumps(figures))
    failed = (
        figures["errors_5xx"]
        or figures["lost"]
        or figures["mismatches"]
        or figures["extra"] > figures["unanswered"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
