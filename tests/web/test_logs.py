"""Logs never hold what people and staff wrote: answers, notes, references.

A real ``ketascreen serve --log-level debug`` process, and the app in-process with
every logger at DEBUG (caplog), take a person's answers with free text, a note sent
with the JSON API, a person's pages, refused input, staff status notes, an override
reason and a pasted note, each carrying a marker; the marker must appear nowhere in
what was logged.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from tests.servers import Server, free_port, server_env

from ketascreen.config import Settings
from ketascreen.web.app import create_app

MARK = "Qz7xLogMark"  # letters only: the same in JSON, forms and URLs
ADMIN, PASSWORD = "admin@clinic.test", "correct horse battery"
#: The real server's client, or the in-process app's.
Http = httpx.Client | TestClient
NOTE = "Referral letter. Pt denies SI. Hx bipolar I, stable on lithium x 3 yrs."


def exercise(http: Http) -> list[str]:
    """Every way free text reaches the server, each with the marker.

    Returns:
        The private link tokens handed out on the way.
    """
    created = http.post(
        "/api/v1/screenings",
        json={
            "answers": {
                "age": 40,
                "reason_for_seeking": f"{MARK} answer",
                "other_allergies": f"{MARK} allergy",
            },
            "person_ref": f"{MARK}-ref",
            "note": f"{NOTE} {MARK} api note.",
        },
    )
    assert created.status_code == 201, created.text
    sid, access = created.json()["id"], created.json()["access_token"]
    refused = http.post("/api/v1/screenings", json={"answers": {"age": f"{MARK}"}})
    assert refused.status_code == 422
    links = _person_pages(http)
    signed_in = http.post("/staff/login", data={"email": ADMIN, "password": PASSWORD})
    assert signed_in.status_code == 303
    for action, fields in (
        ("status", {"status": "in_review", "note": f"{MARK} status note"}),
        (
            "override",
            {"disposition": "prepare_first", "reason": f"{MARK} override reason"},
        ),
        ("note", {"note": f"{NOTE} {MARK} pasted note."}),
    ):
        done = http.post(
            f"/staff/screenings/{sid}/{action}",
            data={"csrf": _csrf(http, sid), **fields},
        )
        assert done.status_code == 303, done.text
    shown = http.get(f"/staff/screenings/{sid}")
    assert MARK in shown.text  # stored and shown to staff, just never logged
    assert http.get(f"/staff/screenings/{sid}/report.pdf").status_code == 200
    return [access, *links]


def _person_pages(http: Http) -> list[str]:
    """A person's draft and submission; the resume and result link tokens."""
    started = http.post("/start")
    assert started.status_code == 303
    link = started.headers["location"]
    assert http.get(link).status_code == 303
    page = http.post(
        f"{link}/about_you", data={"age": "40", "reason_for_seeking": f"{MARK} page"}
    )
    assert page.status_code == 303, page.text
    bad = http.post(f"{link}/about_you", data={"age": f"{MARK}"})
    assert bad.status_code == 422
    finished = http.post(f"{link}/finish")
    assert finished.status_code == 303
    result = finished.headers["location"]
    assert http.get(result).status_code == 200
    return [link.rsplit("/", 1)[-1], result.rsplit("/", 1)[-1]]


def _csrf(http: Http, sid: str) -> str:
    page = BeautifulSoup(http.get(f"/staff/screenings/{sid}").text, "html.parser")
    token: str = page.find("input", attrs={"name": "csrf"})["value"]  # type: ignore[index, assignment]
    return token


@pytest.mark.slow
def test_server_debug_log(tmp_path: Path) -> None:
    """`ketascreen serve --log-level debug`: its output shows the requests, never the
    marker, and private link tokens only as …."""
    env = server_env(tmp_path, admin_email=ADMIN, admin_password=PASSWORD)
    log = tmp_path / "server.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ketascreen",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "debug",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            _wait(http, server)
            tokens = exercise(http)
    finally:
        server.stop()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert '"POST /api/v1/screenings HTTP/1.1" 201' in output  # debug logging was on
    assert "DEBUG" in output
    assert MARK not in output
    assert '"GET /s/… HTTP/1.1" 303' in output
    for token in tokens:
        assert token not in output


def test_app_debug_logging(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every logger at DEBUG while the app works, SQL included: none has the marker."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        admin_email=ADMIN,
        admin_password=PASSWORD,
    )
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy keeps its own loggers at WARNING; with them at DEBUG every statement,
    # its parameters and the rows read are logged too.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    with TestClient(create_app(settings), follow_redirects=False) as http:
        exercise(http)
    names = {r.name for r in caplog.records}
    assert {"sqlalchemy.engine.Engine", "weasyprint.progress"} <= names
    for record in caplog.records:
        assert MARK not in record.getMessage(), record.name
        assert MARK not in repr(record.args), record.name
    assert MARK not in caplog.text


def _wait(http: httpx.Client, server: Server, timeout: float = 60) -> None:
    """Until the server answers (or fail with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail("ketascreen serve exited:\n" + server.log_tail())
        try:
            http.get("/")
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        return
    pytest.fail("ketascreen serve did not answer:\n" + server.log_tail())
