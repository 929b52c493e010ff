"""The JSON API on SQLite and PostgreSQL: store, read back, errors naming fields."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ketascreen.storage.repository import Repository

CALM = {
    "age": 41,
    "sex_at_birth": "male",
    "phq9_9": 0,
    "bp_systolic": 150,
    "bp_diastolic": 85,
}


def post(client: TestClient, answers: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/v1/screenings", json={"answers": answers}, headers=headers)


def repo(client: TestClient) -> Repository:
    repository: Repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
    return repository


class TestCreateAndRead:
    """A screening is stored and read back with its private token."""

    def test_round_trip(self, client: TestClient) -> None:
        """POST stores the result; GET with the token returns the same result."""
        created = post(client, CALM)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["result"]["disposition"] == "needs_specialist_review"
        assert "cardiovascular.bp_raised_measured" in {
            f["rule_id"] for f in body["result"]["findings"]
        }
        again = client.get(
            f"/api/v1/screenings/{body['id']}",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert again.status_code == 200
        assert again.json()["result"] == body["result"]

    def test_wrong_or_missing_token_is_404(self, client: TestClient) -> None:
        """Without the right token nothing is revealed, not even that the id exists."""
        body = post(client, CALM).json()
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = client.get(f"/api/v1/screenings/{body['id']}", headers=headers)
            assert response.status_code == 404
        other = client.get(
            "/api/v1/screenings/00000000-0000-0000-0000-000000000000",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert other.status_code == 404

    def test_stored_encrypted(self, client: TestClient) -> None:
        """Answers and results are not readable in the database."""
        from sqlalchemy import text

        post(client, {**CALM, "reason_for_seeking": "my secret words"})
        with repo(client).engine.connect() as conn:
            raw = conn.execute(text("SELECT answers, result FROM screenings")).one()
        blob = bytes(raw[0]) + bytes(raw[1])
        assert b"secret words" not in blob
        assert b"bp_systolic" not in blob

    def test_token_not_derivable_from_the_database(self, client: TestClient) -> None:
        """The key id stored in clear in each sealed value does not give the token away."""
        import hashlib
        import hmac
        from base64 import urlsafe_b64encode

        from sqlalchemy import text

        body = post(client, CALM).json()
        with repo(client).engine.connect() as conn:
            blob = bytes(
                conn.execute(text("SELECT result FROM screenings")).scalar_one()
            )
        key_id = blob[2:10]  # what anyone reading the database can see
        guess_key = hashlib.sha256(b"ketascreen access token" + key_id).digest()
        guess = hmac.new(guess_key, body["id"].encode(), hashlib.sha256).digest()
        assert urlsafe_b64encode(guess).decode().rstrip("=") != body["access_token"]

    def test_audited(self, client: TestClient) -> None:
        """Creating and reading a screening are both in the audit log."""
        body = post(client, CALM).json()
        client.get(
            f"/api/v1/screenings/{body['id']}",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        actions = [e.action for e in repo(client).audit_events(body["id"])]
        assert actions == ["screening.create", "screening.read"]

    def test_idempotent_retry(self, client: TestClient) -> None:
        """The same Idempotency-Key twice stores one screening and answers the same,
        with a link that works (tests/web/test_links.py has the rest)."""
        first = post(client, CALM, **{"Idempotency-Key": "abc-123"}).json()
        second = post(client, CALM, **{"Idempotency-Key": "abc-123"}).json()
        assert first["id"] == second["id"]
        assert first["result"] == second["result"]
        again = client.get(
            f"/api/v1/screenings/{second['id']}",
            headers={"Authorization": f"Bearer {second['access_token']}"},
        )
        assert again.status_code == 200
        assert repo(client).count() == 1


class TestBadInput:
    """Bad bodies get 4xx JSON naming the field; nothing is stored."""

    def test_bad_answers(self, client: TestClient) -> None:
        """Each bad answer is named."""
        response = post(client, {"bp_systolic": 400, "phq9_3": 7, "nope": 1})
        assert response.status_code == 422
        fields = {d["field"] for d in response.json()["detail"]}
        assert fields == {"bp_systolic", "phq9_3", "nope"}
        assert repo(client).count() == 0

    def test_malformed_json(self, client: TestClient) -> None:
        """Malformed JSON is a 400 naming the body."""
        response = client.post(
            "/api/v1/screenings",
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["detail"][0]["field"] == "body"

    def test_wrong_shape(self, client: TestClient) -> None:
        """A missing 'answers' key or an extra key is named."""
        missing = client.post("/api/v1/screenings", json={"answer": {}})
        fields = {d["field"] for d in missing.json()["detail"]}
        assert missing.status_code == 422
        assert {"answers", "answer"} <= fields

    def test_oversized_body(self, client: TestClient) -> None:
        """A body over the limit is refused before it is read."""
        big = {"answers": {"reason_for_seeking": "x" * 300_000}}
        response = client.post("/api/v1/screenings", json=big)
        assert response.status_code == 413
        assert response.json()["detail"][0]["field"] == "body"

    def test_openapi_documents_the_api(self, client: TestClient) -> None:
        """The generated OpenAPI lists both routes."""
        paths = client.get("/openapi.json").json()["paths"]
        assert "/api/v1/screenings" in paths
        assert "/api/v1/screenings/{screening_id}" in paths


class TestHeaders:
    """Security headers on every response, pages and API alike."""

    def test_security_headers(self, client: TestClient) -> None:
        """CSP allows only this server; no framing, no sniffing, no referrer."""
        for response in (
            client.get("/"),
            post(client, CALM),
            client.get("/staff/login"),
        ):
            csp = response.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"


class TestClinicContent:
    """The server uses a clinic's ruleset layer when configured."""

    def test_server_with_clinic_ruleset(self, tmp_path: Any, database_url: str) -> None:
        """KETASCREEN_RULESET layers the clinic's file; results record it."""
        import base64
        import os

        from ketascreen.config import Settings
        from ketascreen.web.app import create_app

        layer = tmp_path / "clinic.yaml"
        layer.write_text(
            "schema_version: 1\nid: my-clinic\nversion: 0.2.0\ntitle: Clinic\n"
            "extends: default\nparameters:\n  cardiovascular_bp_defer_systolic: {value: 150}\n",
            encoding="utf-8",
        )
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path,
            data_key=base64.b64encode(os.urandom(32)).decode(),
            ruleset=layer,
        )
        env = settings.as_environment()
        assert env["KETASCREEN_RULESET"] == str(layer)
        with TestClient(create_app(settings)) as clinic:
            body = post(clinic, {"bp_systolic": 150, "bp_diastolic": 80}).json()
        assert body["result"]["ruleset_version"] == "default@1.0.0 > my-clinic@0.2.0"
        assert "cardiovascular.bp_high_measured" in {
            f["rule_id"] for f in body["result"]["findings"]
        }
