"""Benchmark: stored screenings per second over HTTP, against the same server's echo.

Not a test. Starts ``ketascreen serve`` on loopback (SQLite in a temporary folder),
then drives it with a bounded asyncio load generator for a fixed time: first
``POST /api/v1/echo`` (the floor: HTTP and JSON only), then
``POST /api/v1/screenings`` (validate, screen, encrypt, store, audit). It checks that
every acknowledged screening is stored. Last line: JSON with ``stored_per_s``,
``p99_ms`` and ``ratio_vs_echo``.
Target (issue 3): >= 1,000 stored screenings/s on this 2-core machine, >= 50 % of echo.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "KETASCREEN_DATA_DIR": str(data),
        "KETASCREEN_DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, loopback only
        [sys.executable, "-m", "ketascreen", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(url + "/", timeout=1)  # noqa: S310 - loopback
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


async def load(
    url: str, path: str, body: dict[str, Any], seconds: float, workers: int
) -> tuple[list[float], int, int]:
    """Send requests from ``workers`` loops for ``seconds``; latencies in ms."""
    latencies: list[float] = []
    ok = errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal ok, errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append((time.perf_counter() - t0) * 1000)
                if response.status_code in (200, 201):
                    ok += 1
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, ok, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=16, help="concurrent clients")
    parser.add_argument("--quick", action="store_true", help="5 s per phase")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            echo_lat, echo_ok, _ = asyncio.run(
                load(url, "/api/v1/echo", {"answers": ANSWERS}, seconds, args.workers)
            )
            store_lat, stored_ok, errors = asyncio.run(
                load(
                    url,
                    "/api/v1/screenings",
                    {"answers": ANSWERS},
                    seconds,
                    args.workers,
                )
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        rows = (
            sqlite3.connect(Path(tmp) / "ketascreen.db")
            .execute("SELECT count(*) FROM screenings")
            .fetchone()[0]
        )
    echo_rps, store_rps = echo_ok / seconds, stored_ok / seconds
    p99 = sorted(store_lat)[int(0.99 * (len(store_lat) - 1))]
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"{'POST /api/v1/echo':<28}{echo_rps:>10.0f}{statistics.median(echo_lat):>10.1f}"
        f"{sorted(echo_lat)[int(0.99 * (len(echo_lat) - 1))]:>10.1f}"
    )
    print(
        f"{'POST /api/v1/screenings':<28}{store_rps:>10.0f}{statistics.median(store_lat):>10.1f}"
        f"{p99:>10.1f}"
    )
    print(
        f"acknowledged {stored_ok}, stored {rows}, errors {errors}; "
        f"{store_rps / echo_rps:.0%} of echo (targets: >= 1000/s, >= 50 %)"
    )
    print(
        json.dumps(
            {
                "stored_per_s": round(store_rps, 1),
                "p99_ms": round(p99, 2),
                "ratio_vs_echo": round(store_rps / echo_rps, 3),
                "echo_per_s": round(echo_rps, 1),
                "acknowledged": stored_ok,
                "stored": rows,
                "errors": errors,
            }
        )
    )


if __name__ == "__main__":
    main()
