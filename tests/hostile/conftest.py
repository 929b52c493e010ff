"""Fixtures for hostile-input tests: the real app on SQLite and PostgreSQL, staff
accounts, and checks that an error answer names the problem."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from ketascreen.storage.staff import StaffStore
from tests.web.conftest import client, settings

__all__ = ["client", "settings"]

PASSWORD = "correct horse battery"


def store(test_client: TestClient) -> StaffStore:
    """The app's staff store."""
    found: StaffStore = test_client.app.state.ketascreen.staff  # type: ignore[attr-defined]
    return found


def signed_in(test_client: TestClient, role: str = "clinician") -> str:
    """Create an account with this role, sign in, and return the CSRF token."""
    email = f"{role}@clinic.test"
    store(test_client).add_user(email, role.title(), role, PASSWORD)
    response = test_client.post(
        "/staff/login", data={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    page: Any = BeautifulSoup(test_client.get("/staff").text, "html.parser")
    token: str = page.find("input", attrs={"name": "csrf"})["value"]
    return token


def assert_names_the_problem(path: str, status: int, body: Any) -> None:
    """An error answer is JSON that says what is wrong.

    Accepted forms: under /fhir/ an OperationOutcome whose every issue has words
    (``diagnostics``) and a place (``expression``); elsewhere ``{"detail": [...]}``
    with a field and a message per entry, required for 400, 413 and 422 (input
    that a field carries); and, for answers no field is at fault for (401, 404,
    412, 503 and the like), ``{"detail": "a sentence"}``.
    """
    assert isinstance(body, dict), body
    if path.startswith("/fhir/") and status != 503:
        assert body.get("resourceType") == "OperationOutcome", body
        assert body["issue"], body
        for issue in body["issue"]:
            assert issue["diagnostics"].strip(), body
            assert issue["expression"], body
            assert all(issue["expression"]), body
        return
    detail = body.get("detail")
    if isinstance(detail, str) and status not in (400, 413, 422):
        assert detail.strip(), body
        return
    assert isinstance(detail, list), body
    assert detail, body
    for entry in detail:
        assert entry["field"].strip(), body
        assert entry["message"].strip(), body
