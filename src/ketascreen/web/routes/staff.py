"""The clinic's side: sign-in, the review queue, one screening, status, override, CSV,
and re-screening with a pasted note."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.types import Disposition
from ketascreen.errors import InputError
from ketascreen.storage.staff import (
    QUEUE_PAGE,
    STATUSES,
    NotAllowed,
    StaffError,
    check_may_rescreen,
)
from ketascreen.web.auth import (
    COOKIE,
    StaffDep,
    check_csrf,
    check_origin,
)
from ketascreen.web.deps import StateDep
from ketascreen.web.note import screen_note
from ketascreen.web.routes.person import templates

router = APIRouter(prefix="/staff", include_in_schema=False)

#: The highest queue page asked for by number (a bigger one would overflow the
#: database's offset; 100 million screenings is far beyond any clinic).
MAX_QUEUE_PAGES = 1_000_000
DISPOSITIONS = [d.value for d in Disposition]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _page(
    request: Request, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"staff_area": True, **context}, status_code=status
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The staff sign-in page."""
    return _page(request, "staff_login.html", title="Staff sign-in", error=None)


@router.post("/login")
def login(
    request: Request, state: StateDep, email: str = Form(""), password: str = Form("")
) -> Response:
    """Sign in; the same message for every failure; rate-limited per address.

    A form sent from another site is refused (there is no session token yet to
    check); a session the browser had before is ended, and the new one gets a new id.
    """
    check_origin(request)
    client = request.client.host if request.client else "unknown"
    if not state.staff.allow_login_attempt(client):
        return _page(
            request,
            "staff_login.html",
            status=429,
            title="Staff sign-in",
            error="Too many attempts. Please wait a minute and try again.",
        )
    # No account's email holds a NUL, and PostgreSQL cannot even look one up.
    found = state.staff.login(email, password) if "\x00" not in email else None
    if found is None:
        return _page(
            request,
            "staff_login.html",
            status=401,
            title="Staff sign-in",
            error="That email and password did not work, or the account is locked.",
        )
    token, _user = found
    state.staff.logout(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/staff", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,
    )
    return response


@router.post("/logout")
def logout(
    request: Request, staff: StaffDep, state: StateDep, csrf: str = Form("")
) -> Response:
    """Sign out and forget the session."""
    check_csrf(staff, csrf)
    state.staff.logout(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse)
async def queue(
    request: Request,
    staff: StaffDep,
    state: StateDep,
    disposition: str = "",
    status: str = "",
    q: str = "",
    page: int = Query(
        default=1, ge=1, le=MAX_QUEUE_PAGES, description="Page of the queue, from 1."
    ),
) -> HTMLResponse:
    """The review queue: most severe first, then newest; filters and search by id;
    QUEUE_PAGE screenings a page."""
    found, entry = state.staff.view_queue(
        staff.user,
        disposition=disposition or None,
        status=status or None,
        search=q or None,
        limit=QUEUE_PAGE,
        offset=(page - 1) * QUEUE_PAGE,
    )
    await state.writer.audit(entry)  # committed before the page is shown
    filters = {"disposition": disposition, "status": status, "q": q}

    def link(number: int) -> str:
        kept = {k: v for k, v in filters.items() if v}
        return "/staff?" + urlencode({**kept, "page": number})

    last_page = max(1, -(-found.total // QUEUE_PAGE))
    return _page(
        request,
        "staff_queue.html",
        title="Review queue",
        staff=staff,
        entries=found.entries,
        total=found.total,
        first=found.offset + 1,
        previous=link(page - 1) if page > 1 else None,
        next=link(page + 1) if page < last_page else None,
        dispositions=DISPOSITIONS,
        statuses=STATUSES,
        filters=filters,
    )


@router.get("/queue.csv")
def queue_csv(staff: StaffDep, state: StateDep) -> Response:
    """The queue as CSV (ids, dates, dispositions, statuses; no answers)."""
    entries = state.staff.queue(staff.user, limit=None).entries
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "created_at", "disposition", "effective_disposition", "status"]
    )
    for e in entries:
        writer.writerow(
            [
                _cell(e.id),
                e.created_at.isoformat(),
                _cell(e.disposition),
                _cell(e.effective_disposition),
                _cell(e.status),
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="ketascreen-queue.csv"'},
    )


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a
    leading apostrophe (OWASP's advice against CSV injection)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@router.get("/screenings/{screening_id}", response_class=HTMLResponse)
async def screening_page(
    request: Request, screening_id: str, staff: StaffDep, state: StateDep
) -> HTMLResponse:
    """Everything about one screening, for the clinician."""
    viewed = state.staff.view_screening(staff.user, screening_id)
    if viewed is None:
        return _page(request, "link_not_found.html", status=404, title="Not found")
    found, entry = viewed
    await state.writer.audit(entry)  # committed before the page is shown
    return _screening(request, staff, state, found)


def _screening(
    request: Request,
    staff: Any,
    state: Any,
    found: dict[str, Any],
    error: str | None = None,
    *,
    note_error: str | None = None,
    note_value: str = "",
    status: int | None = None,
    new_link: str | None = None,
) -> HTMLResponse:
    result = ScreeningResult.model_validate_json(found["result_json"])
    labels = {i.id: i.label for i in state.content.form.items.values()}
    return _page(
        request,
        "staff_screening.html",
        status=status or (400 if error else 200),
        title="Screening",
        staff=staff,
        s=found,
        result=result,
        labels=labels,
        statuses=STATUSES,
        dispositions=DISPOSITIONS,
        error=error,
        note_error=note_error,
        note_value=note_value,
        note_max_bytes=state.settings.note_max_bytes,
        new_link=new_link,
    )


@router.get("/screenings/{screening_id}/report.pdf")
def report_pdf(
    request: Request, screening_id: str, staff: StaffDep, state: StateDep
) -> Response:
    """The clinician report as a PDF (WeasyPrint; nothing is fetched from other sites)."""
    from weasyprint import HTML

    found = state.staff.screening(staff.user, screening_id)
    if found is None:
        return _page(request, "link_not_found.html", status=404, title="Not found")
    labels = {i.id: i.label for i in state.content.form.items.values()}
    html = templates.get_template("staff_report.html").render(
        s=found,
        result=ScreeningResult.model_validate_json(found["result_json"]),
        labels=labels,
        staff=staff,
    )
    pdf = HTML(string=html, url_fetcher=_no_fetching).write_pdf()
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="screening-{screening_id[:8]}.pdf"'
        },
    )


def _no_fetching(url: str, *_args: Any, **_kwargs: Any) -> Any:
    raise ValueError(f"the report does not load outside resources ({url[:40]})")


@router.post("/screenings/{screening_id}/status")
def change_status(
    request: Request,
    screening_id: str,
    staff: StaffDep,
    state: StateDep,
    csrf: str = Form(""),
    status: str = Form(""),
    note: str = Form(""),
) -> Response:
    """Move the screening along the workflow, with a note."""
    check_csrf(staff, csrf)
    return _act(
        request,
        staff,
        state,
        screening_id,
        lambda: state.staff.set_status(staff.user, screening_id, status, note),
    )


@router.post("/screenings/{screening_id}/override")
def override(
    request: Request,
    screening_id: str,
    staff: StaffDep,
    state: StateDep,
    csrf: str = Form(""),
    disposition: str = Form(""),
    reason: str = Form(""),
) -> Response:
    """Override the disposition; a reason is required; clinicians only."""
    check_csrf(staff, csrf)
    return _act(
        request,
        staff,
        state,
        screening_id,
        lambda: state.staff.override(staff.user, screening_id, disposition, reason),
    )


def _act(
    request: Request, staff: Any, state: Any, screening_id: str, action: Any
) -> Response:
    try:
        action()
    except StaffError as exc:
        return _refused(request, staff, state, screening_id, exc)
    return RedirectResponse(f"/staff/screenings/{screening_id}", status_code=303)


def _refused(
    request: Request, staff: Any, state: Any, screening_id: str, exc: StaffError
) -> HTMLResponse:
    """The screening page with why the action was refused (403 for the wrong role)."""
    found = state.staff.screening(staff.user, screening_id)
    if found is None:
        return _page(request, "link_not_found.html", status=404, title="Not found")
    code = 403 if isinstance(exc, NotAllowed) else None
    return _screening(request, staff, state, found, error=str(exc), status=code)


@router.post("/screenings/{screening_id}/link/revoke")
def revoke_link(
    request: Request,
    screening_id: str,
    staff: StaffDep,
    state: StateDep,
    csrf: str = Form(""),
) -> Response:
    """Stop the person's private link from working (clinicians and admins); audited."""
    check_csrf(staff, csrf)
    return _act(
        request,
        staff,
        state,
        screening_id,
        lambda: state.staff.revoke_link(staff.user, screening_id),
    )


@router.post("/screenings/{screening_id}/link")
def new_link(
    request: Request,
    screening_id: str,
    staff: StaffDep,
    state: StateDep,
    csrf: str = Form(""),
) -> Response:
    """Issue a new private link for the person, shown once on the page that answers
    (clinicians and admins; the old link stops working); audited."""
    check_csrf(staff, csrf)
    try:
        token = state.staff.new_link(staff.user, screening_id)
    except StaffError as exc:
        return _refused(request, staff, state, screening_id, exc)
    found = state.staff.screening(staff.user, screening_id)
    if found is None:  # erased in between
        return _page(request, "link_not_found.html", status=404, title="Not found")
    link = f"{request.base_url}result/{screening_id}/{token}"
    return _screening(request, staff, state, found, new_link=link)


@router.post("/screenings/{screening_id}/note")
def add_note(
    request: Request,
    screening_id: str,
    staff: StaffDep,
    state: StateDep,
    csrf: str = Form(""),
    note: str = Form(""),
) -> Response:
    """Re-screen with a pasted note (clinicians and admins); stored as a new version.

    A note that cannot be read is shown again with the reason beside the field (422);
    nothing is stored then.
    """
    check_csrf(staff, csrf)
    found = state.staff.screening(staff.user, screening_id)
    if found is None:
        return _page(request, "link_not_found.html", status=404, title="Not found")
    try:
        check_may_rescreen(staff.user)
    except StaffError as exc:
        return _screening(request, staff, state, found, error=str(exc), status=403)
    try:
        reading = screen_note(
            note,
            found["answers"],
            content=state.content,
            max_bytes=state.settings.note_max_bytes,
        )
    except InputError as exc:
        on_note = [p.message for p in exc.problems if p.where == "note"]
        others = [str(p) for p in exc.problems if p.where != "note"]
        return _screening(
            request,
            staff,
            state,
            found,
            error=(
                "The stored answers cannot be screened again: " + "; ".join(others)
                if others
                else None
            ),
            note_error="; ".join(f"The note {m}." for m in on_note) or None,
            note_value=note,
            status=422,
        )
    new_id = state.staff.add_note_version(
        staff.user, screening_id, result=reading.result, note=reading.record
    )
    return RedirectResponse(f"/staff/screenings/{new_id}", status_code=303)
