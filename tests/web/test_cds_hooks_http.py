"""CDS Hooks over HTTP: discovery, cards, 412, feedback in the audit log, JWT checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from tests.interop.cds_examples import PREGNANT, request

from ketascreen.config import Settings
from ketascreen.web.app import create_app

URL = "/cds-services/ketascreen-patient-view"
ISSUER = "https://ehr.example.org"


class TestService:
    """The services answer over HTTP."""

    def test_discovery(self, client: TestClient) -> None:
        """GET /cds-services lists both services."""
        response = client.get("/cds-services")
        assert response.status_code == 200
        assert len(response.json()["services"]) == 2

    def test_cards(self, client: TestClient) -> None:
        """A call with a pregnancy in the record gets a critical card."""
        response = client.post(URL, json=request("patient-view", PREGNANT))
        assert response.status_code == 200
        assert response.json()["cards"][0]["indicator"] == "critical"

    def test_nothing_prefetched_is_412(self, client: TestClient) -> None:
        """412 with a JSON body naming the prefetch keys."""
        body = request("patient-view")
        body["prefetch"] = {}
        response = client.post(URL, json=body)
        assert response.status_code == 412
        assert "conditions" in response.json()["detail"]

    def test_bad_json_and_fields(self, client: TestClient) -> None:
        """Invalid JSON is 400; a missing field is 4xx naming it."""
        bad = client.post(
            URL, content=b"{", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        missing = client.post(URL, json={"hook": "patient-view"})
        assert missing.status_code == 422
        fields = {f["field"] for f in missing.json()["detail"]}
        assert "request.hookInstance" in fields

    def test_unknown_service_is_404(self, client: TestClient) -> None:
        """No such service."""
        assert client.post("/cds-services/nope", json={}).status_code == 404


class TestFeedback:
    """Feedback goes into the audit log, without free text."""

    def test_recorded(self, client: TestClient) -> None:
        """Each feedback item is one audit entry with the outcome and reason code."""
        card = str(uuid.uuid4())
        body = {
            "feedback": [
                {
                    "card": card,
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-28T10:00:00Z",
                    "overrideReason": {
                        "reason": {"code": "information-outdated", "system": "x"},
                        "userComment": "patient delivered last month",
                    },
                }
            ]
        }
        response = client.post(URL + "/feedback", json=body)
        assert response.status_code == 200
        assert response.json() == {"recorded": 1}
        state = client.app.state.ketascreen  # type: ignore[attr-defined]
        [entry] = state.repository.audit_events(card)
        assert entry.action == "cds.feedback"
        assert (
            entry.detail == "ketascreen-patient-view: overridden (information-outdated)"
        )
        assert "delivered" not in entry.detail

    def test_bad_outcome(self, client: TestClient) -> None:
        """An unknown outcome names the field."""
        body = {
            "feedback": [{"card": "c", "outcome": "maybe", "outcomeTimestamp": "t"}]
        }
        response = client.post(URL + "/feedback", json=body)
        assert response.status_code == 422
        assert "feedback.0.outcome" in {f["field"] for f in response.json()["detail"]}


@pytest.fixture
def signing_key() -> ec.EllipticCurvePrivateKey:
    """The EHR's private key (P-384, for ES384)."""
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def guarded(
    settings: Settings, tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey
) -> Iterator[TestClient]:
    """A client for an app that trusts one issuer."""
    pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path / "ehr.pem"
    key_file.write_bytes(pem)
    guarded_settings = settings.model_copy(
        update={"cds_jwt_issuers": {ISSUER: key_file}}
    )
    with TestClient(create_app(guarded_settings)) as test_client:
        yield test_client


def token(
    key: Any,
    *,
    issuer: str = ISSUER,
    audience: str = "http://testserver" + URL,
    **claims: Any,
) -> str:
    """A CDS client JWT (ES384) with the spec's claims."""
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode(payload, key, algorithm="ES384")


class TestBearer:
    """With an issuer allow-list, only signed calls from it get in."""

    def test_valid_token(
        self, guarded: TestClient, signing_key: ec.EllipticCurvePrivateKey
    ) -> None:
        """A correctly signed token for this URL is accepted."""
        headers = {"Authorization": f"Bearer {token(signing_key)}"}
        response = guarded.post(
            URL, json=request("patient-view", PREGNANT), headers=headers
        )
        assert response.status_code == 200

    def test_refused(
        self, guarded: TestClient, signing_key: ec.EllipticCurvePrivateKey
    ) -> None:
        """No token, another issuer, another key, another audience, expired: 401."""
        other_key = ec.generate_private_key(ec.SECP384R1())
        bad = [
            None,
            token(signing_key, issuer="https://evil.example"),
            token(other_key),
            token(signing_key, audience="http://testserver/cds-services/other"),
            token(signing_key, exp=int(time.time()) - 10),
        ]
        for value in bad:
            headers = {"Authorization": f"Bearer {value}"} if value else {}
            response = guarded.post(
                URL, json=request("patient-view", PREGNANT), headers=headers
            )
            assert response.status_code == 401, value
            assert response.json()["detail"]

    def test_discovery_stays_open(self, guarded: TestClient) -> None:
        """Discovery needs no token (the spec's EHRs read it before calling)."""
        assert guarded.get("/cds-services").status_code == 200
