"""Staff sessions and the headers on every answer: session fixation, sign-out, CSRF,
brute force, cookie flags, security headers, and HSTS behind a TLS proxy."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from tests.databases import fresh_database
from tests.servers import running_server, server_env
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
from ketascreen.storage.orm import LoginAttempts, SessionRow, UserRow
from ketascreen.storage.staff import LOGIN_ATTEMPTS_PER_MINUTE, MAX_FAILED_LOGINS
from ketascreen.web.app import create_app
from ketascreen.web.auth import COOKIE

ADMIN = "admin@clinic.test"


@pytest.fixture
def staffed(client: TestClient) -> TestClient:
    """The client of an app with an admin and a coordinator account."""
    staff_store(client).add_user(ADMIN, "Admin", "admin", PASSWORD)
    staff_store(client).add_user("co@clinic.test", "Co", "coordinator", PASSWORD)
    return client


def log_in(
    client: TestClient, email: str = ADMIN, password: str = PASSWORD
) -> httpx.Response:
    """POST the sign-in form."""
    return client.post(
        "/staff/login",
        data={"email": email, "password": password},
        follow_redirects=False,
    )


def session_count(client: TestClient) -> int:
    """How many staff sessions exist."""
    with repository(client).engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(SessionRow)).scalar_one()
        )


def signed_in(client: TestClient, cookie: str) -> bool:
    """Whether the cookie opens the queue."""
    use_cookie(client, cookie)
    return client.get("/staff", follow_redirects=False).status_code == 200


def cookie_of(response: httpx.Response) -> str:
    """The session cookie the response sets."""
    header = response.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}="), header
    return header.split(";", 1)[0].split("=", 1)[1]


class TestFixation:
    """A session id known before sign-in is never the one after it."""

    def test_a_planted_id_is_not_kept(self, staffed: TestClient) -> None:
        """A cookie an attacker set is replaced by a new random one, and opens nothing."""
        planted = "attacker-chosen-session-id"
        use_cookie(staffed, planted)
        response = log_in(staffed)
        assert response.status_code == 303
        assert cookie_of(response) != planted
        assert not signed_in(staffed, planted)
        assert signed_in(staffed, cookie_of(response))

    def test_signing_in_ends_the_session_the_browser_had(
        self, staffed: TestClient
    ) -> None:
        """An attacker's own live session planted in the victim's browser is ended
        when the victim signs in; the victim gets a session of their own."""
        planted, _ = sign_in(staffed, "co@clinic.test")
        use_cookie(staffed, planted)
        response = log_in(staffed)
        fresh = cookie_of(response)
        assert fresh != planted
        assert not signed_in(staffed, planted)
        assert signed_in(staffed, fresh)


class TestSignOut:
    """Signing out ends the session on the server."""

    def test_a_stolen_cookie_is_dead_after_logout(self, staffed: TestClient) -> None:
        """After logout the old cookie opens neither pages nor the API."""
        cookie, csrf = sign_in(staffed, ADMIN)
        sid = stored(staffed).id
        assert signed_in(staffed, cookie)
        before = session_count(staffed)
        out = staffed.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303
        assert session_count(staffed) == before - 1
        assert not signed_in(staffed, cookie)
        use_cookie(staffed, cookie)
        assert staffed.get(f"/api/v1/screenings/{sid}").status_code == 404

    def test_an_expired_session_opens_nothing(self, staffed: TestClient) -> None:
        """A session past its lifetime is refused like no session."""
        cookie, _ = sign_in(staffed, ADMIN)
        expire_session(staffed, cookie)
        sid = stored(staffed).id
        assert not signed_in(staffed, cookie)
        use_cookie(staffed, cookie)
        assert staffed.get(f"/api/v1/screenings/{sid}").status_code == 404


def staff_posts(client: TestClient) -> list[str]:
    """Every POST route under /staff that a signed-in session sends."""
    paths = []
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = str(route.path)
        if "POST" in (route.methods or ()) and path.startswith("/staff/"):
            paths.append(path)
    return [p for p in sorted(paths) if p != "/staff/login"]


FIELDS = {
    "status": {"status": "in_review", "note": "n"},
    "override": {"disposition": "prepare_first", "reason": "reviewed in clinic"},
    "note": {"note": "Pt denies SI."},
}


class TestCsrf:
    """Every staff form needs its session's token; without it nothing changes."""

    def test_every_staff_post_refused_without_the_token(
        self, staffed: TestClient
    ) -> None:
        """No token, a wrong one, or another session's: 403 and nothing changed."""
        cookie, csrf = sign_in(staffed, ADMIN)
        _, others = sign_in(staffed, ADMIN)
        assert csrf != others
        engine = repository(staffed).engine
        paths = staff_posts(staffed)
        assert len(paths) >= 6  # logout, status, override, note, link, revoke
        for path in paths:
            sid = stored(staffed).id
            url = path.format(screening_id=sid)
            fields = FIELDS.get(path.rsplit("/", 1)[1], {})
            for token in (None, "forged", others):
                use_cookie(staffed, cookie)
                before, audits = snapshot(engine), audit_count(engine)
                data = fields if token is None else {**fields, "csrf": token}
                response = staffed.post(url, data=data, follow_redirects=False)
                assert response.status_code == 403, (path, token)
                assert response.json()["detail"][0]["field"] == "csrf"
                assert snapshot(engine) == before, (path, token)
                assert not set(audit_actions_since(engine, audits)) & CHANGES
            use_cookie(staffed, cookie)
            good = staffed.post(
                url, data={**fields, "csrf": csrf}, follow_redirects=False
            )
            assert good.status_code in (200, 303), path
            if path == "/staff/logout":
                cookie, csrf = sign_in(staffed, ADMIN)

    def test_sign_in_from_another_site_refused(self, staffed: TestClient) -> None:
        """The sign-in form has no session yet: a browser's Origin from elsewhere is
        refused (403) and no session starts; this site's own Origin signs in."""
        before = session_count(staffed)
        evil = staffed.post(
            "/staff/login",
            data={"email": ADMIN, "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert evil.status_code == 403
        assert session_count(staffed) == before
        own = staffed.post(
            "/staff/login",
            data={"email": ADMIN, "password": PASSWORD},
            headers={"Origin": "http://testserver"},
            follow_redirects=False,
        )
        assert own.status_code == 303


class TestBruteForce:
    """Guessing passwords is slowed per account and per address."""

    def test_lockout_refuses_even_the_right_password(self, staffed: TestClient) -> None:
        """Five wrong passwords lock the account: the right one then fails the same
        way and starts no session, until the lockout is over."""
        for _ in range(MAX_FAILED_LOGINS):
            assert log_in(staffed, password="not the password!").status_code == 401
        before = session_count(staffed)
        locked = log_in(staffed)
        assert locked.status_code == 401
        assert "did not work" in locked.text
        assert session_count(staffed) == before
        with repository(staffed).engine.begin() as conn:
            conn.execute(
                update(UserRow)
                .where(UserRow.email == ADMIN)
                .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert log_in(staffed).status_code == 303

    def test_rate_limit_per_address(self, staffed: TestClient) -> None:
        """Past the per-minute limit an address gets 429, the right password too;
        another address is not held up."""
        for _ in range(LOGIN_ATTEMPTS_PER_MINUTE):
            assert log_in(staffed, email="nobody@clinic.test").status_code == 401
        before = session_count(staffed)
        limited = log_in(staffed)
        assert limited.status_code == 429
        assert session_count(staffed) == before
        elsewhere = TestClient(staffed.app, client=("192.0.2.7", 50000))
        assert log_in(elsewhere).status_code == 303

    def test_limit_slides_across_the_minute(self, staffed: TestClient) -> None:
        """Last minute's attempts weigh by the part of it still in the window; a
        refused attempt counts too; two minutes later the address is free."""
        store = staff_store(staffed)
        start = datetime(2026, 11, 29, 9, 0, 50, tzinfo=UTC)
        for _ in range(LOGIN_ATTEMPTS_PER_MINUTE):
            assert store.allow_login_attempt("192.0.2.9", start)
        assert not store.allow_login_attempt("192.0.2.9", start)  # the 11th
        # 20 s into the next minute: 11 x 40/60 = 7.3 from before, room for 2 more.
        later = start + timedelta(seconds=30)
        assert [store.allow_login_attempt("192.0.2.9", later) for _ in range(3)] == [
            True,
            True,
            False,
        ]
        assert store.allow_login_attempt("192.0.2.10", later)  # another address
        assert store.allow_login_attempt("192.0.2.9", start + timedelta(minutes=2))

    def test_addresses_stored_hashed_and_old_minutes_dropped(
        self, staffed: TestClient
    ) -> None:
        """The table holds an address's SHA-256, never the address; rows older than
        the window go at the next attempt."""
        store = staff_store(staffed)
        start = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
        store.allow_login_attempt("192.0.2.9", start)
        store.allow_login_attempt("192.0.2.9", start + timedelta(minutes=5))
        with repository(staffed).engine.connect() as conn:
            rows = conn.execute(
                select(LoginAttempts.address_hash, LoginAttempts.count)
            ).all()
        digest = hashlib.sha256(b"192.0.2.9").hexdigest()
        assert [tuple(row) for row in rows] == [(digest, 1)]


class TestCookie:
    """The session cookie's flags."""

    def test_flags_over_http(self, staffed: TestClient) -> None:
        """HttpOnly, SameSite=strict, whole site; not Secure on plain HTTP."""
        flags = log_in(staffed).headers["set-cookie"].lower()
        assert "httponly" in flags
        assert "samesite=strict" in flags
        assert "path=/" in flags
        assert "secure" not in flags

    def test_secure_over_tls(self, staffed: TestClient) -> None:
        """Over HTTPS the cookie is Secure."""
        tls = TestClient(staffed.app, base_url="https://testserver")
        flags = log_in(tls).headers["set-cookie"].lower()
        assert "secure" in flags
        assert "httponly" in flags


#: Every source a policy may name: nothing from another origin.
LOCAL_SOURCES = {"'self'", "'none'", "data:"}


def check_headers(response: httpx.Response, *, tls: bool = False) -> None:
    """The security headers every answer carries."""
    headers = response.headers
    policy = {
        d.split()[0]: d.split()[1:]
        for d in headers["content-security-policy"].split(";")
        if d.strip()
    }
    for directive, sources in policy.items():
        assert set(sources) <= LOCAL_SOURCES, (directive, sources)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert "script-src" in policy
    assert "form-action" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert ("strict-transport-security" in headers) == tls


class TestSecurityHeaders:
    """Every kind of answer carries the headers."""

    def test_every_kind_of_answer(
        self, staffed: TestClient, settings: Settings
    ) -> None:
        """HTML, JSON, static, redirects, error pages (404, 405, 413, 422, the kind
        page) and PDFs: the same headers; only static files may be cached."""
        sid = stored(staffed).id
        too_big = b"x" * (settings.max_body_bytes + 1)
        answers = {
            "html": staffed.get("/"),
            "json": staffed.post("/api/v1/screenings", json={"answers": {}}),
            "static": staffed.get("/static/style.css"),
            "redirect": staffed.get("/staff", follow_redirects=False),
            "404": staffed.get("/no/such/page"),
            "404 kind": staffed.get(f"/result/{sid}/nope"),
            "404 json": staffed.get(f"/api/v1/screenings/{sid}"),
            "405": staffed.get("/start"),
            "413": staffed.post(
                "/api/v1/screenings",
                content=too_big,
                headers={"content-type": "application/json"},
            ),
            "422": staffed.post("/api/v1/screenings", json={"answers": {"age": -1}}),
            "openapi": staffed.get("/openapi.json"),
        }
        cookie, _ = sign_in(staffed, ADMIN)
        use_cookie(staffed, cookie)
        answers["pdf"] = staffed.get(f"/staff/screenings/{sid}/report.pdf")
        answers["csv"] = staffed.get("/staff/queue.csv")
        expected = {"404": 404, "404 kind": 404, "404 json": 404, "405": 405}
        expected |= {"413": 413, "422": 422, "json": 201, "redirect": 303}
        for kind, response in answers.items():
            assert response.status_code == expected.get(kind, 200), kind
            check_headers(response)
            cache = response.headers.get("cache-control")
            assert cache == (None if kind == "static" else "no-store"), kind

    def test_server_error(self, settings: Settings) -> None:
        """A 500 from a fault in a route carries them too."""
        app = create_app(settings)

        def boom() -> None:
            raise RuntimeError("a fault")

        app.add_api_route("/boom", boom)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/boom")
        assert response.status_code == 500
        check_headers(response)

    def test_hsts_only_over_tls(self, client: TestClient) -> None:
        """HSTS when the request came over HTTPS, never on plain HTTP."""
        check_headers(client.get("/"))
        tls = TestClient(client.app, base_url="https://testserver")
        check_headers(tls.get("/"), tls=True)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``ketascreen serve`` on loopback; loopback is its trusted proxy."""
    data: Path = tmp_path_factory.mktemp("proxied")
    with running_server(server_env(data)) as server:
        yield server.url


@pytest.mark.slow
class TestBehindTheProxy:
    """``ketascreen serve`` behind a TLS-terminating proxy on the same machine."""

    def test_hsts_and_secure_cookie_from_forwarded_https(self, proxied: str) -> None:
        """X-Forwarded-Proto: https from the trusted proxy: HSTS and a Secure
        cookie; the same request as plain HTTP: neither."""
        tls = {"X-Forwarded-Proto": "https"}
        check_headers(httpx.get(proxied + "/", headers=tls), tls=True)
        check_headers(httpx.get(proxied + "/"))
        login = {"email": "nobody@clinic.test", "password": PASSWORD}
        refused = httpx.post(proxied + "/staff/login", data=login, headers=tls)
        check_headers(refused, tls=True)

    def test_rate_limit_by_forwarded_address(self, proxied: str) -> None:
        """Behind the proxy the limit counts the person's address, not the proxy's."""
        login = {"email": "nobody@clinic.test", "password": PASSWORD}
        first = {"X-Forwarded-For": "198.51.100.1"}
        for _ in range(LOGIN_ATTEMPTS_PER_MINUTE):
            response = httpx.post(proxied + "/staff/login", data=login, headers=first)
            assert response.status_code == 401
        limited = httpx.post(proxied + "/staff/login", data=login, headers=first)
        assert limited.status_code == 429
        second = {"X-Forwarded-For": "198.51.100.2"}
        assert (
            httpx.post(proxied + "/staff/login", data=login, headers=second).status_code
            == 401
        )

    def test_limit_shared_by_server_processes(self, tmp_path: Path) -> None:
        """Two server processes on one database (as ``--workers 2`` runs) share
        one limit: half the attempts on each, then both refuse."""
        env = server_env(tmp_path)
        login = {"email": "nobody@clinic.test", "password": PASSWORD}
        with running_server(env) as first, running_server(env) as second:
            for number in range(LOGIN_ATTEMPTS_PER_MINUTE):
                url = (first if number % 2 else second).url + "/staff/login"
                assert httpx.post(url, data=login).status_code == 401
            for server in (first, second):
                refused = httpx.post(server.url + "/staff/login", data=login)
                assert refused.status_code == 429

    @pytest.mark.parametrize("db", ["sqlite", "postgresql"])
    def test_limit_holds_under_concurrent_attempts(
        self, db: str, tmp_path: Path, request: pytest.FixtureRequest
    ) -> None:
        """150 attempts at once from three addresses, spread over two server
        processes: exactly ten per address get through, every other one gets 429,
        and none fails (the count is raised in one statement)."""
        url = (
            fresh_database(request.getfixturevalue("postgres"))
            if db == "postgresql"
            else None
        )
        env = server_env(tmp_path, database_url=url)
        login = {"email": "nobody@clinic.test", "password": PASSWORD}
        with running_server(env) as first, running_server(env) as second:

            def attempt(number: int) -> int:
                server = (first, second)[number % 2]
                forwarded = {"X-Forwarded-For": f"198.51.100.{number % 3}"}
                answer = httpx.post(
                    server.url + "/staff/login", data=login, headers=forwarded
                )
                return answer.status_code

            with ThreadPoolExecutor(max_workers=16) as pool:
                codes = Counter(pool.map(attempt, range(150)))
        allowed = 3 * LOGIN_ATTEMPTS_PER_MINUTE
        assert codes == {401: allowed, 429: 150 - allowed}

    def test_untrusted_proxy_ignored(self, tmp_path: Path) -> None:
        """With another address as the trusted proxy, a forwarded HTTPS claim from
        loopback is ignored: no HSTS."""
        env = server_env(tmp_path, trusted_proxies="192.0.2.1")
        with running_server(env) as server:
            response = httpx.get(
                server.url + "/", headers={"X-Forwarded-Proto": "https"}
            )
        check_headers(response)


def test_session_ids_are_stored_hashed(staffed: TestClient) -> None:
    """The database holds a session's SHA-256, not the cookie."""
    cookie, _ = sign_in(staffed, ADMIN)
    with repository(staffed).engine.connect() as conn:
        ids = set(conn.execute(select(SessionRow.id_hash)).scalars())
    assert cookie not in ids
    assert hashlib.sha256(cookie.encode()).hexdigest() in ids
