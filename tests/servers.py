"""Real ``ketascreen serve`` processes for tests and benchmarks: start, wait, stop, kill.

The server runs on loopback in its own process group, so a test can kill it together
with its worker processes (SIGKILL, in the middle of a request) and start it again on
the same port and database. Used by tests/reliability and benchmarks/ (web.py, soak.py).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(
    data_dir: Path, *, database_url: str | None = None, **settings: str
) -> dict[str, str]:
    """The environment for a server: this one plus KETASCREEN_* settings.

    Args:
        data_dir: the server's data folder (the SQLite file by default).
        database_url: a database URL; default: SQLite in ``data_dir``.
        settings: more settings by name, e.g. ``max_body_bytes="1000"``.

    Returns:
        The environment, with a fresh random data key unless ``data_key`` is given.
    """
    env = {
        **os.environ,
        "KETASCREEN_DATA_DIR": str(data_dir),
        "KETASCREEN_DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    if database_url:
        env["KETASCREEN_DATABASE_URL"] = database_url
    env.update({f"KETASCREEN_{k.upper()}": v for k, v in settings.items()})
    return env


def add_staff(env: dict[str, str], email: str, role: str, password: str) -> None:
    """Create a staff account with the real CLI (``ketascreen users add``)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ketascreen",
            "users",
            "add",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        input=password + "\n",
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ketascreen users add failed:\n{done.stdout}{done.stderr}")


@dataclass
class Server:
    """A running ``ketascreen serve`` process group on loopback."""

    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log: Path | None

    def stop(self, timeout: float = 15) -> None:
        """Stop gracefully (SIGTERM); SIGKILL the group if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()

    def kill(self) -> None:
        """Kill the server and its worker processes at once (SIGKILL, no clean-up)."""
        self._kill_group()
        self.proc.wait(timeout=15)

    def _kill_group(self) -> None:
        with suppress(ProcessLookupError):  # the group has exited
            os.killpg(self.proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log (empty without a log file)."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start_server(
    env: dict[str, str],
    *,
    port: int | None = None,
    workers: int = 1,
    log: Path | None = None,
    timeout: float = 60,
    factory: str | None = None,
) -> Server:
    """Start ``ketascreen serve`` and wait until it answers ``GET /``.

    Args:
        env: the environment (see :func:`server_env`).
        port: the port; default: a free one (give the old one to restart in place).
        workers: server processes.
        log: a file for the server's output (appended to); default: discarded.
        timeout: seconds to wait for the first answer.
        factory: serve this app factory ("module:function") with uvicorn instead
            (benchmarks/web.py adds an echo route this way).

    Returns:
        The running server.

    Raises:
        RuntimeError: the server exited or did not answer in time (with its log).
    """
    port = port or free_port()
    program = ["ketascreen", "serve"]
    if factory is not None:
        program = ["uvicorn", "--factory", factory, "--log-level", "warning"]
    with log.open("ab") if log else open(os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                *program,
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", port, log)
    _wait_ready(server, timeout)
    return server


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"ketascreen serve exited with {server.proc.returncode}:\n"
                + server.log_tail()
            )
        try:
            with urllib.request.urlopen(server.url + "/", timeout=2):  # noqa: S310 - loopback
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(
        f"ketascreen serve did not answer within {timeout:g} s:\n" + server.log_tail()
    )


@contextmanager
def running_server(
    env: dict[str, str], *, workers: int = 1, log: Path | None = None
) -> Iterator[Server]:
    """A server for the ``with`` block; stopped (and its group killed) afterwards."""
    server = start_server(env, workers=workers, log=log)
    try:
        yield server
    finally:
        server.stop()
