"""A pasted free-text note: the staff page's re-screening and the JSON API's note field.

Real app, real SQLite and PostgreSQL (the ``client`` fixture), the real note scanner.
"""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlalchemy import text

from ketascreen.storage.repository import Repository
from ketascreen.storage.staff import StaffStore
from ketascreen.web.note import NotePublic

PASSWORD = "correct horse battery"
ANSWERS = {"age": 40, "bipolar_dx": "no"}
NOTE = "Pt denies SI. Hx bipolar I, stable on lithium x 3 yrs."
SENTENCE = "Hx bipolar I, stable on lithium x 3 yrs."


def soup(response: Any) -> Any:
    return BeautifulSoup(response.text, "html.parser")


def words_of(element: Any) -> str:
    """The element's text with runs of white space made one space."""
    return " ".join(element.get_text(" ").split())


def store(client: TestClient) -> StaffStore:
    found: StaffStore = client.app.state.ketascreen.staff  # type: ignore[attr-defined]
    return found


def repo(client: TestClient) -> Repository:
    found: Repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
    return found


def signed_in(client: TestClient, role: str = "clinician") -> str:
    """Create an account with the role, sign in, return its email."""
    email = f"{role}@clinic.test"
    store(client).add_user(email, role.title(), role, PASSWORD)
    client.post("/staff/login", data={"email": email, "password": PASSWORD})
    return email


def screened(client: TestClient, answers: dict[str, Any], **extra: Any) -> str:
    response = client.post("/api/v1/screenings", json={"answers": answers, **extra})
    assert response.status_code == 201, response.text
    screening_id: str = response.json()["id"]
    return screening_id


def paste(client: TestClient, sid: str, note: str, **form: str) -> Any:
    """Open the screening page and submit the note form with its CSRF token."""
    page = soup(client.get(f"/staff/screenings/{sid}"))
    token = page.find("form", action=f"/staff/screenings/{sid}/note").find(
        "input", attrs={"name": "csrf"}
    )["value"]
    return client.post(
        f"/staff/screenings/{sid}/note", data={"csrf": token, "note": note, **form}
    )


def raw_rows(client: TestClient) -> list[Any]:
    with repo(client).engine.connect() as conn:
        return list(
            conn.execute(text("SELECT id, answers, result, note FROM screenings"))
        )


def note_actions(client: TestClient) -> list[str]:
    return [e.action for e in store(client).audit_log() if e.action == "screening.note"]


class TestStaffNote:
    """A clinician pastes a note; the re-screening is a new version."""

    def test_new_version_with_evidence(self, client: TestClient) -> None:
        """The new result is stored beside the old one and shows what the note said."""
        sid = screened(client, ANSWERS)
        signed_in(client)
        response = paste(client, sid, NOTE)
        assert response.status_code == 200
        new_id = response.url.path.rsplit("/", 1)[1]
        assert new_id != sid
        assert repo(client).count() == 2
        page = soup(response)
        section = page.find(id="from-the-note")
        assert section is not None
        words = words_of(section)
        assert "suicidal_thoughts_reported" in words
        assert "Pt denies SI." in words
        assert "negated" in words
        assert SENTENCE in words
        assert "characters 17–26" in words
        assert "mood.bipolar_stable" in words_of(page)
        links = [a["href"] for a in page.select("main a")]
        assert f"/staff/screenings/{sid}" in links
        old = soup(client.get(f"/staff/screenings/{sid}"))
        assert old.find(id="from-the-note") is None
        assert f"/staff/screenings/{new_id}" in [
            a["href"] for a in old.select("main a")
        ]

    def test_conflict_needs_review(self, client: TestClient) -> None:
        """A note that disagrees with an answer shows both values, the one used and why."""
        sid = screened(client, ANSWERS)
        signed_in(client)
        page = soup(paste(client, sid, NOTE))
        review = page.select_one("#from-the-note .review")
        assert review is not None
        words = words_of(review)
        assert "Needs review" in words
        assert "bipolar_dx" in words
        assert "answer: no" in words
        assert "note: yes" in words
        assert "Used: yes" in words
        assert "more caution" in words
        assert "1 item needs review" in words_of(page)

    def test_stored_sealed_and_audited(self, client: TestClient) -> None:
        """The note is sealed with the row; the version keeps the ruleset; audited."""
        sid = screened(client, ANSWERS)
        email = signed_in(client)
        new_id = paste(client, sid, NOTE).url.path.rsplit("/", 1)[1]
        rows = {r[0]: r for r in raw_rows(client)}
        assert rows[sid][3] is None
        blob = bytes(rows[new_id][3])
        assert b"bipolar" not in blob
        assert b"denies" not in blob
        assert b"lithium" not in bytes(rows[new_id][1]) + bytes(rows[new_id][2])
        vault = repo(client).vault
        record = vault.open(blob, new_id.encode())
        assert record["text"] == NOTE
        assert record["based_on"] == sid
        assert record["added_by"] == email
        with pytest.raises(InvalidTag):
            vault.open(blob, sid.encode())  # bound to its own row
        with repo(client).engine.connect() as conn:
            version, digest = conn.execute(
                text(
                    "SELECT ruleset_version, ruleset_hash FROM screenings WHERE id = :i"
                ),
                {"i": new_id},
            ).one()
        assert version.startswith("default@")
        assert len(digest) == 64
        events = [(e.actor, e.action, e.target) for e in store(client).audit_log()]
        assert (email, "screening.note", sid) in events
        assert (email, "screening.create", new_id) in events

    def test_keeps_the_person_reference(self, client: TestClient) -> None:
        """A screening with a clinic reference passes it on to the new version."""
        sid = screened(client, ANSWERS, person_ref="MRN-0042")
        signed_in(client)
        page = soup(paste(client, sid, NOTE))
        assert "MRN-0042" in words_of(page)
        assert f"/staff/screenings/{sid}" in [a["href"] for a in page.select("main a")]

    def test_empty_and_oversized_notes(self, client: TestClient) -> None:
        """Each is shown again with the reason beside the field; nothing is stored."""
        sid = screened(client, ANSWERS)
        signed_in(client)
        for note, words in (("   ", "The note is empty."), ("x" * 200_001, "limit")):
            response = paste(client, sid, note)
            assert response.status_code == 422
            page = soup(response)
            beside = page.select_one("#field-note #clinical-note-error")
            assert beside is not None
            assert words in beside.get_text()
            summary = page.select_one(".error-summary a[href='#clinical-note']")
            assert summary is not None
            textarea = page.find("textarea", id="clinical-note")
            assert "clinical-note-error" in textarea["aria-describedby"]
        assert repo(client).count() == 1
        assert note_actions(client) == []

    def test_needs_csrf(self, client: TestClient) -> None:
        """Without the session's CSRF token the note is refused."""
        sid = screened(client, ANSWERS)
        signed_in(client)
        for data in ({"note": NOTE}, {"note": NOTE, "csrf": "forged"}):
            response = client.post(f"/staff/screenings/{sid}/note", data=data)
            assert response.status_code == 403
            assert response.json()["detail"][0]["field"] == "csrf"
        assert repo(client).count() == 1

    def test_anonymous_and_coordinator_refused(self, client: TestClient) -> None:
        """Signed out: to the sign-in page. A coordinator: refused with the reason."""
        sid = screened(client, ANSWERS)
        anonymous = client.post(
            f"/staff/screenings/{sid}/note",
            data={"note": NOTE, "csrf": "x"},
            follow_redirects=False,
        )
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/staff/login"
        signed_in(client, "coordinator")
        page = soup(client.get(f"/staff/screenings/{sid}"))
        assert page.find("form", action=f"/staff/screenings/{sid}/note") is None
        token = page.find("input", attrs={"name": "csrf"})["value"]
        refused = client.post(
            f"/staff/screenings/{sid}/note", data={"note": NOTE, "csrf": token}
        )
        assert refused.status_code == 403
        assert "only a clinician" in refused.text
        assert repo(client).count() == 1

    def test_script_in_a_note_is_text(self, client: TestClient) -> None:
        """Markup in a note is escaped wherever the note is shown."""
        sid = screened(client, ANSWERS)
        signed_in(client)
        hostile = "Hx bipolar I <script>alert(1)</script>. Pt denies SI."
        response = paste(client, sid, hostile)
        assert response.status_code == 200
        assert "<script>" not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert soup(response).find("script") is None
        again = paste(client, sid, "<script>alert(1)</script>" + "x" * 200_001)
        assert again.status_code == 422
        assert "<script>" not in again.text

    def test_the_person_never_sees_the_note(self, client: TestClient) -> None:
        """The person's result page and API read give the result, never the note."""
        sid = screened(client, ANSWERS)
        signed_in(client)
        new_id = paste(client, sid, NOTE).url.path.rsplit("/", 1)[1]
        # The clinic sends the person a link to the new version.
        page = soup(client.get(f"/staff/screenings/{new_id}"))
        csrf = page.find("input", attrs={"name": "csrf"})["value"]
        sent = soup(
            client.post(f"/staff/screenings/{new_id}/link", data={"csrf": csrf})
        )
        token = sent.find(id="new-link").get_text().rsplit("/", 1)[1]
        client.cookies.clear()
        page = client.get(f"/result/{new_id}/{token}")
        assert page.status_code == 200
        api = client.get(
            f"/api/v1/screenings/{new_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert api.status_code == 200
        assert "note" not in api.json()
        for shown in (page.text, api.text):
            for words in ("lithium", "denies", "Hx bipolar", "From the note"):
                assert words not in shown

    def test_pdf_has_the_note_section(self, client: TestClient) -> None:
        """The clinician report carries the note's facts and conflicts."""
        import io

        from pypdf import PdfReader

        sid = screened(client, ANSWERS)
        signed_in(client)
        new_id = paste(client, sid, NOTE).url.path.rsplit("/", 1)[1]
        response = client.get(f"/staff/screenings/{new_id}/report.pdf")
        words = "".join(
            p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages
        )
        assert "From the note" in words
        assert "Needs review" in words
        assert "bipolar_dx" in words


class TestApiNote:
    """POST /api/v1/screenings with a note."""

    def test_note_block(self, client: TestClient) -> None:
        """The response carries what the note contributed, in the documented shape."""
        response = client.post(
            "/api/v1/screenings", json={"answers": ANSWERS, "note": NOTE}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        note = NotePublic.model_validate(body["note"])
        assert {f.item for f in note.facts} >= {"bipolar_dx", "bipolar_status"}
        (conflict,) = [c for c in note.conflicts if c.item == "bipolar_dx"]
        assert conflict.needs_review
        assert conflict.used == "yes"
        assert {v.source for v in conflict.values} == {"answer", "note"}
        assert "mood.bipolar_stable" in {
            f["rule_id"] for f in body["result"]["findings"]
        }
        (row,) = raw_rows(client)
        assert b"lithium" not in bytes(row[3])
        stored = repo(client).vault.open(bytes(row[3]), row[0].encode())
        assert stored["text"] == NOTE
        assert stored["report"] == body["note"]

    def test_idempotent_repeat_returns_the_note(self, client: TestClient) -> None:
        """A repeat with the same Idempotency-Key gets the first note block back."""
        headers = {"Idempotency-Key": "note-1"}
        body = {"answers": ANSWERS, "note": NOTE}
        first = client.post("/api/v1/screenings", json=body, headers=headers).json()
        second = client.post("/api/v1/screenings", json=body, headers=headers).json()
        assert first["id"] == second["id"]
        assert first["note"] == second["note"]
        assert repo(client).count() == 1

    def test_without_a_note_no_block(self, client: TestClient) -> None:
        """Answers alone answer as before, with no note key."""
        body = client.post("/api/v1/screenings", json={"answers": ANSWERS}).json()
        assert "note" not in body

    @pytest.mark.parametrize(
        ("note", "words"), [("", "empty"), (" \n ", "empty"), ("x" * 200_001, "limit")]
    )
    def test_bad_note_names_the_field(
        self, client: TestClient, note: str, words: str
    ) -> None:
        """An empty or oversized note is a 422 naming `note`; nothing is stored."""
        response = client.post(
            "/api/v1/screenings", json={"answers": ANSWERS, "note": note}
        )
        assert response.status_code == 422
        (problem,) = response.json()["detail"]
        assert problem["field"] == "note"
        assert words in problem["message"]
        assert repo(client).count() == 0

    def test_openapi_describes_the_note(self, client: TestClient) -> None:
        """The schema has the note field in and the note block out."""
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert "note" in schemas["ScreeningCreate"]["properties"]
        out = schemas["ScreeningCreated"]["properties"]["note"]
        assert "#/components/schemas/NotePublic" in str(out)
        assert {"facts", "conflicts", "not_used"} <= set(
            schemas["NotePublic"]["properties"]
        )
