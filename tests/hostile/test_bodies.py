"""Malformed and oversized requests on SQLite and PostgreSQL: a JSON answer naming
the problem, never a 5xx, and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketascreen.storage.repository import Repository
from tests.hostile.conftest import assert_names_the_problem, signed_in

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON_ROUTES = [
    "/api/v1/screenings",
    "/fhir/QuestionnaireResponse",
    "/cds-services/ketascreen-patient-view",
    "/cds-services/ketascreen-patient-view/feedback",
]
LIMIT = 256_000  # Settings.max_body_bytes, the default the fixture uses


def repo(client: TestClient) -> Repository:
    """The app's repository."""
    found: Repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
    return found


def chunks(total: int, size: int = 16_384) -> Iterator[bytes]:
    """A body sent in pieces: the client sends no Content-Length, only chunks."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def refused(response: Any, path: str, status: int) -> Any:
    """Check the status and that the JSON body names the problem; return the body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert_names_the_problem(path, status, body)
    return body


def problem_fields(body: Any) -> set[str]:
    """The fields an error body names (either form)."""
    if body.get("resourceType") == "OperationOutcome":
        return {e for issue in body["issue"] for e in issue["expression"]}
    return {entry["field"] for entry in body["detail"]}


def draft_page(client: TestClient) -> str:
    """Start a questionnaire and return its first page's address."""
    started = client.post("/start", follow_redirects=False)
    return started.headers["location"] + "/about_you"


class TestOversized:
    """Bodies over KETASCREEN_MAX_BODY_BYTES get 413 and are not read further."""

    @pytest.mark.parametrize("path", JSON_ROUTES)
    def test_declared_length(self, client: TestClient, path: str) -> None:
        """A Content-Length over the limit is refused before the body is read."""
        response = client.post(path, content=b"[" + b" " * LIMIT + b"]", headers=JSON)
        assert problem_fields(refused(response, path, 413)) == {"body"}

    @pytest.mark.parametrize("path", JSON_ROUTES)
    def test_chunked_without_length(self, client: TestClient, path: str) -> None:
        """A chunked body with no Content-Length is counted as it arrives: 413."""
        response = client.post(path, content=chunks(LIMIT + 1), headers=JSON)
        assert "content-length" not in response.request.headers
        body = refused(response, path, 413)
        assert problem_fields(body) == {"body"}
        assert repo(client).count() == 0

    def test_chunked_forms(self, client: TestClient) -> None:
        """The patient's pages and staff forms count chunked bodies too."""
        page = draft_page(client)
        csrf = signed_in(client)
        for path in (page, "/staff/login", "/staff/screenings/x/note"):
            body = b"csrf=" + csrf.encode() + b"&note=" + b"x" * LIMIT
            response = client.post(path, content=iter([body]), headers=FORM)
            refused(response, path, 413)

    def test_chunked_under_the_limit_is_read(self, client: TestClient) -> None:
        """Counting does not get in the way of a normal chunked body."""
        body = (
            b'{"answers": {"age": 41, "reason_for_seeking": "' + b"a" * 4_000 + b'"}}'
        )
        pieces = (body[i : i + 100] for i in range(0, len(body), 100))
        response = client.post("/api/v1/screenings", content=pieces, headers=JSON)
        assert response.status_code == 201, response.text
        assert repo(client).count() == 1


class TestNesting:
    """Deeply nested JSON is refused with 400 naming the body, never a RecursionError."""

    @pytest.mark.parametrize("path", JSON_ROUTES)
    def test_hundred_thousand_brackets(self, client: TestClient, path: str) -> None:
        """100,000 levels of [ (inside the size limit)."""
        response = client.post(path, content=b"[" * 100_000, headers=JSON)
        assert problem_fields(refused(response, path, 400)) == {"body"}

    @pytest.mark.parametrize("path", JSON_ROUTES)
    def test_parseable_but_deep(self, client: TestClient, path: str) -> None:
        """Nesting Python's parser survives but the handlers would not: refused or
        judged, never a crash."""
        deep = b"[" * 900 + b"]" * 900
        body = b'{"answers": {"age": ' + deep + b'}, "resourceType": "Bundle"}'
        response = client.post(path, content=body, headers=JSON)
        assert 400 <= response.status_code < 500, response.text
        assert_names_the_problem(path, response.status_code, response.json())
        assert repo(client).count() == 0

    def test_deep_questionnaire_groups(self, client: TestClient) -> None:
        """A QuestionnaireResponse with groups nested 300 deep: 400 naming the body."""
        item: dict[str, Any] = {"linkId": "age", "answer": [{"valueInteger": 41}]}
        for _ in range(300):
            item = {"linkId": "group", "item": [item]}
        resource = {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "item": [item],
        }
        path = "/fhir/QuestionnaireResponse"
        body = refused(client.post(path, json=resource), path, 400)
        assert "nested deeper" in body["issue"][0]["diagnostics"]


class TestEncoding:
    """Bytes that are not UTF-8 text."""

    @pytest.mark.parametrize("path", JSON_ROUTES)
    def test_json_not_utf8(self, client: TestClient, path: str) -> None:
        """Latin-1 bytes in a JSON body: 400 naming the body, saying why."""
        body = b'{"answers": {"reason_for_seeking": "caf\xe9 \xff\xfe"}}'
        answer = refused(client.post(path, content=body, headers=JSON), path, 400)
        assert problem_fields(answer) == {"body"}
        assert "UTF-8" in str(answer)
        assert repo(client).count() == 0

    @pytest.mark.parametrize("path", JSON_ROUTES)
    def test_unpaired_surrogate(self, client: TestClient, path: str) -> None:
        """A JSON escape for half a surrogate pair (valid JSON, no character) in a
        value or a key: 400 naming the body, before anything is sealed or scanned."""
        for body in (
            b'{"answers": {"reason_for_seeking": "a\\ud800b"}}',
            b'{"answers": {"\\udc00": 1}, "note": "Pt denies SI \\ud800."}',
        ):
            answer = refused(client.post(path, content=body, headers=JSON), path, 400)
            assert "unpaired surrogate" in str(answer)
        assert repo(client).count() == 0

    def test_patient_form_not_utf8(self, client: TestClient) -> None:
        """A page post with bytes that are not UTF-8 is read as text, kept, and
        shown back as text."""
        page = draft_page(client)
        for body in (b"reason_for_seeking=%FF%FEcaf%E9&age=41", b"\xff\xfe=\xff"):
            response = client.post(page, content=body, headers=FORM)
            assert response.status_code < 500
        again = client.post(
            page, content=b"reason_for_seeking=%FFok&age=41", headers=FORM
        )
        assert again.status_code == 200  # followed to the next page
        shown = client.get(page)
        assert "\ufffdok</textarea>" in shown.text

    def test_staff_forms_not_utf8(self, client: TestClient) -> None:
        """Staff forms with broken bytes: a page or redirect, never a 5xx."""
        csrf = signed_in(client).encode()
        sid = client.post("/api/v1/screenings", json={"answers": {"age": 41}}).json()[
            "id"
        ]
        posts = {
            "/staff/login": b"email=%FF%FE&password=\xff\xfe",
            f"/staff/screenings/{sid}/status": b"csrf="
            + csrf
            + b"&status=in_review&note=%FF\xfe",
            f"/staff/screenings/{sid}/override": b"csrf="
            + csrf
            + b"&disposition=proceed_with_standard_care&reason=%FF%FE long enough \xff",
            f"/staff/screenings/{sid}/note": b"csrf=" + csrf + b"&note=%FF%FE\xff",
        }
        for path, body in posts.items():
            response = client.post(path, content=body, headers=FORM)
            assert response.status_code < 500, (path, response.text)

    def test_broken_multipart(self, client: TestClient) -> None:
        """A multipart body that does not parse: 400 naming the body."""
        headers = {"content-type": "multipart/form-data; boundary=x"}
        response = client.post("/staff/login", content=b"email=a", headers=headers)
        assert problem_fields(refused(response, "/staff/login", 400)) == {"body"}


class TestNul:
    """NUL characters: PostgreSQL cannot store them in text, so none may reach it
    unsealed; sealed free text keeps them verbatim."""

    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/screenings/a%00b",
            "/fhir/Bundle/%00",
            "/s/%00",
            "/result/%00/%00",
            "/staff/screenings/%00",
        ],
    )
    def test_in_the_path(self, client: TestClient, path: str) -> None:
        """A NUL in the path: 400 naming the path."""
        response = client.get(path, headers={"Authorization": "Bearer x"})
        assert problem_fields(refused(response, path, 400)) == {"path"}

    def test_in_the_query(self, client: TestClient) -> None:
        """A NUL in the query (the staff queue search): 400 naming the query."""
        signed_in(client)
        for query in ("q=%00", "status=a%00", "disposition=%00x"):
            response = client.get(f"/staff?{query}")
            assert problem_fields(refused(response, "/staff", 400)) == {"query"}

    def test_sealed_free_text_keeps_it(self, client: TestClient) -> None:
        """Free text, the person reference and the note keep a NUL (they are sealed)."""
        answers = {"age": 41, "reason_for_seeking": "a\x00b"}
        created = client.post(
            "/api/v1/screenings",
            json={"answers": answers, "person_ref": "MRN\x001", "note": "Pt\x00 ok."},
        )
        assert created.status_code == 201, created.text
        stored = repo(client).get_with_token(
            created.json()["id"], created.json()["access_token"]
        )
        assert stored is not None
        assert stored.answers["reason_for_seeking"] == "a\x00b"

    def test_in_unsealed_fields(self, client: TestClient) -> None:
        """Fields kept as plain text (a card id, an idempotency key, a login email)
        refuse a NUL by name, or fail like any wrong sign-in."""
        feedback = {
            "feedback": [
                {"card": "a\x00b", "outcome": "accepted", "outcomeTimestamp": "now"}
            ]
        }
        path = "/cds-services/ketascreen-patient-view/feedback"
        body = refused(client.post(path, json=feedback), path, 422)
        assert problem_fields(body) == {"feedback.0.card"}
        response = client.post(
            "/api/v1/screenings",
            json={"answers": {"age": 41}},
            headers={"Idempotency-Key": "key\x00"},
        )
        assert problem_fields(refused(response, "/api/v1", 422)) == {
            "header.idempotency-key"
        }
        login = client.post("/staff/login", data={"email": "a\x00@b", "password": "x"})
        assert login.status_code == 401
        assert repo(client).count() == 0

    def test_long_card_id(self, client: TestClient) -> None:
        """A card id longer than the audit log keeps: 422 naming it."""
        item = {"card": "c" * 65, "outcome": "accepted", "outcomeTimestamp": "now"}
        path = "/cds-services/ketascreen-patient-view/feedback"
        body = refused(client.post(path, json={"feedback": [item]}), path, 422)
        assert problem_fields(body) == {"feedback.0.card"}
