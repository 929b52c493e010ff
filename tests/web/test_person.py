"""The person's flow over HTTP, checked in the HTML (BeautifulSoup), on both databases."""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient


def soup(response: Any) -> Any:
    return BeautifulSoup(response.text, "html.parser")


def start(client: TestClient) -> tuple[str, str]:
    """Start a draft; return its token and the first page's path."""
    response = client.post("/start", follow_redirects=True)
    path = response.url.path
    match = re.fullmatch(r"/s/([^/]+)/([a-z_]+)", path)
    assert match, path
    return match.group(1), path


def submit(
    client: TestClient, path: str, data: dict[str, Any], action: str = "next"
) -> Any:
    return client.post(path, data={**data, "action": action}, follow_redirects=True)


CALM_PAGES: dict[str, dict[str, Any]] = {
    "about_you": {"age": "44", "sex_at_birth": "male"},
    "mood_now": {
        **{f"phq9_{n}": "1" for n in range(1, 9)},
        "phq9_9": "0",
        **{f"gad7_{n}": "1" for n in range(1, 8)},
    },
}


class TestWelcome:
    """The welcome page says what this is and is not."""

    def test_welcome(self, client: TestClient) -> None:
        """Not a diagnosis, a clinician decides, how long, how answers are kept."""
        page = soup(client.get("/"))
        text = page.get_text(" ")
        assert "not a diagnosis" in text.lower() or "does not give a diagnosis" in text
        assert "15 minutes" in text
        assert "encrypted" in text
        assert page.find("html")["lang"] == "en"

    def test_nothing_from_other_sites(self, client: TestClient) -> None:
        """Every script, style and link stays on this server."""
        for path in ("/", start(client)[1]):
            page = soup(client.get(path))
            for tag in page.find_all(["script", "link", "img", "a"]):
                url = tag.get("src") or tag.get("href") or ""
                assert not re.match(r"^(https?:)?//", url) or "testserver" in url, url


class TestPages:
    """One section per page, progress, back and next, validation beside the field."""

    def test_first_page_and_progress(self, client: TestClient) -> None:
        """The first page shows its questions and 'Step 1 of N'."""
        _, path = start(client)
        page = soup(client.get(path))
        assert page.find("h1").get_text() == "About you"
        assert re.search(r"Step 1 of \d+", page.get_text())
        assert page.find("label", attrs={"for": "age"})
        assert page.find("legend", string=re.compile("sex were you assigned"))

    def test_validation_message_beside_field(self, client: TestClient) -> None:
        """A bad number is explained beside the field and in the summary; others kept."""
        _, path = start(client)
        response = submit(client, path, {"age": "abc", "sex_at_birth": "female"})
        assert response.status_code == 422
        page = soup(response)
        field = page.find(id="field-age")
        assert "Please check this answer" in field.get_text()
        assert field.find("input")["aria-describedby"] == "age-error"
        summary = page.find(class_="error-summary")
        assert summary.find("a")["href"] == "#field-age"
        assert page.find(id="sex_at_birth-1").has_attr("checked")

    def test_back_keeps_answers(self, client: TestClient) -> None:
        """Next then Back shows the answers given."""
        _, path = start(client)
        second = submit(client, path, CALM_PAGES["about_you"])
        assert soup(second).find("h1").get_text() == "How you have been feeling"
        back = submit(client, str(second.url.path), {}, action="back")
        page = soup(back)
        assert page.find(id="age")["value"] == "44"
        assert page.find(id="sex_at_birth-2").has_attr("checked")

    def test_follow_up_appears_after_its_question(self, client: TestClient) -> None:
        """Without script: 'is it controlled?' appears once high blood pressure is ticked."""
        token, _ = start(client)
        heart = f"/s/{token}/heart"
        assert soup(client.get(heart)).find(id="htn_controlled-yes") is None
        again = submit(client, heart, {"heart_conditions": "high_bp"})
        assert again.url.path == heart
        assert soup(again).find(id="htn_controlled-yes") is not None

    def test_resume_link(self, client: TestClient) -> None:
        """The private link brings the person back to their answers."""
        token, path = start(client)
        submit(client, path, CALM_PAGES["about_you"])
        resumed = client.get(f"/s/{token}", follow_redirects=True)
        assert soup(resumed).find(id="age")["value"] == "44"

    def test_unknown_link_is_kind(self, client: TestClient) -> None:
        """A wrong link gets a kind page, not an error trace."""
        response = client.get("/s/not-a-real-token/about_you")
        assert response.status_code == 404
        assert "Nothing you saved has been lost" in response.text


class TestCrisis:
    """Crisis help appears on the very next page after a suicide-risk answer."""

    def test_crisis_on_next_page(self, client: TestClient) -> None:
        """PHQ-9 item 9 above zero: the next page opens with 988 and the safety questions."""
        token, path = start(client)
        submit(client, path, CALM_PAGES["about_you"])
        mood = {**CALM_PAGES["mood_now"], "phq9_9": "2"}
        response = submit(client, f"/s/{token}/mood_now", mood)
        page = soup(response)
        crisis = page.find(class_="crisis")
        assert crisis is not None
        assert crisis["role"] == "alert"
        assert "988" in crisis.get_text()
        assert crisis.find("a", href="tel:988") is not None  # one tap on a phone
        # The same page may first ask its own follow-up (how hard things have been);
        # the safety questions come next, still with crisis help at the top.
        if page.find("h1").get_text() != "Your safety":
            page = soup(submit(client, f"/s/{token}/mood_now", mood))
        assert page.find("h1").get_text() == "Your safety"
        assert page.find(class_="crisis") is not None


class TestResult:
    """Completing the flow stores the screening and shows a kind result."""

    def walk(self, client: TestClient, answers: dict[str, dict[str, Any]]) -> Any:
        token, path = start(client)
        response = client.get(path)
        for _ in range(40):
            section = response.url.path.rsplit("/", 1)[1]
            if section == "finish":
                return client.post(f"/s/{token}/finish", follow_redirects=True)
            response = submit(client, response.url.path, answers.get(section, {}))
        raise AssertionError("the flow did not finish")

    def test_complete_flow(self, client: TestClient) -> None:
        """A person who skips most questions still gets a result, with next steps."""
        response = self.walk(client, CALM_PAGES)
        page = soup(response)
        assert response.url.path.startswith("/result/")
        assert (
            page.find("h1").get_text()
            == "A clinician will want to look more closely first"
        )
        assert "What you can do next" in page.get_text()
        assert len(page.find_all(class_="route")) == 4
        assert "eligible" not in page.get_text().lower()

    def test_result_link_needs_its_token(self, client: TestClient) -> None:
        """The result page needs the private token; printable view works."""
        response = self.walk(client, CALM_PAGES)
        path = response.url.path
        printable = client.get(path + "?print_view=true")
        assert printable.status_code == 200
        assert "Printable version" not in printable.text
        wrong = client.get(path.rsplit("/", 1)[0] + "/wrong-token")
        assert wrong.status_code == 404

    def test_double_submit_is_one_screening(self, client: TestClient) -> None:
        """Submitting the finished draft twice stores it once."""
        token, _ = start(client)
        client.post(f"/s/{token}/finish")
        client.post(f"/s/{token}/finish")
        repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
        assert repository.count() == 1


class TestExpiry:
    """Old resume links stop working, kindly."""

    def test_expired_link(self, client: TestClient) -> None:
        """A draft untouched for longer than the lifetime gets a kind 'expired' page."""
        from datetime import timedelta

        token, path = start(client)
        repository = client.app.state.ketascreen.repository  # type: ignore[attr-defined]
        repository.draft_lifetime = timedelta(seconds=-1)
        response = client.get(path)
        assert response.status_code == 410
        assert "This link has expired" in response.text
        assert client.post(f"/s/{token}/finish").status_code == 410


class TestSafetyKept:
    """Changing an earlier answer never loses a suicide-risk answer; results are final."""

    def test_changed_item9_keeps_asq_answer(self, client: TestClient) -> None:
        """ASQ 'yes' stays in the result even after item 9 is changed back to 0."""
        token, path = start(client)
        submit(client, path, CALM_PAGES["about_you"])
        mood = {**CALM_PAGES["mood_now"], "phq9_9": "2"}
        submit(client, f"/s/{token}/mood_now", mood)
        submit(client, f"/s/{token}/mood_now", mood)  # past the page's own follow-up
        submit(client, f"/s/{token}/safety", {"asq_1": "yes"})
        submit(client, f"/s/{token}/mood_now", {**mood, "phq9_9": "0"})
        result = client.post(f"/s/{token}/finish", follow_redirects=True)
        page = soup(result)
        assert page.find(class_="crisis") is not None
        assert "988" in page.find(class_="crisis").get_text()

    def test_submitted_draft_goes_to_result(self, client: TestClient) -> None:
        """After 'See my result', the questionnaire link shows the result instead."""
        token, _ = start(client)
        first = client.post(f"/s/{token}/finish", follow_redirects=True)
        again = client.get(f"/s/{token}/about_you", follow_redirects=True)
        assert again.url.path == first.url.path
