"""Who can reach what: every route and method of the app, for every kind of visitor.

``EXPECTED`` is the access policy, one line per route and method. The test reads the
app's own routes (FastAPI's included), so a route added without a decision here fails.
Each visitor sends each request at person A's things:

- ``anonymous``: no session; where a link is needed, a well-formed token nobody got;
- ``patient_own``: A's private links (the result link, the draft's resume link);
- ``patient_other``: person B's live result link, used on A's screening (and, on
  routes that name a draft by its token alone, in place of A's resume token);
- ``coordinator``, ``clinician``, ``admin``: a signed-in staff session;
- ``disabled``: the session of an account disabled since it signed in;
- ``expired_session``: a session past its lifetime.

A refused request is a redirect to the sign-in page, 401, 403 or 404, and it changes
nothing: every table but the audit log is the same after as before, and the audit log
gained no entry that records a change. An allowed POST does change the database (so
the comparison can tell); an allowed GET does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount
from tests.interop.cds_examples import request as cds_request
from tests.interop.test_response import our_response
from tests.web.visitors import (
    CHANGES,
    PASSWORD,
    audit_actions_since,
    audit_count,
    expire_session,
    repository,
    sign_in,
    snapshot,
    staff_store,
    stored,
    use_cookie,
)

from ketascreen.config import Settings
from ketascreen.storage import links
from ketascreen.web.app import create_app
from ketascreen.web.auth import COOKIE
from ketascreen.web.pages import facts_of, visible_sections

VISITORS = (
    "anonymous",
    "patient_own",
    "patient_other",
    "coordinator",
    "clinician",
    "admin",
    "disabled",
    "expired_session",
)
STAFF = ("coordinator", "clinician", "admin")
CLINICAL = ("clinician", "admin")
#: A redirect to the staff sign-in page.
LOGIN = "login"
REFUSED = {LOGIN, 401, 403, 404}
Expectation = dict[str, int | str]


def everyone(code: int) -> Expectation:
    """Public: the same answer for every visitor."""
    return dict.fromkeys(VISITORS, code)


def staff_only(code: int) -> Expectation:
    """Any signed-in staff member; everyone else is sent to sign in."""
    return {v: code if v in STAFF else LOGIN for v in VISITORS}


def clinical_only(code: int) -> Expectation:
    """Clinicians and admins; a coordinator is refused (403), others sent to sign in."""
    return {**staff_only(code), "coordinator": 403}


def link_holder(code: int, *, staff: int = 404) -> Expectation:
    """Only A's own link opens it (staff sessions get ``staff``); else 404."""
    return {
        v: code if v == "patient_own" else staff if v in STAFF else 404
        for v in VISITORS
    }


SCREENING = "/staff/screenings/{screening_id}"
EXPECTED: dict[tuple[str, str], Expectation] = {
    # FastAPI's own: the OpenAPI description is public (the interactive docs are off).
    ("GET", "/openapi.json"): everyone(200),
    ("HEAD", "/openapi.json"): everyone(200),
    ("GET", "/static/{path}"): everyone(200),
    ("HEAD", "/static/{path}"): everyone(200),
    # The person's questionnaire: anyone may start; a draft opens with its link only.
    ("GET", "/"): everyone(200),
    ("POST", "/start"): everyone(303),
    ("GET", "/s/{token}"): link_holder(303),
    ("GET", "/s/{token}/{section_id}"): link_holder(200),
    ("POST", "/s/{token}/{section_id}"): link_holder(303),
    ("GET", "/result/{screening_id}/{access}"): link_holder(200),
    # The JSON API and FHIR: submitting is open; reading needs the link or staff.
    ("POST", "/api/v1/screenings"): everyone(201),
    ("GET", "/api/v1/screenings/{screening_id}"): link_holder(200, staff=200),
    ("GET", "/fhir/Questionnaire/{questionnaire_id}"): everyone(200),
    ("POST", "/fhir/QuestionnaireResponse"): everyone(201),
    ("GET", "/fhir/Bundle/{screening_id}"): link_holder(200, staff=200),
    # CDS Hooks: discovery is open; the services need the EHR's signed JWT.
    ("GET", "/cds-services"): everyone(200),
    ("POST", "/cds-services/{service_id}"): everyone(401),
    ("POST", "/cds-services/{service_id}/feedback"): everyone(401),
    # Staff: signing in with one's own password works for active accounts only.
    ("GET", "/staff/login"): everyone(200),
    ("POST", "/staff/login"): {
        v: 303 if v in (*STAFF, "expired_session") else 401 for v in VISITORS
    },
    ("POST", "/staff/logout"): staff_only(303),
    ("GET", "/staff"): staff_only(200),
    ("GET", "/staff/queue.csv"): staff_only(200),
    ("GET", SCREENING): staff_only(200),
    ("GET", SCREENING + "/report.pdf"): staff_only(200),
    ("POST", SCREENING + "/status"): staff_only(303),
    ("POST", SCREENING + "/override"): clinical_only(303),
    ("POST", SCREENING + "/note"): clinical_only(303),
    ("POST", SCREENING + "/link"): clinical_only(200),
    ("POST", SCREENING + "/link/revoke"): clinical_only(303),
}

#: What each staff form sends besides its CSRF token.
FORMS: dict[str, dict[str, str]] = {
    "/staff/logout": {},
    SCREENING + "/status": {"status": "in_review", "note": "called the person"},
    SCREENING + "/override": {
        "disposition": "prepare_first",
        "reason": "reviewed with the person",
    },
    SCREENING + "/note": {"note": "Pt denies SI. BP 128/80."},
    SCREENING + "/link": {},
    SCREENING + "/link/revoke": {},
}
SERVICE = "ketascreen-patient-view"


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers; a mount as ``{path}`` below it."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found |= {(m, f"{route.path}/{{path}}") for m in ("GET", "HEAD")}
        elif route.methods:
            found |= {(method, str(route.path)) for method in route.methods}
        else:  # a websocket or other route: it needs a decision too
            found.add(("ANY", str(route.path)))
    return found


def test_every_route_has_a_decision(tmp_path: Path) -> None:
    """Each route and method of the app is in EXPECTED, and nothing else is."""
    app = create_app(Settings(data_dir=tmp_path))
    routes = app_routes(app)
    assert routes - EXPECTED.keys() == set(), "routes without an access decision"
    assert EXPECTED.keys() - routes == set(), "decisions for routes that do not exist"
    for key, expectation in EXPECTED.items():
        assert set(expectation) == set(VISITORS), key
        for outcome in expectation.values():
            assert outcome in REFUSED or 200 <= int(outcome) < 400, (key, outcome)


@dataclass
class Visitor:
    """One kind of visitor and what it presents."""

    name: str
    cookie: str | None = None
    csrf: str = ""


@dataclass(frozen=True)
class Target:
    """Person A's screening and draft, and the tokens the visitors hold."""

    screening: str
    link: str
    other_link: str
    draft: str
    guess: str
    section: str


@pytest.fixture
def guarded(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The app as a clinic runs it: CDS Hooks callers need a JWT from a known EHR."""
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = tmp_path / "ehr.pem"
    pem.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    clinic = settings.model_copy(
        update={"cds_jwt_issuers": {"https://ehr.example.org": pem}}
    )
    with TestClient(create_app(clinic)) as client:
        store = staff_store(client)
        for role in STAFF:
            store.add_user(f"{role}@clinic.test", role, role, PASSWORD)
        store.add_user("disabled@clinic.test", "gone", "clinician", PASSWORD)
        store.add_user("expired_session@clinic.test", "late", "clinician", PASSWORD)
        yield client


def enter(client: TestClient, visitor: Visitor) -> None:
    """Give the visitor its session, as the kind of visitor it is."""
    email = f"{visitor.name}@clinic.test"
    if visitor.name in STAFF:
        visitor.cookie, visitor.csrf = sign_in(client, email)
    elif visitor.name == "disabled":
        visitor.cookie, visitor.csrf = sign_in(client, email)
        staff_store(client).set_disabled(email, True)
    elif visitor.name == "expired_session":
        visitor.cookie, visitor.csrf = sign_in(client, email)
        expire_session(client, visitor.cookie)


def target(client: TestClient) -> Target:
    """A fresh screening and draft for person A, and B's screening."""
    state: Any = client.app.state.ketascreen  # type: ignore[attr-defined]
    today = datetime.now(UTC).date()
    first = visible_sections(state.content, facts_of(state.content, {}, today).values)
    a, b = stored(client, 30), stored(client, 31)
    return Target(
        screening=a.id,
        link=a.access_token,
        other_link=b.access_token,
        draft=repository(client).new_draft(),
        guess=links.new_token(datetime.now(UTC)),
        section=first[0].id,
    )


def send(
    client: TestClient, method: str, path: str, visitor: Visitor, t: Target
) -> httpx.Response:
    """The visitor's request for one route."""
    own, other = visitor.name == "patient_own", visitor.name == "patient_other"
    token = t.link if own else t.other_link if other else t.guess
    url = path.format(
        screening_id=t.screening,
        access=token,
        token=t.draft if own else token,
        section_id=t.section,
        service_id=SERVICE,
        questionnaire_id="ketascreen-intake",
        path="style.css",
    )
    kwargs: dict[str, Any] = {"follow_redirects": False}
    if visitor.cookie is None:
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
    if method == "POST":
        kwargs.update(body(client, path, visitor))
    return client.request(method, url, **kwargs)


def body(client: TestClient, path: str, visitor: Visitor) -> dict[str, Any]:
    """What a POST to the route carries."""
    state: Any = client.app.state.ketascreen  # type: ignore[attr-defined]
    if path in FORMS:
        return {"data": {"csrf": visitor.csrf, **FORMS[path]}}
    if path == "/staff/login":
        has_account = visitor.cookie is not None
        email = f"{visitor.name}@clinic.test" if has_account else "nobody@clinic.test"
        return {"data": {"email": email, "password": PASSWORD}}
    if path == "/s/{token}/{section_id}":
        return {"data": {"action": "back"}}
    if path == "/fhir/QuestionnaireResponse":
        return {"json": our_response(state.content.form, {"age": 40})}
    if path == "/cds-services/{service_id}":
        return {"json": cds_request("patient-view")}
    if path == "/cds-services/{service_id}/feedback":
        item = {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-01-01"}
        return {"json": {"feedback": [item]}}
    return {"json": {"answers": {"age": 40}}}


def outcome(response: httpx.Response) -> int | str:
    """The status, or LOGIN for a redirect to the sign-in page (one that does not
    end a session: signing out also goes there)."""
    to_login = response.headers.get("location") == "/staff/login"
    signed_out = f'{COOKIE}=""' in response.headers.get("set-cookie", "")
    if response.status_code == 303 and to_login and not signed_out:
        return LOGIN
    return response.status_code


@pytest.mark.slow
@pytest.mark.parametrize("name", VISITORS)
def test_matrix(guarded: TestClient, name: str) -> None:
    """Every route answers the visitor as EXPECTED; refusals change nothing."""
    client, visitor = guarded, Visitor(name)
    engine = repository(client).engine
    enter(client, visitor)
    problems = []
    for method, path in sorted(app_routes(client.app)):  # type: ignore[arg-type]
        expected = EXPECTED[(method, path)][name]
        t = target(client)
        use_cookie(client, visitor.cookie)
        before, audits = snapshot(engine), audit_count(engine)
        response = send(client, method, path, visitor, t)
        got = outcome(response)
        changed = snapshot(engine) != before
        change_audited = set(audit_actions_since(engine, audits)) & CHANGES
        if got != expected:
            problems.append(f"{method} {path}: {got}, expected {expected}")
        elif expected in REFUSED and (changed or change_audited):
            problems.append(f"{method} {path}: refused but changed the database")
        elif expected not in REFUSED and changed != (method == "POST"):
            problems.append(f"{method} {path}: allowed, changed={changed}")
        if path in ("/staff/login", "/staff/logout") and name != "disabled":
            enter(client, visitor)  # the session was replaced or ended
    assert problems == []
