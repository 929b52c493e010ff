"""The clinic's side over HTTP: sign-in, queue, screening page, workflow, audit."""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from ketascreen.storage.staff import StaffStore
from ketascreen.web.routes import staff as staff_routes

PASSWORD = "correct horse battery"


def soup(response: Any) -> Any:
    return BeautifulSoup(response.text, "html.parser")


def store(client: TestClient) -> StaffStore:
    found: StaffStore = client.app.state.ketascreen.staff  # type: ignore[attr-defined]
    return found


def account(client: TestClient, role: str, email: str | None = None) -> str:
    email = email or f"{role}@clinic.test"
    store(client).add_user(email, role.title(), role, PASSWORD)
    return email


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/staff/login", data={"email": email, "password": password})


def csrf(client: TestClient, path: str = "/staff") -> str:
    value: str = soup(client.get(path)).find("input", attrs={"name": "csrf"})["value"]
    return value


def screened(client: TestClient, answers: dict[str, Any]) -> str:
    response = client.post("/api/v1/screenings", json={"answers": answers})
    assert response.status_code == 201
    screening_id: str = response.json()["id"]
    return screening_id


class TestSignIn:
    """Sign-in, lockout, rate limit, cookies."""

    def test_anonymous_is_sent_to_login(self, client: TestClient) -> None:
        """Staff pages need a sign-in."""
        for path in ("/staff", "/staff/queue.csv", "/staff/screenings/x"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/staff/login"

    def test_login_sets_a_safe_cookie(self, client: TestClient) -> None:
        """The session cookie is HttpOnly and SameSite=strict."""
        email = account(client, "coordinator")
        response = login(client, email)
        assert response.status_code == 200
        cookie = response.history[0].headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie

    def test_wrong_password_and_lockout(self, client: TestClient) -> None:
        """Five failures lock the account, even against the right password."""
        email = account(client, "clinician")
        for _ in range(5):
            assert login(client, email, "wrong password!").status_code == 401
        response = login(client, email)
        assert response.status_code == 401
        assert "locked" in response.text

    def test_unknown_email_same_answer(self, client: TestClient) -> None:
        """An unknown email gets the same message as a wrong password."""
        response = login(client, "nobody@clinic.test", "whatever it is")
        assert response.status_code == 401
        assert "did not work" in response.text

    def test_rate_limit(self, client: TestClient) -> None:
        """More than ten attempts a minute from one address are refused."""
        codes = [
            login(client, "x@clinic.test", "nope nope nope").status_code
            for _ in range(11)
        ]
        assert codes[-1] == 429

    def test_disabled_account_loses_its_session(self, client: TestClient) -> None:
        """Disabling an account ends its sessions at once."""
        email = account(client, "coordinator")
        login(client, email)
        store(client).set_disabled(email, True)
        assert client.get("/staff", follow_redirects=False).status_code == 303


class TestQueue:
    """The review queue, its order, filters and CSV."""

    def test_ordered_by_severity_then_time(self, client: TestClient) -> None:
        """Urgent first, then deferrals, then the rest; newest first within a level."""
        calm = screened(client, {"age": 30})
        urgent = screened(client, {"phq9_9": 3, "asq_5": "yes"})
        defer = screened(client, {"pregnant": "yes", "sex_at_birth": "female"})
        login(client, account(client, "coordinator"))
        rows = soup(client.get("/staff")).select("table.queue tbody tr")
        ids = [row.find("a")["href"].rsplit("/", 1)[1] for row in rows]
        assert ids == [urgent, defer, calm]

    def test_filter_and_csv(self, client: TestClient) -> None:
        """Filtering by disposition narrows the queue; the CSV lists every screening."""
        screened(client, {"age": 30})
        screened(client, {"pregnant": "yes", "sex_at_birth": "female"})
        login(client, account(client, "coordinator"))
        rows = soup(client.get("/staff?disposition=not_recommended_now")).select(
            "tbody tr"
        )
        assert len(rows) == 1
        csv_text = client.get("/staff/queue.csv").text
        assert csv_text.splitlines()[0].startswith("id,created_at,disposition")
        assert len(csv_text.splitlines()) == 3

    def test_pages(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        """The queue comes a page at a time, says how many match in all, and its page
        links keep the filters and continue the same order."""
        monkeypatch.setattr(staff_routes, "QUEUE_PAGE", 2)
        ids = [screened(client, {"age": 30 + n}) for n in range(3)]
        screened(client, {"pregnant": "yes", "sex_at_birth": "female"})
        login(client, account(client, "coordinator"))
        first = soup(client.get("/staff?status=new"))
        assert "Screenings 1 to 2 of 4" in first.select_one("caption").get_text()
        assert first.select_one("a[rel=prev]") is None
        following = first.select_one("a[rel=next]")["href"]
        assert following == "/staff?status=new&page=2"
        second = soup(client.get(following))
        assert "Screenings 3 to 4 of 4" in second.select_one("caption").get_text()
        assert second.select_one("a[rel=next]") is None
        assert second.select_one("a[rel=prev]")["href"] == "/staff?status=new&page=1"
        shown = [
            row.find("a")["href"].rsplit("/", 1)[1]
            for page in (first, second)
            for row in page.select("table.queue tbody tr")
        ]
        assert shown[1:] == ids[::-1]  # the deferral first, then newest first
        beyond = soup(client.get("/staff?page=9"))
        assert "No screenings on this page (4 in all)" in beyond.get_text()
        assert client.get("/staff?page=0").status_code == 422
        huge = client.get("/staff?page=100000000000000000000")
        assert huge.status_code == 422  # not a database overflow (500)
        assert "page" in huge.text


class TestScreeningPage:
    """Everything about one screening, and the workflow on it."""

    def test_shows_findings_evidence_scores_answers(self, client: TestClient) -> None:
        """Rule ids, evidence, references, score chart, answers and unknowns are shown."""
        sid = screened(client, {"bp_systolic": 172, "bp_diastolic": 104, "phq9_1": 2})
        login(client, account(client, "clinician"))
        page = soup(client.get(f"/staff/screenings/{sid}"))
        text = page.get_text(" ")
        assert "cardiovascular.bp_high_measured" in text
        assert "172" in text
        assert "References:" in text
        assert page.find("svg") is not None
        assert "bp_systolic" in text
        assert "Unanswered items" in text

    def test_status_needs_csrf(self, client: TestClient) -> None:
        """A status change without the session's CSRF token is refused."""
        sid = screened(client, {"age": 30})
        login(client, account(client, "coordinator"))
        response = client.post(
            f"/staff/screenings/{sid}/status",
            data={"status": "in_review", "csrf": "forged"},
        )
        assert response.status_code == 403
        assert response.json()["detail"][0]["field"] == "csrf"

    def test_status_change_with_note(self, client: TestClient) -> None:
        """The status moves on and the note is kept (and audited)."""
        sid = screened(client, {"age": 30})
        email = account(client, "coordinator")
        login(client, email)
        token = csrf(client, f"/staff/screenings/{sid}")
        client.post(
            f"/staff/screenings/{sid}/status",
            data={
                "status": "consult_booked",
                "note": "Booked for Monday",
                "csrf": token,
            },
        )
        page = soup(client.get(f"/staff/screenings/{sid}")).get_text(" ")
        assert "consult_booked" in page
        assert "Booked for Monday" in page
        actions = [e.action for e in store(client).audit_log() if e.target == sid]
        assert "screening.status" in actions
        assert "screening.view" in actions

    def test_override_rules(self, client: TestClient) -> None:
        """Coordinators cannot override; clinicians must give a reason."""
        sid = screened(client, {"pregnant": "yes", "sex_at_birth": "female"})
        login(client, account(client, "coordinator"))
        token = csrf(client, f"/staff/screenings/{sid}")
        refused = client.post(
            f"/staff/screenings/{sid}/override",
            data={
                "disposition": "prepare_first",
                "reason": "long enough reason",
                "csrf": token,
            },
        )
        assert refused.status_code == 403
        assert "only a clinician" in refused.text
        client.cookies.clear()
        login(client, account(client, "clinician"))
        token = csrf(client, f"/staff/screenings/{sid}")
        no_reason = client.post(
            f"/staff/screenings/{sid}/override",
            data={"disposition": "prepare_first", "reason": "", "csrf": token},
        )
        assert no_reason.status_code == 400
        done = client.post(
            f"/staff/screenings/{sid}/override",
            data={
                "disposition": "needs_specialist_review",
                "reason": "Pregnancy test negative today",
                "csrf": token,
            },
        )
        assert done.status_code == 200
        row = soup(client.get("/staff")).select_one("tbody tr").get_text(" ")
        assert "needs_specialist_review" in row
        assert "was not_recommended_now" in row


class TestReport:
    """The clinician report as a PDF."""

    def test_pdf_has_findings_and_is_audited(self, client: TestClient) -> None:
        """The PDF holds the disposition, rule ids and evidence; the download is audited."""
        import io

        from pypdf import PdfReader

        sid = screened(client, {"bp_systolic": 172, "bp_diastolic": 104})
        login(client, account(client, "clinician"))
        response = client.get(f"/staff/screenings/{sid}/report.pdf")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        text = "".join(
            p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages
        )
        assert "cardiovascular.bp_high_measured" in text
        assert "not_recommended_now" in text
        assert "172" in text
        assert [e.action for e in store(client).audit_log() if e.target == sid].count(
            "screening.view"
        ) == 1


class TestHistory:
    """Re-screening the same person keeps the history."""

    def test_same_person_reference_links_screenings(self, client: TestClient) -> None:
        """Two screenings with one reference show each other; the reference is sealed."""
        from sqlalchemy import text

        def post(answers: dict[str, Any]) -> str:
            body = {"answers": answers, "person_ref": "MRN-0042"}
            sid: str = client.post("/api/v1/screenings", json=body).json()["id"]
            return sid

        first = post({"pregnant": "yes", "sex_at_birth": "female"})
        second = post({"pregnant": "no", "sex_at_birth": "female"})
        other = screened(client, {"age": 50})
        login(client, account(client, "clinician"))
        page = soup(client.get(f"/staff/screenings/{second}"))
        links = [a["href"] for a in page.select("main a")]
        assert f"/staff/screenings/{first}" in links
        assert f"/staff/screenings/{other}" not in links
        assert "MRN-0042" in page.get_text()
        engine = client.app.state.ketascreen.repository.engine  # type: ignore[attr-defined]
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT person_ref, person_key FROM screenings")
            ).all()
        assert all(b"MRN-0042" not in bytes(r[0] or b"") for r in rows)
        assert all("MRN-0042" not in (r[1] or "") for r in rows)


class TestNoAuditNoRead:
    """A read is shown only once its audit entry is committed."""

    def test_reads_refused_when_the_log_cannot_grow(self, client: TestClient) -> None:
        """With the audit table out of reach, every audited read fails before
        anything of the screening is sent (503 or 500, by database), and writes nothing."""
        from sqlalchemy import text

        made = client.post(
            "/api/v1/screenings",
            json={"answers": {"bp_systolic": 172, "bp_diastolic": 104}},
        ).json()
        sid, token = made["id"], made["access_token"]
        login(client, account(client, "clinician"))
        assert client.get(f"/staff/screenings/{sid}").status_code == 200
        engine = client.app.state.ketascreen.repository.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            before = conn.execute(text("SELECT count(*) FROM audit_events")).scalar()
            conn.execute(text("ALTER TABLE audit_events RENAME TO audit_away"))
        quiet = TestClient(
            client.app, raise_server_exceptions=False, cookies=client.cookies
        )
        bearer = {"Authorization": f"Bearer {token}"}
        for path, headers in (
            (f"/staff/screenings/{sid}", {}),
            ("/staff", {}),
            (f"/api/v1/screenings/{sid}", bearer),
            (f"/fhir/Bundle/{sid}", bearer),
            (f"/result/{sid}/{token}", {}),
        ):
            response = quiet.get(path, headers=headers)
            assert response.status_code in (500, 503), path
            assert "172" not in response.text, path
            assert sid not in response.text, path
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_away RENAME TO audit_events"))
            after = conn.execute(text("SELECT count(*) FROM audit_events")).scalar()
        assert after == before
        assert client.get(f"/staff/screenings/{sid}").status_code == 200
