"""Private links: long random tokens kept only as a hash, that expire, can be revoked
and sent again by staff, give no hint to a guesser, and survive a repeated submit."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from tests.web.visitors import (
    PASSWORD,
    audit_actions_since,
    audit_count,
    repository,
    sign_in,
    snapshot,
    staff_store,
    use_cookie,
)

from ketascreen.config import Settings
from ketascreen.storage import links
from ketascreen.storage.orm import Base, ScreeningRow
from ketascreen.web.app import create_app

ANSWERS = {"age": 41, "phq9_9": 0, "bp_systolic": 150, "bp_diastolic": 85}
NOT_FOUND = "We could not find this page"


def submit(client: TestClient, answers: dict[str, Any], key: str = "") -> Any:
    """POST a screening (with an Idempotency-Key if given)."""
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/screenings", json={"answers": answers}, headers=headers)


def reads(client: TestClient, screening_id: str, token: str) -> dict[str, int]:
    """The status of each way a person reads a screening with a link."""
    bearer = {"Authorization": f"Bearer {token}"}
    return {
        "page": client.get(f"/result/{screening_id}/{token}").status_code,
        "api": client.get(
            f"/api/v1/screenings/{screening_id}", headers=bearer
        ).status_code,
        "fhir": client.get(f"/fhir/Bundle/{screening_id}", headers=bearer).status_code,
    }


OPEN = {"page": 200, "api": 200, "fhir": 200}
SHUT = {"page": 404, "api": 404, "fhir": 404}


def reissue(client: TestClient, screening_id: str, issued: datetime) -> str:
    """Give the screening a link issued at ``issued`` (as if sent back then)."""
    token = links.new_token(issued)
    with repository(client).engine.begin() as conn:
        conn.execute(
            update(ScreeningRow)
            .where(ScreeningRow.id == screening_id)
            .values(token_hash=links.digest(token))
        )
    return token


def clinician(client: TestClient) -> str:
    """Sign a clinician in (cookie set on the client); returns the CSRF token."""
    staff_store(client).add_user("doc@clinic.test", "Doc", "clinician", PASSWORD)
    cookie, csrf = sign_in(client, "doc@clinic.test")
    use_cookie(client, cookie)
    return csrf


def everything(client: TestClient) -> str:
    """Every value of every table, audit log included, as one text."""
    with repository(client).engine.connect() as conn:
        return repr(
            [conn.execute(select(t)).all() for t in Base.metadata.sorted_tables]
        )


class TestTokens:
    """What a link is and what is kept of it."""

    def test_long_random_and_stored_only_as_a_hash(self, client: TestClient) -> None:
        """256 random bits per link, different every time; the database holds its
        SHA-256 and nothing from which the link could be read back."""
        bodies = [submit(client, ANSWERS).json() for _ in range(3)]
        tokens = [b["access_token"] for b in bodies]
        assert len(set(tokens)) == 3
        stored = everything(client)
        for body, token in zip(bodies, tokens, strict=True):
            secret, _, issued = token.rpartition(".")
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret), token
            assert issued.isdigit()
            assert uuid.UUID(body["id"]).version == 4
            assert secret not in stored
        with repository(client).engine.connect() as conn:
            rows = conn.execute(text("SELECT id, token_hash FROM screenings")).all()
        hashes: dict[str, str] = {r[0]: r[1] for r in rows}
        for body, token in zip(bodies, tokens, strict=True):
            assert hashes[body["id"]] == hashlib.sha256(token.encode()).hexdigest()


class TestNoOracle:
    """A guesser learns nothing: every failure looks the same."""

    def test_wrong_unknown_expired_revoked_alike(self, client: TestClient) -> None:
        """Wrong token, unknown id, expired and revoked link: one answer each way."""
        csrf = clinician(client)
        ids = [submit(client, ANSWERS).json()["id"] for _ in range(3)]
        expired = reissue(client, ids[1], datetime.now(UTC) - timedelta(days=91))
        revoked = submit(client, ANSWERS).json()
        client.post(
            f"/staff/screenings/{revoked['id']}/link/revoke", data={"csrf": csrf}
        )
        use_cookie(client, None)
        tries = {
            "wrong": (ids[0], links.new_token(datetime.now(UTC))),
            "unknown": (str(uuid.uuid4()), expired),
            "expired": (ids[1], expired),
            "revoked": (revoked["id"], revoked["access_token"]),
        }
        answers: dict[str, list[tuple[int, str]]] = {}
        for name, (sid, token) in tries.items():
            bearer = {"Authorization": f"Bearer {token}"}
            got = [
                client.get(f"/result/{sid}/{token}"),
                client.get(f"/api/v1/screenings/{sid}", headers=bearer),
                client.get(f"/fhir/Bundle/{sid}", headers=bearer),
            ]
            answers[name] = [(r.status_code, r.text.replace(sid, "ID")) for r in got]
        assert answers["wrong"][0][0] == 404
        assert NOT_FOUND in answers["wrong"][0][1]
        assert all(a == answers["wrong"] for a in answers.values()), answers


class TestExpiry:
    """A link works for the link lifetime after it was issued, then stops."""

    def test_default_lifetime(self, client: TestClient) -> None:
        """90 days by default: a day before, it opens; a day after, the kind page
        (404) and a JSON 404, never an error."""
        sid = submit(client, ANSWERS).json()["id"]
        now = datetime.now(UTC)
        assert (
            reads(client, sid, reissue(client, sid, now - timedelta(days=89))) == OPEN
        )
        old = reissue(client, sid, now - timedelta(days=91))
        assert reads(client, sid, old) == SHUT
        page = client.get(f"/result/{sid}/{old}")
        assert NOT_FOUND in page.text
        api = client.get(
            f"/api/v1/screenings/{sid}", headers={"Authorization": f"Bearer {old}"}
        )
        assert api.json() == {"detail": "No screening with this id and token."}

    def test_lifetime_is_a_setting(self, settings: Settings) -> None:
        """KETASCREEN_LINK_LIFETIME_DAYS=1: a two-day-old link no longer opens."""
        short = settings.model_copy(update={"link_lifetime_days": 1})
        with TestClient(create_app(short)) as client:
            body = submit(client, ANSWERS).json()
            sid = body["id"]
            assert reads(client, sid, body["access_token"]) == OPEN
            now = datetime.now(UTC)
            two_days = reissue(client, sid, now - timedelta(days=2))
            assert reads(client, sid, two_days) == SHUT

    def test_a_submitted_drafts_link_expires_too(self, client: TestClient) -> None:
        """The link found from a resume token carries the submission time: the way
        back through the draft opens the result within the lifetime, not after."""
        token = start(client)
        finished = client.post(f"/s/{token}/finish", follow_redirects=False)
        sid = finished.headers["location"].split("/")[2]
        for days, status in ((89, 200), (91, 404)):
            submitted = datetime.now(UTC) - timedelta(days=days)
            link = links.from_draft(token, submitted)
            with repository(client).engine.begin() as conn:
                conn.execute(
                    update(ScreeningRow)
                    .where(ScreeningRow.id == sid)
                    .values(created_at=submitted, token_hash=links.digest(link))
                )
            back = client.get(f"/s/{token}")
            assert back.url.path == f"/result/{sid}/{link}"
            assert back.status_code == status, days


def start(client: TestClient) -> str:
    """Start a draft; its resume token."""
    response = client.post("/start", follow_redirects=False)
    return str(response.headers["location"]).removeprefix("/s/")


@pytest.fixture
def signed(client: TestClient) -> tuple[TestClient, str]:
    """A client with a clinician signed in, and the session's CSRF token."""
    return client, clinician(client)


class TestRevoke:
    """A clinician revokes a link; it stays dead."""

    def test_revoked_link_is_dead_everywhere(
        self, signed: tuple[TestClient, str]
    ) -> None:
        """Page, API, FHIR and the draft's way back all refuse it; audited."""
        client, csrf = signed
        token = start(client)
        finished = client.post(f"/s/{token}/finish", follow_redirects=False)
        _, _, sid, link = finished.headers["location"].split("/")
        engine = repository(client).engine
        count = audit_count(engine)
        done = client.post(
            f"/staff/screenings/{sid}/link/revoke",
            data={"csrf": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert audit_actions_since(engine, count)[-1] == "screening.link_revoke"
        actor = repository(client).audit_events(sid)[-1].actor
        assert actor == "doc@clinic.test"
        use_cookie(client, None)
        assert reads(client, sid, link) == SHUT
        assert client.get(f"/s/{token}").status_code == 404
        again = client.post(f"/s/{token}/finish")
        assert again.status_code == 404

    def test_a_repeated_submission_does_not_bring_it_back(
        self, signed: tuple[TestClient, str]
    ) -> None:
        """The same Idempotency-Key again: 410 naming the key; the link stays dead."""
        client, csrf = signed
        first = submit(client, ANSWERS, key="k-revoked").json()
        client.post(f"/staff/screenings/{first['id']}/link/revoke", data={"csrf": csrf})
        before = snapshot(repository(client).engine)
        use_cookie(client, None)
        replay = submit(client, ANSWERS, key="k-revoked")
        assert replay.status_code == 410
        assert replay.json()["detail"][0]["field"] == "Idempotency-Key"
        assert snapshot(repository(client).engine) == before
        assert reads(client, first["id"], first["access_token"]) == SHUT


class TestNewLink:
    """A clinician sends a new link: shown once, the old one stops working."""

    def test_shown_once_and_replaces_the_old(
        self, signed: tuple[TestClient, str]
    ) -> None:
        """The page that answers shows the link; later pages do not; audited."""
        client, csrf = signed
        first = submit(client, ANSWERS).json()
        sid = first["id"]
        engine = repository(client).engine
        count = audit_count(engine)
        page = client.post(f"/staff/screenings/{sid}/link", data={"csrf": csrf})
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        shown = BeautifulSoup(page.text, "html.parser").find(id="new-link")
        assert shown is not None
        url = httpx.URL(shown.get_text())
        assert url.path.startswith(f"/result/{sid}/")
        new = url.path.rsplit("/", 1)[1]
        assert "screening.link_new" in audit_actions_since(engine, count)
        later = client.get(f"/staff/screenings/{sid}")
        assert later.status_code == 200
        assert new not in later.text
        assert new not in everything(client)
        use_cookie(client, None)
        assert reads(client, sid, new) == OPEN
        assert reads(client, sid, first["access_token"]) == SHUT

    def test_after_a_revoke(self, signed: tuple[TestClient, str]) -> None:
        """A revoked link can be replaced by a working one."""
        client, csrf = signed
        sid = submit(client, ANSWERS).json()["id"]
        client.post(f"/staff/screenings/{sid}/link/revoke", data={"csrf": csrf})
        page = client.post(f"/staff/screenings/{sid}/link", data={"csrf": csrf})
        shown = BeautifulSoup(page.text, "html.parser").find(id="new-link")
        assert shown is not None
        new = shown.get_text().rsplit("/", 1)[1]
        use_cookie(client, None)
        assert reads(client, sid, new) == OPEN

    def test_the_drafts_way_back_then_stops(
        self, signed: tuple[TestClient, str]
    ) -> None:
        """Once a new link was sent, the old resume link no longer opens the result."""
        client, csrf = signed
        token = start(client)
        sid = (
            client.post(f"/s/{token}/finish", follow_redirects=False)
            .headers["location"]
            .split("/")[2]
        )
        client.post(f"/staff/screenings/{sid}/link", data={"csrf": csrf})
        use_cookie(client, None)
        assert client.get(f"/s/{token}").status_code == 404


class TestRepeats:
    """A repeated submission still gives the person a working link."""

    def test_same_idempotency_key(self, client: TestClient) -> None:
        """The same key and answers: the same screening, a fresh link that works; the
        first link stops (only hashes are kept); one row; the new link is audited."""
        first = submit(client, ANSWERS, key="abc-123").json()
        second = submit(client, ANSWERS, key="abc-123")
        assert second.status_code == 201
        body = second.json()
        assert body["id"] == first["id"]
        assert body["result"] == first["result"]
        assert reads(client, body["id"], body["access_token"]) == OPEN
        assert reads(client, first["id"], first["access_token"]) == SHUT
        assert repository(client).count() == 1
        actions = [e.action for e in repository(client).audit_events(first["id"])]
        assert "screening.link_replay" in actions

    def test_same_key_other_answers_refused(self, client: TestClient) -> None:
        """The key with other answers is 422 naming it, changes nothing, and the first
        link keeps working (a key is not a way into someone's screening)."""
        first = submit(client, ANSWERS, key="shared-key").json()
        before = snapshot(repository(client).engine)
        other = submit(client, {**ANSWERS, "age": 52}, key="shared-key")
        assert other.status_code == 422
        assert other.json()["detail"][0]["field"] == "Idempotency-Key"
        assert "result" not in other.text
        assert snapshot(repository(client).engine) == before
        assert reads(client, first["id"], first["access_token"]) == OPEN

    def test_draft_submitted_twice(self, client: TestClient) -> None:
        """A double submit and a later visit of the resume link all lead to the one
        result, through the same working link."""
        token = start(client)
        first = client.post(f"/s/{token}/finish", follow_redirects=False)
        second = client.post(f"/s/{token}/finish", follow_redirects=False)
        back = client.get(f"/s/{token}", follow_redirects=False)
        where = {r.headers["location"] for r in (first, second, back)}
        assert len(where) == 1
        assert client.get(where.pop()).status_code == 200
        assert repository(client).count() == 1
