"""Jinja2 templates (autoescaped) and the context every page gets: the user, the CSRF token, ``can``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from medscreen.pipelines.schema import DISCLAIMER
from medscreen.server.security import csrf_token
from medscreen.store.users import can

__all__ = ["render", "templates"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=_env)


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200,
           user: Any = None, headers: dict[str, str] | None = None) -> Response:
    """Render a page with the user, their ``can`` check, the CSRF token and the disclaimer in its context."""
    ctx: dict[str, Any] = {"user": user, "csrf_token": csrf_token(request), "disclaimer": DISCLAIMER,
                           "can": lambda action, obj=None: can(user, action, obj), "message": None}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)
