"""Request bodies: signed in before a byte is read, refused on ``Content-Length``, capped while streamed.

FastAPI reads (and spools to disk) a form body before it resolves the route's
dependencies, so an anonymous 1 GiB upload used to land in ``/tmp`` before its
401. :class:`BodyGuard` is a plain ASGI middleware in front of the routes that

* answers a request that carries a body but is not signed in (no live session,
  no valid API token) with 401 (API) or a redirect to the sign-in page, before
  reading the body — only ``POST /login`` may send a body anonymously;
* refuses a ``Content-Length`` over the route's cap with 413 before reading;
* stops a body streamed without (or past) its ``Content-Length`` at the cap.

The cap is ``limits.max_body_bytes`` for multipart uploads and
``limits.max_json_bytes`` for everything else (JSON, url-encoded forms, the
anonymous sign-in). Written by hand rather than with Starlette's
``RequestBodyLimitMiddleware`` because the cap depends on the content type and
the sign-in check must come first. 
:class:`SecureCookieOnHttps` marks the
session cookie ``Secure`` on HTTPS requests.
"""

from __future__ import annotations

from collections.abc import Callable

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medscreen.config import LimitSettings

__all__ = ["BodyGuard", "BodyTooLarge", "SecureCookieOnHttps"]

_ANONYMOUS_BODY_PATHS = frozenset({"/login"})


class BodyTooLarge(HTTPException):
    """A request body over its cap (answered 413); an HTTPException so FastAPI's body parser passes it on."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is larger than {limit:,} bytes; send a smaller image (at most "
                              "the size shown on the upload form) or fewer fields")
        self.limit = limit


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return "chunked" in headers.get("transfer-encoding", "").lower() or (length is not None and length != "0")


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


class BodyGuard:
    """The ASGI middleware described in the module docstring.

    Args:
        app: the application (inside the session middleware, so ``scope["session"]`` is set).
        limits: the caps (``max_body_bytes``, ``max_json_bytes``).
        is_signed_in: ``(request) -> bool`` run in a worker thread (it reaches the database).
        refuse: ``(request, status, message) -> Response`` for 401/413 (JSON for the API, a page otherwise).
    """

    def __init__(self, app: ASGIApp, *, limits: LimitSettings, is_signed_in: Callable[[Request], bool],
                 refuse: Callable[[Request, int, str], Response]) -> None:
        self.app = app
        self.limits = limits
        self.is_signed_in = is_signed_in
        self.refuse = refuse

    def cap(self, headers: Headers, signed_in: bool) -> int:
        """The body cap of a request: the upload cap for a signed-in multipart body, else the JSON cap."""
        multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
        return self.limits.max_body_bytes if multipart and signed_in else self.limits.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        signed_in = scope["path"] in _ANONYMOUS_BODY_PATHS or await to_thread.run_sync(self.is_signed_in, request)
        if not signed_in:
            await self._not_signed_in(request, scope, send)
            return
        limit = self.cap(headers, scope["path"] not in _ANONYMOUS_BODY_PATHS)
        length = _content_length(headers)
        if length is not None and length > limit:
            await self.refuse(request, 413, str(BodyTooLarge(limit).detail))(scope, receive, send)
            return
        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self.refuse(request, 413, str(exc.detail))(scope, receive, send)

    async def _not_signed_in(self, request: Request, scope: Scope, send: Send) -> None:
        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        if scope["path"].startswith("/api/"):
            response = self.refuse(request, 401, "sign in at /login, or send 'Authorization: Bearer msk_...' "
                                                 "with an API token")
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            from fastapi.responses import RedirectResponse

            response = RedirectResponse("/login", status_code=303)
        await response(scope, no_body, send)


class SecureCookieOnHttps:
    """ASGI middleware adding ``Secure`` to the session cookie when the request came over HTTPS.

    Behind a TLS proxy, run uvicorn with ``--proxy-headers`` (it trusts 127.0.0.1
    by default) so that ``X-Forwarded-Proto: https`` makes the scheme ``https``.
    """

    def __init__(self, app: ASGIApp, cookie_name: str) -> None:
        self.app = app
        self.prefix = f"{cookie_name}=".encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [self._secure(name, value) for name, value in message["headers"]]
            await send(message)

        await self.app(scope, receive, secure_send)

    def _secure(self, name: bytes, value: bytes) -> tuple[bytes, bytes]:
        if name.lower() == b"set-cookie" and value.startswith(self.prefix) and b"; secure" not in value.lower():
            return name, value + b"; secure"
        return name, value
