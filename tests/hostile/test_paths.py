"""Path tricks in any file name: static files, download names, and the command
line's file arguments (folders, missing folders, pipes, devices, ``..``)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ketascreen.cli import app as cli_app
from ketascreen.config import Settings
from ketascreen.errors import InputError
from ketascreen.files import replaceable
from ketascreen.web.app import create_app
from tests.hostile.conftest import signed_in

ANSWERS = '{"age": 41, "phq9_9": 0}'


async def _raw_get(app: Any, path: str) -> tuple[int, bytes]:
    """GET a path exactly as a raw HTTP client may send it (no normalising)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], body


class TestStatic:
    """/static serves its own folder and nothing above it."""

    @pytest.mark.parametrize(
        "path",
        [
            "/static/../app.py",
            "/static/../../cli.py",
            "/static/../templates/base.html",
            "/static/..%2fapp.py",
            "/static/%2e%2e/app.py",
            "/static/..\\app.py",
            "/static//etc/passwd",
            "/static/style.css/../../app.py",
        ],
    )
    def test_traversal_is_not_served(self, tmp_path: Path, path: str) -> None:
        """Dot-dot, encoded or not, and absolute paths: 404, nothing from outside."""
        key = base64.b64encode(os.urandom(32)).decode()
        app = create_app(Settings(data_dir=tmp_path, data_key=key))
        status, body = anyio.run(_raw_get, app, path)
        assert status == 404, (path, body[:80])
        assert b"def " not in body
        assert b"root:" not in body

    def test_own_files_are_served(self, client: TestClient) -> None:
        """The stylesheet still loads."""
        assert client.get("/static/style.css").status_code == 200


class TestDownloadNames:
    """Content-Disposition names are fixed or built from a stored id, never from
    what the request said."""

    def test_pdf_and_csv_names(self, client: TestClient) -> None:
        """The report is screening-<8 hex>.pdf; the queue is ketascreen-queue.csv."""
        signed_in(client)
        sid = client.post("/api/v1/screenings", json={"answers": {"age": 41}}).json()[
            "id"
        ]
        pdf = client.get(f"/staff/screenings/{sid}/report.pdf")
        disposition = pdf.headers["content-disposition"]
        assert re.fullmatch(
            r'attachment; filename="screening-[0-9a-f]{8}\.pdf"', disposition
        )
        csv = client.get("/staff/queue.csv").headers["content-disposition"]
        assert csv == 'attachment; filename="ketascreen-queue.csv"'

    @pytest.mark.parametrize(
        "name", ['x"; filename="evil.exe', "..%2f..%2fetc", "x%0d%0aSet-Cookie: a=b"]
    )
    def test_tricks_in_the_id(self, client: TestClient, name: str) -> None:
        """An id that is not stored gets a 404 page, never a download."""
        signed_in(client)
        response = client.get(f"/staff/screenings/{name}/report.pdf")
        assert response.status_code == 404
        assert "content-disposition" not in response.headers
        assert "set-cookie" not in response.headers


def cli(*args: str, cwd: Path) -> Any:
    """Run the command line in this process, from ``cwd``."""
    here = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli_app, list(args))
    finally:
        os.chdir(here)


def cli_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command line as a process, bounded in time (a read that blocks on a
    pipe would otherwise never end)."""
    return subprocess.run(
        [sys.executable, "-m", "ketascreen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with an answers file, a note, a table, a folder holding a file,
    a FIFO, and a subfolder to run from (so ``..`` means something)."""
    (tmp_path / "answers.json").write_text(ANSWERS, encoding="utf-8")
    (tmp_path / "note.txt").write_text("Pt denies SI.", encoding="utf-8")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "folder.csv" / "keep.txt").write_text("mine", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "run").mkdir()
    done = cli("synth", "table.csv", "--people", "5", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    return tmp_path


class TestCliFiles:
    """Every file argument: a clear line naming it and exit 2, never a traceback."""

    @pytest.mark.parametrize(
        ("args", "named", "says"),
        [
            (["screen", "--answers", ".."], "..", "a folder, not a file"),
            (["screen", "--answers", "../nope/a.json"], "../nope/a.json", "no such"),
            (["screen", "--note", "../folder.csv"], "../folder.csv", "a folder"),
            (["screen", "--note", "missing.txt"], "missing.txt", "no such file"),
            (["batch", "../nope.csv", "out.csv"], "../nope.csv", "no such file"),
            (["batch", "../table.csv", ".."], "..", "write .parquet or .csv"),
            (
                ["batch", "../table.csv", "../folder.csv"],
                "../folder.csv",
                "is a folder",
            ),
            (["batch", "../table.csv", "no/out.csv"], "no/out.csv", "does not exist"),
            (["batch", "../table.csv", "out.txt"], "out.txt", "write .parquet or .csv"),
            (["synth", "../folder.csv"], "../folder.csv", "is a folder"),
            (["synth", "no/x.parquet"], "no/x.parquet", "folder no does not exist"),
            (["synth", "."], ".", "write .parquet or .csv"),
            (["interview", "--save", "../folder.csv"], "../folder.csv", "is a folder"),
        ],
    )
    def test_bad_file_names(
        self, workdir: Path, args: list[str], named: str, says: str
    ) -> None:
        """Folders, missing files and folders, wrong endings, ``..``."""
        done = cli(*args, cwd=workdir / "run")
        assert done.exit_code == 2, done.output
        assert f"{named}: " in done.stderr
        assert says in done.stderr
        assert "Traceback" not in done.output + done.stderr
        assert (workdir / "folder.csv" / "keep.txt").read_text(
            encoding="utf-8"
        ) == "mine"

    def test_dot_dot_to_a_real_file_works(self, workdir: Path) -> None:
        """``..`` is an ordinary path on the command line: a real file is read."""
        done = cli(
            "screen",
            "--answers",
            "../answers.json",
            "--format",
            "json",
            cwd=workdir / "run",
        )
        assert done.exit_code == 0, done.output
        assert '"disposition"' in done.stdout

    @pytest.mark.parametrize(
        "args",
        [
            ["screen", "--answers", "pipe.csv"],
            ["screen", "--note", "pipe.csv"],
            ["screen", "--answers", "/dev/zero"],
            ["batch", "pipe.csv", "out.csv"],
            ["batch", "table.csv", "pipe.csv"],
            ["synth", "pipe.csv", "--people", "5"],
            ["rules", "--ruleset", "pipe.csv"],
        ],
    )
    def test_pipes_and_devices(self, workdir: Path, args: list[str]) -> None:
        """A FIFO (no writer) or a device is refused before it is opened."""
        done = cli_process(*args, cwd=workdir)
        assert done.returncode == 2, done.stderr
        assert "a pipe or a device" in done.stderr
        assert "Traceback" not in done.stderr
        assert (workdir / "pipe.csv").is_fifo()

    def test_deep_answers_file(self, workdir: Path) -> None:
        """100,000 levels of [ in an answers file: exit 2 naming the file."""
        (workdir / "deep.json").write_text("[" * 100_000, encoding="utf-8")
        done = cli("screen", "--answers", "deep.json", cwd=workdir)
        assert done.exit_code == 2, done.output
        assert "deep.json: nested deeper than 64 levels" in done.stderr


class TestReplaceable:
    """What a finished table may be renamed onto."""

    def test_only_files_and_earlier_results(self, tmp_path: Path) -> None:
        """A file or a folder of Parquet parts may be replaced; a folder with
        anything else, a pipe or a device may not."""
        (tmp_path / "file.parquet").write_bytes(b"x")
        parts = tmp_path / "spark.parquet"
        parts.mkdir()
        for name in ("part-00000.parquet", ".part-00000.parquet.crc", "_SUCCESS"):
            (parts / name).write_bytes(b"")
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "thesis.tex").write_text("years of work", encoding="utf-8")
        os.mkfifo(tmp_path / "pipe")
        replaceable(tmp_path / "file.parquet")
        replaceable(parts)
        replaceable(tmp_path / "new.parquet")
        for refused in (mine, tmp_path / "pipe", Path("/dev/null")):
            with pytest.raises(InputError) as caught:
                replaceable(refused)
            assert caught.value.problems[0].where == str(refused)
