"""HTML, script and SQL-looking text in every free-text field, on SQLite and
PostgreSQL: stored verbatim, shown as text wherever it is shown (patient pages,
staff pages, the PDF report), nothing fetched, and the CSV export safe to open in a
spreadsheet."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from pypdf import PdfReader

from ketascreen.web.routes.staff import _cell
from tests.hostile.conftest import PASSWORD, signed_in, store

SQL = "' OR 1=1; DROP TABLE screenings; --"
NOTE_SENTENCE = "Hx bipolar I disorder, {payload}. Pt denies SI."


class Trap:
    """A loopback HTTP server that records every request made to it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                trap.hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]

    def payload(self) -> str:
        """Markup that would run script or fetch from this trap if not escaped."""
        url = f"http://127.0.0.1:{self.port}"
        return (
            f'<script>alert("ks")</script><img src="{url}/img" onerror="alert(1)">'
            f'<link rel="stylesheet" href="{url}/css">&amp; {SQL}'
        )


@pytest.fixture
def trap() -> Iterator[Trap]:
    """A running trap, stopped afterwards."""
    running = Trap()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def shown_as_text(html: str, payload: str, at_least: int = 1) -> None:
    """The page has no element or handler the payload would have made, and the
    payload reads literally: as text, or as a form field's value."""
    page: Any = BeautifulSoup(html, "html.parser")
    assert page.find("script") is None
    assert page.find(attrs={"onerror": True}) is None
    for tag in page.find_all(["img", "link"]):
        assert "127.0.0.1" not in str(tag.get("src", "")) + str(tag.get("href", ""))
    values = [tag.get("value") for tag in page.find_all("input")]
    shown = page.get_text().count(payload) + values.count(payload)
    assert shown >= at_least, page.get_text()[:2000]


def squeezed(text: str) -> str:
    """Text without whitespace: PDF text extraction breaks lines inside words."""
    return "".join(text.split())


def screened(client: TestClient, payload: str) -> dict[str, Any]:
    """A screening whose every free-text field holds the payload."""
    answers = {
        "age": 41,
        "reason_for_seeking": payload,
        "other_allergies": payload,
        "asq_4_how_when": payload,
    }
    body = {
        "answers": answers,
        "person_ref": payload,
        "note": NOTE_SENTENCE.format(payload=payload),
    }
    created = client.post("/api/v1/screenings", json=body)
    assert created.status_code == 201, created.text
    found: dict[str, Any] = created.json()
    return found


class TestEscapedEverywhere:
    """The payload in answers, the person reference, a note, staff notes, override
    reasons, a staff name and a login email."""

    def test_staff_pages_and_pdf(self, client: TestClient, trap: Trap) -> None:
        """Staff screening page, queue, PDF: literal text, nothing fetched."""
        payload = trap.payload()
        sid = screened(client, payload)["id"]
        store(client).add_user("named@clinic.test", payload, "clinician", PASSWORD)
        client.post(
            "/staff/login", data={"email": "named@clinic.test", "password": PASSWORD}
        )
        page: Any = BeautifulSoup(client.get("/staff").text, "html.parser")
        csrf = page.find("input", attrs={"name": "csrf"})["value"]
        form = {"csrf": csrf, "status": "in_review", "note": payload}
        assert client.post(f"/staff/screenings/{sid}/status", data=form).is_success
        reason = {"csrf": csrf, "disposition": "not_recommended_now", "reason": payload}
        assert client.post(f"/staff/screenings/{sid}/override", data=reason).is_success

        # answers x3, person reference, pasted note, status note, override reason
        shown_as_text(client.get(f"/staff/screenings/{sid}").text, payload, 7)
        shown_as_text(client.get("/staff").text, payload)  # the staff name

        pdf = client.get(f"/staff/screenings/{sid}/report.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        text = squeezed(
            "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        )
        # answers x3, status note, override reason (the note's evidence sentence)
        assert text.count(squeezed(payload)) >= 5, text[:3000]
        assert trap.hits == []

    def test_patient_pages(self, client: TestClient, trap: Trap) -> None:
        """The person's page re-shows a typed answer and an error about it as text."""
        payload = trap.payload()
        page = client.post("/start", follow_redirects=False).headers["location"]
        answered = client.post(
            f"{page}/about_you", data={"reason_for_seeking": payload, "age": payload}
        )
        assert answered.status_code == 422  # the age is not a number
        shown_as_text(answered.text, payload, 2)  # the textarea and the age field
        again = client.get(f"{page}/about_you")
        shown_as_text(again.text, payload)
        assert trap.hits == []

    def test_login_email(self, client: TestClient, trap: Trap) -> None:
        """A hostile email fails like any wrong sign-in and is not echoed."""
        payload = trap.payload()
        response = client.post("/staff/login", data={"email": payload, "password": SQL})
        assert response.status_code == 401
        page = BeautifulSoup(response.text, "html.parser")
        assert page.find("script") is None
        assert payload not in response.text


def strings(value: Any, key: str) -> Iterator[Any]:
    """Every value under ``key`` anywhere in JSON data."""
    if isinstance(value, dict):
        for name, child in value.items():
            if name == key:
                yield child
            yield from strings(child, key)
    elif isinstance(value, list):
        for child in value:
            yield from strings(child, key)


class TestSqlLookingText:
    """Text that looks like SQL is data: stored and shown back verbatim."""

    def test_stored_and_read_back_verbatim(self, client: TestClient) -> None:
        """Answers come back unchanged in the FHIR Bundle."""
        created = screened(client, SQL)
        bundle = client.get(
            f"/fhir/Bundle/{created['id']}",
            headers={"Authorization": f"Bearer {created['access_token']}"},
        ).json()
        (response,) = [
            entry["resource"]
            for entry in bundle["entry"]
            if entry["resource"]["resourceType"] == "QuestionnaireResponse"
        ]
        assert list(strings(response, "valueString")).count(SQL) == 3

    def test_same_reference_same_person(self, client: TestClient) -> None:
        """An SQL-looking person reference groups exactly its own screenings."""
        first = screened(client, SQL)["id"]
        second = screened(client, SQL)["id"]
        other = screened(client, SQL.replace("1=1", "2=2"))["id"]
        signed_in(client)
        page = client.get(f"/staff/screenings/{second}").text
        assert f"/staff/screenings/{first}" in page
        assert f"/staff/screenings/{other}" not in page

    @pytest.mark.parametrize("search", ["%", "_", "' OR '1'='1", "%' --"])
    def test_queue_search_is_literal(self, client: TestClient, search: str) -> None:
        """Search by id prefix treats wildcards and quotes as letters."""
        sid = screened(client, SQL)["id"]
        signed_in(client)
        hits = client.get("/staff", params={"q": search}).text
        assert sid[:8] not in hits
        assert sid[:8] in client.get("/staff", params={"q": sid[:4]}).text


class TestCsvExport:
    """The queue CSV opens in a spreadsheet as text."""

    @pytest.mark.parametrize(
        "cell", ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)", "\tx", "\rx"]
    )
    def test_formula_starts_are_quoted(self, cell: str) -> None:
        """A cell starting like a formula gets a leading apostrophe."""
        assert _cell(cell) == "'" + cell

    def test_plain_cells_unchanged(self) -> None:
        """Ids and words stay as they are."""
        assert _cell("3f2a-uuid") == "3f2a-uuid"
        assert _cell("needs_specialist_review") == "needs_specialist_review"

    def test_export_has_no_formula(self, client: TestClient) -> None:
        """Every cell of a real export is safe, and no answer is in it."""
        screened(client, "=cmd|' /C calc'!A0")
        signed_in(client)
        rows = list(csv.reader(io.StringIO(client.get("/staff/queue.csv").text)))
        assert len(rows) == 2
        for cell in (cell for row in rows for cell in row):
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
        assert "calc" not in str(rows)
