"""A real server on loopback and a real browser (Debian's Chromium, driven by Playwright).

The server runs ``ketascreen serve`` in a subprocess on a free port with a SQLite
database in a temporary folder. Playwright launches /usr/bin/chromium; it never
downloads a browser. axe-core (bundled with axe-playwright-python) checks each page.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("KETASCREEN_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`ketascreen serve` on loopback with a fresh database (SQLite or PostgreSQL)."""
    data = tmp_path_factory.mktemp("server")
    port = _free_port()
    database = {}
    if request.param == "postgresql":
        from tests.databases import fresh_database

        database = {
            "KETASCREEN_DATABASE_URL": fresh_database(
                request.getfixturevalue("postgres")
            )
        }
    env = {
        **os.environ,
        **database,
        "KETASCREEN_DATA_DIR": str(data),
        "KETASCREEN_DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
        "KETASCREEN_ADMIN_EMAIL": "admin@clinic.test",
        "KETASCREEN_ADMIN_PASSWORD": "browser test password",
    }
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ketascreen", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/", timeout=1)  # noqa: S310 - loopback only
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        log.close()
        raise RuntimeError(
            "the server did not start: " + (data / "server.log").read_text()
        )
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the machine (no browser download)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing; scripts/test installs Debian's chromium"
        )
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        yield instance
        instance.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1
    )
    page = context.new_page()
    yield page
    context.close()
