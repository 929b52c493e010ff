"""FHIR over HTTP: post a QuestionnaireResponse, read the stored Bundle back."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from tests.interop.test_response import our_response, phq9_response

from ketascreen.rules.loader import Content

ANSWERS = {"age": 34, "sex_at_birth": "female", "pregnant": "yes", "phq9_9": 0}


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The Bundle's resources of one type."""
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
    ]


class TestPostResponse:
    """POST /fhir/QuestionnaireResponse screens and stores."""

    def test_screens_and_stores(self, client: TestClient, content: Content) -> None:
        """201, a valid Bundle with the pregnancy DetectedIssue, and a readable copy."""
        response = client.post(
            "/fhir/QuestionnaireResponse", json=our_response(content.form, ANSWERS)
        )
        assert response.status_code == 201
        assert response.headers["content-type"].startswith("application/fhir+json")
        bundle = response.json()
        Bundle.model_validate(bundle)
        issues = resources(bundle, "DetectedIssue")
        codes = {i["code"]["coding"][0]["code"] for i in issues}
        assert "pregnancy.pregnant" in codes
        assert resources(bundle, "RiskAssessment")
        token = response.headers["x-ketascreen-access-token"]
        again = client.get(
            response.headers["location"], headers={"Authorization": f"Bearer {token}"}
        )
        assert again.status_code == 200
        assert {
            i["code"]["coding"][0]["code"]
            for i in resources(again.json(), "DetectedIssue")
        } == codes

    def test_lhc_forms_phq9(self, client: TestClient) -> None:
        """A LOINC-coded PHQ-9 response from another system gives the right total."""
        response = client.post(
            "/fhir/QuestionnaireResponse", json=_with_phq9_questionnaire()
        )
        assert response.status_code == 201, response.text
        totals = [
            o
            for o in resources(response.json(), "Observation")
            if o["code"]["coding"][0]["code"] == "44261-6"
        ]
        assert totals[0]["valueInteger"] == 13

    def test_reading_needs_the_token(
        self, client: TestClient, content: Content
    ) -> None:
        """Without the token (or a staff session) the Bundle is not found."""
        response = client.post(
            "/fhir/QuestionnaireResponse", json=our_response(content.form, ANSWERS)
        )
        location = response.headers["location"]
        assert client.get(location).status_code == 404
        wrong = client.get(location, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 404
        assert wrong.json()["resourceType"] == "OperationOutcome"


class TestErrors:
    """Bad FHIR gets an OperationOutcome naming the problem; nothing is stored."""

    def test_invalid_resource(self, client: TestClient) -> None:
        """A malformed response is 400 with one issue per problem."""
        body = {"resourceType": "QuestionnaireResponse", "status": "bogus", "item": 3}
        response = client.post("/fhir/QuestionnaireResponse", json=body)
        assert response.status_code == 400
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        where = {e for issue in outcome["issue"] for e in issue["expression"]}
        assert any("item" in w for w in where)

    def test_unknown_questionnaire(self, client: TestClient) -> None:
        """A response to a Questionnaire we cannot resolve names the field."""
        body = {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": "http://example.org/Questionnaire/other",
            "item": [{"linkId": "x", "answer": [{"valueInteger": 1}]}],
        }
        response = client.post("/fhir/QuestionnaireResponse", json=body)
        assert response.status_code == 400
        [issue] = response.json()["issue"]
        assert issue["expression"] == ["QuestionnaireResponse.questionnaire"]

    def test_wrong_resource_type(self, client: TestClient) -> None:
        """A Patient is not a QuestionnaireResponse."""
        response = client.post(
            "/fhir/QuestionnaireResponse", json={"resourceType": "Patient"}
        )
        assert response.status_code == 400
        assert response.json()["issue"][0]["expression"] == ["resourceType"]

    def test_bad_answer_value(self, client: TestClient, content: Content) -> None:
        """Well-formed FHIR with an impossible age is 422 naming the item."""
        body = our_response(content.form, {"age": 34})
        body["item"][0]["item"][0]["answer"] = [{"valueInteger": 700}]
        response = client.post("/fhir/QuestionnaireResponse", json=body)
        assert response.status_code in (400, 422)
        text = str(response.json())
        assert "age" in text

    def test_unknown_questionnaire_id(self, client: TestClient) -> None:
        """Only our intake Questionnaire is served."""
        response = client.get("/fhir/Questionnaire/other")
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"


def _with_phq9_questionnaire() -> dict[str, Any]:
    """An LHC-Forms PHQ-9 response (total 13) with its Questionnaire in a Bundle."""
    from tests.interop.test_response import shared

    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": shared("lforms-phq9.R4.json")},
            {"resource": phq9_response([2, 2, 1, 2, 1, 2, 1, 1, 1])},
        ],
    }


class TestQuestionnaire:
    """GET /fhir/Questionnaire/ketascreen-intake."""

    def test_served_and_valid(self, client: TestClient, content: Content) -> None:
        """The SDC Questionnaire validates and has every item by its answers key."""
        from fhir.resources.R4B.questionnaire import Questionnaire

        response = client.get("/fhir/Questionnaire/ketascreen-intake")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+json")
        Questionnaire.model_validate(response.json())
        links = set()
        stack = list(response.json()["item"])
        while stack:
            item = stack.pop()
            links.add(item["linkId"])
            stack += item.get("item", [])
        assert set(content.form.items) <= links


class TestNotUsed:
    """What a response carried but gave no answer is reported in the Bundle."""

    def test_hidden_answer_reported(self, client: TestClient, content: Content) -> None:
        """An answer hidden by enableWhen comes back in an OperationOutcome entry."""
        answers = {"age": 34, "bipolar_dx": "no", "bipolar_status": "unstable"}
        body = our_response(content.form, answers)
        response = client.post("/fhir/QuestionnaireResponse", json=body)
        assert response.status_code == 201, response.text
        [outcome] = resources(response.json(), "OperationOutcome")
        assert outcome["issue"][0]["severity"] == "information"
        assert "bipolar_status" in str(outcome)


def test_risk_assessment_names_domains(client: TestClient, content: Content) -> None:
    """Predictions carry the domain's clinician-facing title, not only its id."""
    response = client.post(
        "/fhir/QuestionnaireResponse", json=our_response(content.form, ANSWERS)
    )
    [risk] = resources(response.json(), "RiskAssessment")
    texts = {p["outcome"]["text"] for p in risk["prediction"]}
    assert content.domains["pregnancy"].title in texts
