"""Annotated dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ketascreen.web.state import AppState


async def get_state(request: Request) -> AppState:
    """The app state stored on startup."""
    state: AppState = request.app.state.ketascreen
    return state


StateDep = Annotated[AppState, Depends(get_state)]
