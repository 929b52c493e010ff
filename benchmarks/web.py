"""Benchmark: stored screenings per second over HTTP, against the same server's echo.

Not a test. Starts ``ketascreen serve`` on loopback (SQLite in a temporary folder),
then drives it with a bounded asyncio load generator for a fixed time: first
``POST /api/v1/echo`` (the floor: HTTP and JSON only), then
``POST /api/v1/screenings`` (validate, screen, encrypt, store, audit), each request
with one of 500 varied submissions picked at random (the same for both). It checks that
every acknowledged screening is stored. Last line: JSON with ``stored_per_s``,
``p99_ms`` and ``ratio_vs_echo``.
Target (issue 3): >= 1,000 stored screenings/s on this 2-core machine, >= 50 % of echo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file: the checkout's shared helpers
    sys.path.insert(0, str(ROOT))

from tests.servers import server_env, start_server  # noqa: E402

ANSWERS = {
    "age": 41,
    "sex_at_birth": "female",
    "phq9_9": 0,
    "pregnant": "no",
    "breastfeeding": "no",
    "heart_conditions": ["high_bp"],
    "htn_controlled": "yes",
    "bp_systolic": 138,
    "bp_diastolic": 86,
    "medication_classes": ["antidepressant"],
    "ketamine_allergy": "no",
    **{f"phq9_{n}": 2 for n in range(1, 9)},
    **{f"gad7_{n}": 1 for n in range(1, 8)},
}
BODIES = 500  # distinct submissions the load generators pick from


def bodies(count: int = BODIES, seed: int = 11) -> list[dict[str, Any]]:
    """Varied submissions, so the figures are not those of one answer set repeated:
    ages, PHQ-9 and GAD-7 answers, blood pressure, heart conditions and medicines."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        answers: dict[str, Any] = {
            **ANSWERS,
            "age": rng.randint(18, 85),
            "bp_systolic": rng.randint(100, 185),
            "bp_diastolic": rng.randint(60, 115),
            "heart_conditions": rng.choice(
                [["high_bp"], ["none"], ["high_bp", "arrhythmia"]]
            ),
            "medication_classes": rng.choice(
                [
                    ["antidepressant"],
                    ["none"],
                    ["benzodiazepine"],
                    ["antipsychotic_or_lithium", "antidepressant"],
                ]
            ),
            **{f"phq9_{n}": rng.randint(0, 3) for n in range(1, 10)},
            **{f"gad7_{n}": rng.randint(0, 3) for n in range(1, 8)},
        }
        if "high_bp" not in answers["heart_conditions"]:
            answers.pop("htn_controlled")
        made.append({"answers": answers})
    return made


async def load(
    url: str, path: str, sent: list[dict[str, Any]], seconds: float, workers: int
) -> tuple[list[float], int, int]:
    """Send requests (bodies picked at random from ``sent``) from ``workers`` loops for
    ``seconds``; latencies in ms."""
    latencies: list[float] = []
    ok = errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    pick = random.Random(3)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                response = await client.post(path, json=pick.choice(sent))
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code in (200, 201):
                    ok += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, ok, errors


WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("KS_BODIES")) do bodies[#bodies + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    bodies[math.random(#bodies)])
end
done = function(summary, latency, requests)
  io.write(string.format("KS %d %d %d %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_load(
    url: str, path: str, sent: list[dict[str, Any]], seconds: float, workers: int
) -> tuple[float, float, float, int, int]:
    """Drive the server with wrk (C, two threads), each request a body picked at random
    from ``sent``; returns req/s, p50, p99, ok, errors."""
    with tempfile.TemporaryDirectory() as tmp:
        script, body_file = Path(tmp) / "post.lua", Path(tmp) / "bodies.jsonl"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        body_file.write_text(
            "".join(json.dumps(body) + "\n" for body in sent), encoding="utf-8"
        )
        done = subprocess.run(  # noqa: S603 - wrk on loopback, bounded by -d
            [
                shutil.which("wrk") or "wrk",
                "-t2",
                f"-c{workers}",
                f"-d{int(seconds)}s",
                "-s",
                str(script),
                url + path,
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "KS_BODIES": str(body_file)},
        )
    if done.returncode != 0:  # say why: wrk's own words, not just its status
        raise SystemExit(
            f"wrk on {path} exited with {done.returncode}:\n{done.stderr}{done.stdout}"
        )
    out = done.stdout
    fields = next(line for line in out.splitlines() if line.startswith("KS ")).split()
    requests, errors, micros = int(fields[1]), int(fields[2]), int(fields[3])
    return (
        requests / (micros / 1e6),
        float(fields[4]),
        float(fields[5]),
        requests - errors,
        errors,
    )


def summarise(
    run: tuple[list[float], int, int], seconds: float
) -> tuple[float, float, float, int, int]:
    """req/s, p50, p99, ok, errors from the httpx generator's samples."""
    latencies, ok, errors = run
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return ok / seconds, statistics.median(ordered), p99, ok, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--workers", type=int, default=32, help="concurrent connections"
    )
    parser.add_argument("--quick", action="store_true", help="5 s per phase")
    parser.add_argument(
        "--server-workers", type=int, default=2, help="server processes"
    )
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    sent = bodies()
    use_wrk = shutil.which("wrk") is not None
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(Path(tmp))
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
        server = start_server(
            env, workers=args.server_workers, factory="echo_app:create"
        )
        url = server.url
        try:
            # Warm up: every server process has started and loaded its content.
            time.sleep(3)
            if use_wrk:
                wrk_load(url, "/api/v1/echo", sent, 2, args.workers)
                echo = wrk_load(url, "/api/v1/echo", sent, seconds, args.workers)
                store = wrk_load(url, "/api/v1/screenings", sent, seconds, args.workers)
            else:
                run = asyncio.run(
                    load(url, "/api/v1/echo", sent, seconds, args.workers)
                )
                echo = summarise(run, seconds)
                run = asyncio.run(
                    load(url, "/api/v1/screenings", sent, seconds, args.workers)
                )
                store = summarise(run, seconds)
        finally:
            server.stop()
        rows = (
            sqlite3.connect(Path(tmp) / "ketascreen.db")
            .execute("SELECT count(*) FROM screenings")
            .fetchone()[0]
        )
    echo_rps, store_rps = echo[0], store[0]
    generator = "wrk" if use_wrk else "httpx (install wrk for a lighter load generator)"
    print(
        f"load generator: {generator}; {args.workers} connections; "
        f"{args.server_workers} server processes; {seconds:g} s per endpoint"
    )
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in (("POST /api/v1/echo", echo), ("POST /api/v1/screenings", store)):
        print(f"{name:<28}{row[0]:>10.0f}{row[1]:>10.1f}{row[2]:>10.1f}")
    print(
        f"acknowledged {store[3]}, stored {rows}, errors {store[4]}; "
        f"{store_rps / echo_rps:.0%} of echo (targets: >= 1000/s, >= 50 %)"
    )
    print(
        json.dumps(
            {
                "stored_per_s": round(store_rps, 1),
                "p99_ms": round(store[2], 2),
                "ratio_vs_echo": round(store_rps / echo_rps, 3),
                "echo_per_s": round(echo_rps, 1),
                "acknowledged": store[3],
                "stored": rows,
                "errors": store[4],
            }
        )
    )


if __name__ == "__main__":
    main()
