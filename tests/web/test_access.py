"""Who can reach what: every staff route and the API, for every kind of visitor."""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from ketascreen.storage.staff import StaffStore
from ketascreen.web.routes import staff as staff_routes

PASSWORD = "matrix test password"
VISITORS = ["anonymous", "patient", "coordinator", "clinician", "admin", "disabled"]


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> None:
    staff_routes.rate_limit.attempts.clear()


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    """Two screenings and one account per role (one of them disabled)."""
    store: StaffStore = client.app.state.ketascreen.staff  # type: ignore[attr-defined]
    first = client.post("/api/v1/screenings", json={"answers": {"age": 30}}).json()
    second = client.post("/api/v1/screenings", json={"answers": {"age": 31}}).json()
    for role in ("coordinator", "clinician", "admin"):
        store.add_user(f"{role}@clinic.test", role, role, PASSWORD)
    store.add_user("disabled@clinic.test", "gone", "clinician", PASSWORD)
    return {"store": store, "first": first, "second": second}


def as_visitor(
    client: TestClient, world: dict[str, Any], visitor: str
) -> dict[str, str]:
    """Sign in as the visitor (staff) and return the CSRF token ('' when none)."""
    client.cookies.clear()
    if visitor in ("anonymous", "patient"):
        return {}
    client.post(
        "/staff/login", data={"email": f"{visitor}@clinic.test", "password": PASSWORD}
    )
    if visitor == "disabled":
        world["store"].set_disabled("disabled@clinic.test", True)
        return {}
    page: Any = BeautifulSoup(client.get("/staff").text, "html.parser")
    return {"csrf": str(page.find("input", attrs={"name": "csrf"})["value"])}


STAFF = {"coordinator", "clinician", "admin"}


@pytest.mark.parametrize("visitor", VISITORS)
def test_staff_pages(client: TestClient, world: dict[str, Any], visitor: str) -> None:
    """Staff pages open for staff only; others are sent to sign in."""
    as_visitor(client, world, visitor)
    sid = world["first"]["id"]
    for path in (
        "/staff",
        "/staff/queue.csv",
        f"/staff/screenings/{sid}",
        f"/staff/screenings/{sid}/report.pdf",
    ):
        response = client.get(path, follow_redirects=False)
        if visitor in STAFF:
            assert response.status_code == 200, (visitor, path)
        else:
            assert response.status_code == 303, (visitor, path)
            assert response.headers["location"] == "/staff/login"


@pytest.mark.parametrize("visitor", VISITORS)
def test_staff_changes(client: TestClient, world: dict[str, Any], visitor: str) -> None:
    """Status changes: any staff; overrides and notes: clinicians and admins only."""
    form = as_visitor(client, world, visitor)
    sid = world["first"]["id"]
    status = client.post(
        f"/staff/screenings/{sid}/status",
        data={**form, "status": "in_review"},
        follow_redirects=False,
    )
    override = client.post(
        f"/staff/screenings/{sid}/override",
        data={
            **form,
            "disposition": "prepare_first",
            "reason": "reviewed with the person",
        },
        follow_redirects=False,
    )
    note = client.post(
        f"/staff/screenings/{sid}/note",
        data={**form, "note": "Pt denies SI. BP 128/80."},
        follow_redirects=False,
    )
    if visitor in STAFF:
        assert status.status_code == 303
        assert override.status_code == (400 if visitor == "coordinator" else 303)
        assert note.status_code == (400 if visitor == "coordinator" else 303)
    else:
        assert status.headers.get("location") == "/staff/login"
        assert override.headers.get("location") == "/staff/login"
        assert note.headers.get("location") == "/staff/login"


@pytest.mark.parametrize("visitor", VISITORS)
def test_api_read(client: TestClient, world: dict[str, Any], visitor: str) -> None:
    """A patient token reads only its own screening; staff sessions read any."""
    as_visitor(client, world, visitor)
    first, second = world["first"], world["second"]
    own = (
        {"Authorization": f"Bearer {first['access_token']}"}
        if visitor == "patient"
        else {}
    )
    mine = client.get(f"/api/v1/screenings/{first['id']}", headers=own)
    other = client.get(f"/api/v1/screenings/{second['id']}", headers=own)
    if visitor == "patient":
        assert (mine.status_code, other.status_code) == (200, 404)
    elif visitor in STAFF:
        assert (mine.status_code, other.status_code) == (200, 200)
    else:
        assert (mine.status_code, other.status_code) == (404, 404)


def test_forged_csrf_refused_for_every_form(
    client: TestClient, world: dict[str, Any]
) -> None:
    """Every staff form refuses a wrong CSRF token."""
    as_visitor(client, world, "admin")
    sid = world["first"]["id"]
    for path, data in (
        (f"/staff/screenings/{sid}/status", {"status": "in_review"}),
        (
            f"/staff/screenings/{sid}/override",
            {"disposition": "prepare_first", "reason": "a long enough reason"},
        ),
        (f"/staff/screenings/{sid}/note", {"note": "Pt denies SI."}),
        ("/staff/logout", {}),
    ):
        response = client.post(
            path, data={**data, "csrf": "forged"}, follow_redirects=False
        )
        assert response.status_code == 403, path
