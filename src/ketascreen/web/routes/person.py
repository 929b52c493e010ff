"""The person's flow: welcome, one page per section, crisis help at once, the result."""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.intake.answers import FactSet
from ketascreen.screening import screen
from ketascreen.storage.repository import Draft
from ketascreen.web.deps import StateDep
from ketascreen.web.forms import read_page
from ketascreen.web.pages import (
    crisis_for,
    facts_of,
    page_view,
    shown_items,
    visible_sections,
)

# The routes are coroutines: their database calls are short and run on the event loop,
# which costs less than handing each request to a worker thread and back.
router = APIRouter(include_in_schema=False)


def _site(request: Request) -> dict[str, Any]:
    """What every page shows: the safety line, from the clinic's crisis content."""
    return {"safety_reminder": request.app.state.ketascreen.content.crisis.reminder}


templates = Jinja2Templates(
    directory=str(files("ketascreen.web") / "templates"), context_processors=[_site]
)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
# Templates are package files that do not change while serving: no stat() per render
# (and per include) to see whether one did.
templates.env.auto_reload = False


def _today() -> date:
    return date.today()  # noqa: DTZ011 - the clinic's local date is meant


def _page(
    request: Request, name: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _not_found(request: Request, expired: bool = False) -> HTMLResponse:
    return _page(
        request, "link_not_found.html", status=410 if expired else 404, expired=expired
    )


@router.get("/", response_class=HTMLResponse)
async def welcome(request: Request, state: StateDep) -> HTMLResponse:
    """What the screening is and is not, how long it takes, how answers are kept."""
    return _page(request, "welcome.html", form=state.content.form)


@router.post("/start")
async def start(state: StateDep) -> Response:
    """Start a draft and go to its first page (the link is the way back in)."""
    token = state.repository.new_draft()
    return RedirectResponse(f"/s/{token}", status_code=303)


@router.get("/s/{token}")
async def resume(request: Request, token: str, state: StateDep) -> Response:
    """Resume a draft at its first page."""
    draft = _open_draft(request, token, state)
    if isinstance(draft, Response):
        return draft
    facts = facts_of(state.content, draft.answers, _today())
    first = visible_sections(state.content, facts.values)[0]
    return RedirectResponse(f"/s/{token}/{first.id}", status_code=303)


@router.get("/s/{token}/{section_id}", response_class=HTMLResponse)
async def show_page(
    request: Request, token: str, section_id: str, state: StateDep
) -> Response:
    """One page of the questionnaire."""
    draft = _open_draft(request, token, state)
    if isinstance(draft, Response):
        return draft
    if section_id == "finish":
        return _finish_page(request, token, draft.answers, state)
    facts = facts_of(state.content, draft.answers, _today())
    view = page_view(state.content, section_id, facts.values)
    if view is None:
        return _not_found(request)
    return _section_page(request, token, view, facts, draft.answers, {}, state)


@router.post("/s/{token}/{section_id}")
async def save_page(
    request: Request, token: str, section_id: str, state: StateDep
) -> Response:
    """Validate the page; keep what is valid; go on, go back, or show what to fix."""
    draft = _open_draft(request, token, state)
    if isinstance(draft, Response):
        return draft
    if section_id == "finish":
        return _submit(token, draft.answers, state)
    today = _today()
    facts = facts_of(state.content, draft.answers, today)
    view = page_view(state.content, section_id, facts.values)
    if view is None:
        return _not_found(request)
    form = await request.form()
    fields = {key: [str(v) for v in form.getlist(key)] for key in form}
    page = read_page(view.items, fields, today)
    answers = {
        k: v for k, v in draft.answers.items() if k not in {i.id for i in view.items}
    }
    answers.update(page.answers)
    # Answers to questions that no longer show are kept on purpose: the engine reads
    # every answer, and a suicide-risk answer must never be lost by changing another.
    state.repository.save_draft(token, answers, draft_id=draft.id)
    going_back = fields.get("action", [""])[0] == "back"
    new_facts = facts_of(state.content, answers, today)
    if page.errors and not going_back:
        return _section_page(
            request, token, view, new_facts, page.raw, page.errors, state
        )
    refreshed = page_view(state.content, section_id, new_facts.values)
    if refreshed is not None and not going_back:
        newly_shown = {i.id for i in refreshed.items} - {i.id for i in view.items}
        if newly_shown:  # follow-up questions on this page now apply
            return RedirectResponse(
                f"/s/{token}/{section_id}#{sorted(newly_shown)[0]}", 303
            )
    target = (refreshed or view).previous if going_back else (refreshed or view).next
    if going_back and target is None:
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/s/{token}/{target or 'finish'}", status_code=303)


def _section_page(
    request: Request,
    token: str,
    view: Any,
    facts: FactSet,
    shown_values: dict[str, Any],
    errors: dict[str, str],
    state: Any,
) -> HTMLResponse:
    return _page(
        request,
        "section.html",
        status=422 if errors else 200,
        token=token,
        view=view,
        values=shown_values,
        errors=errors,
        crisis=crisis_for(state.content, facts, _today()),
        title=view.section.title,
    )


def _finish_page(
    request: Request, token: str, answers: dict[str, Any], state: Any
) -> HTMLResponse:
    facts = facts_of(state.content, answers, _today())
    sections = visible_sections(state.content, facts.values)
    return _page(
        request,
        "finish.html",
        token=token,
        previous=sections[-1].id if sections else None,
        crisis=crisis_for(state.content, facts, _today()),
        title="Ready for your result",
    )


def _open_draft(request: Request, token: str, state: Any) -> Draft | Response:
    """The draft for a link, or the page to show instead (unknown, expired, submitted)."""
    draft: Draft | None = state.repository.draft(token)
    if draft is None or draft.expired:
        return _not_found(request, expired=draft is not None)
    if draft.screening_id is not None:  # already submitted: show the result
        access = state.repository.draft_link(token, draft.screening_id)
        if access is None:
            return _not_found(request)
        return _to_result(draft.screening_id, access)
    return draft


def _to_result(screening_id: str, access: str) -> Response:
    return RedirectResponse(f"/result/{screening_id}/{access}", status_code=303)


def _submit(token: str, answers: dict[str, Any], state: Any) -> Response:
    result = screen(answers, content=state.content, screening_date=_today())
    stored = state.repository.submit_draft(token, result)
    return _to_result(stored.id, stored.access_token)


@router.get("/result/{screening_id}/{access}", response_class=HTMLResponse)
async def result_page(
    request: Request,
    screening_id: str,
    access: str,
    state: StateDep,
    print_view: bool = False,
) -> HTMLResponse:
    """The person's result in kind words; ``?print_view=true`` for a printable page.

    An unknown id and a wrong, revoked or expired link get the same kind page.
    """
    found = state.repository.view_with_token(screening_id, access)
    if found is None:
        return _not_found(request)
    stored, entry = found
    await state.writer.audit(entry)  # committed before the result is shown
    result = ScreeningResult.model_validate_json(stored.result_json)
    return _page(
        request,
        "result.html",
        result=result,
        crisis=result.crisis,
        printable=print_view,
        title=result.disposition_label,
        shown_items=shown_items,
    )
