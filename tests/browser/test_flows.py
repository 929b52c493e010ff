"""The person's and the clinician's flows in a real browser, with axe on every page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = pytest.mark.slow
SHOTS = os.environ.get("KETASCREEN_SCREENSHOTS")
axe = Axe()


def check(page: Any, name: str) -> None:
    """No axe violations; optionally keep a screenshot for the docs."""
    results = axe.run(page)
    violations = results.response["violations"]
    assert violations == [], f"{name}: " + "; ".join(
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in violations
    )
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def next_page(page: Any) -> None:
    page.get_by_role("button", name="Next").click()
    page.wait_for_load_state()


def test_person_flow_on_a_phone(server: str, phone: Any) -> None:
    """Welcome, questions with crisis help at once, result: kind words, no violations."""
    page = phone
    page.goto(server + "/")
    check(page, "welcome")
    page.get_by_role("button", name="Start the screening").click()
    page.get_by_label("How old are you?").fill("150")
    next_page(page)
    assert "Please check this answer" in page.locator("#field-age").inner_text()
    check(page, "question-error")
    page.get_by_label("How old are you?").fill("36")
    page.get_by_label("Female").check()
    next_page(page)
    assert page.locator("h1").inner_text() == "How you have been feeling"
    check(page, "question")
    for n in range(1, 9):
        page.locator(f"#phq9_{n}-2").check()
    page.locator("#phq9_9-2").check()  # "Several days"
    for n in range(1, 8):
        page.locator(f"#gad7_{n}-2").check()
    next_page(page)
    assert "988" in page.locator(".crisis").inner_text()
    check(page, "crisis")
    for _ in range(30):
        if page.url.endswith("/finish"):
            break
        next_page(page)
    check(page, "finish")
    page.get_by_role("button", name="See my result").click()
    page.wait_for_load_state()
    assert "/result/" in page.url
    text = page.locator("main").inner_text()
    assert "988" in text
    assert "eligible" not in text.lower()
    assert page.locator(".route").count() == 4
    check(page, "result")
    page.get_by_role("link", name="Printable version").click()
    page.wait_for_load_state()
    check(page, "result-printable")
    page.goto(server + "/s/not-a-real-link/about_you")
    assert "could not find" in page.locator("h1").inner_text()
    check(page, "link-not-found")


def test_clinician_flow(server: str, browser: Any) -> None:
    """Sign in, triage the queue, open a screening, override with a reason, paste a
    note (an empty one first) and see what it added."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.request.post(
        server + "/api/v1/screenings",
        data={
            "answers": {
                "pregnant": "yes",
                "sex_at_birth": "female",
                "bp_systolic": 150,
                "bp_diastolic": 95,
            }
        },
    )
    page.goto(server + "/staff")
    check(page, "staff-login")
    page.get_by_label("Email").fill("admin@clinic.test")
    page.get_by_label("Password").fill("browser test password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    check(page, "staff-queue")
    page.locator("table.queue tbody tr a").first.click()
    page.wait_for_load_state()
    assert "pregnancy.pregnant" in page.locator("main").inner_text()
    check(page, "staff-screening")
    page.get_by_label("New disposition").select_option("needs_specialist_review")
    page.get_by_label("Reason (required)").fill(
        "Negative pregnancy test at the clinic today"
    )
    page.get_by_role("button", name="Override").click()
    page.wait_for_load_state()
    assert "Negative pregnancy test" in page.locator("main").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the clinician report (PDF)").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    dialogs: list[Any] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.get_by_role("button", name="Re-screen with this note").click()
    page.wait_for_load_state()
    assert "The note is empty." in page.locator("#field-note").inner_text()
    check(page, "staff-screening-note-error")
    page.get_by_label("Note to read (referral letter, intake note)").fill(
        "Referral letter. Pt denies SI. BP 132/84 today. <script>alert(1)</script>"
    )
    page.get_by_role("button", name="Re-screen with this note").click()
    page.wait_for_load_state()
    notes = page.locator("#from-the-note").inner_text()
    assert "Needs review" in notes
    assert "BP 132/84 today." in notes
    page.locator("#from-the-note").scroll_into_view_if_needed()
    check(page, "staff-screening-note")
    assert dialogs == []  # the note's markup is text, never run
    context.close()
