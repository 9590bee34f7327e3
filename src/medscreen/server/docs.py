"""The API's description for signed-in users: ``/openapi.json`` and a plain ``/api/docs`` page.

FastAPI's own docs page loads Swagger UI from a CDN: blank without internet, and
against the app's Content-Security-Policy (``script-src 'self'``). No Swagger UI
assets ship with the app, so ``/api/docs`` is a server-rendered list of the
routes (method, path, summary, parameters) built from the OpenAPI schema, with
no script at all; tools read ``/openapi.json``. Both need a signed-in user (or an
API token) and are switched off with ``server.api_docs = false`` (then 404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from medscreen.server.deps import ApiUser, PageUser
from medscreen.server.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
def openapi_schema(request: Request, auth: ApiUser) -> Response:
    return JSONResponse(request.app.openapi())


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [p["name"] + (" (required)" if p.get("required") else "") for p in op.get("parameters", [])]
            rows.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                         "description": op.get("description", ""), "parameters": params,
                         "body": "requestBody" in op})
    return rows


@router.get("/api/docs")
def api_docs(request: Request, auth: PageUser) -> Response:
    spec = request.app.openapi()
    return render(request, "api_docs.html", {"info": spec["info"], "operations": _operations(spec)}, user=auth.user)
