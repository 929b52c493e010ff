"""No request telemetry, whatever the environment says.

FastAPI traces requests through OpenTelemetry once a tracer provider is installed, and
exports them when ``FASTAPI_OTEL_AUTO_CONFIGURE=true`` names an endpoint. A span's
``url.path`` would carry a private link token off the machine. The app turns all of it off.
Each check runs in a fresh interpreter: a tracer provider is process-wide.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import json, sys
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from opentelemetry import trace

    started = []

    class Recording(trace.NoOpTracer):
        def start_span(self, name, *args, **kwargs):
            started.append(name)
            return super().start_span(name, *args, **kwargs)

        def start_as_current_span(self, name, *args, **kwargs):
            started.append(name)
            return super().start_as_current_span(name, *args, **kwargs)

    class Provider(trace.TracerProvider):  # not a no-op one: FastAPI skips those
        def get_tracer(self, *args, **kwargs):
            return Recording()

    trace.set_tracer_provider(Provider())
    if sys.argv[1] == "ketascreen":
        from ketascreen.web.app import create_app
        app = create_app()
        path = "/"
    else:  # a bare FastAPI app: shows that the probe sees spans when there are any
        app = FastAPI()
        app.get("/")(lambda: {})
        path = "/"
    with TestClient(app) as client:
        assert client.get(path).status_code == 200
    print(json.dumps(started))
    """
)


def spans(kind: str, tmp_path: Path) -> list[str]:
    """Span names started while serving one request, in a fresh interpreter."""
    env = {
        **os.environ,
        "FASTAPI_OTEL_AUTO_CONFIGURE": "true",
        # A documentation address (RFC 5737): nothing there, and nothing is sent.
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://192.0.2.1:4318",
        "KETASCREEN_DATA_DIR": str(tmp_path),
        "KETASCREEN_DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, kind],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout
    names: list[str] = json.loads(out.strip().splitlines()[-1])
    return names


def test_no_spans_even_when_the_environment_asks(tmp_path: Path) -> None:
    """With a tracer provider installed and export asked for, the app starts no span."""
    assert spans("ketascreen", tmp_path) == []


def test_the_probe_sees_spans_of_a_plain_app(tmp_path: Path) -> None:
    """The same probe on a FastAPI app with default settings records its spans."""
    assert spans("plain", tmp_path)
