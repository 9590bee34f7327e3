"""Request dependencies: the database session, the signed-in user, CSRF checks.

A request is authenticated either by the session cookie (pages, and the
pages' own JavaScript; the cookie names a server-side login session, see
:mod:`medscreen.store.logins`) or by ``Authorization: Bearer msk_...`` (scripts).
Cookie-authenticated API POSTs must send the session's CSRF token in
``X-CSRF-Token``; bearer requests need none (a browser never adds the header
by itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from medscreen.i18n import N_
from medscreen.server.security import CSRF_HEADER, check_csrf, client_ip
from medscreen.store.logins import user_for_login_session
from medscreen.store.models import User
from medscreen.store.users import user_for_token

__all__ = [
    "ApiUser",
    "Auth",
    "CsrfChecked",
    "DbSession",
    "LoginRequired",
    "NotAuthenticated",
    "PageUser",
    "CsrfFailed",
    "SESSION_KEY",
    "get_db",
    "is_signed_in",
    "session_user",
]


class NotAuthenticated(Exception):
    """No valid session or token on an API request (answered 401 JSON)."""


class LoginRequired(Exception):
    """No signed-in user on a page request (answered with a redirect to the login page)."""


class CsrfFailed(Exception):
    """The CSRF token is missing or wrong (answered 403)."""


def require_csrf(request: Request, token: str | None) -> None:
    """A form POST must carry the session's CSRF token.

    Raises:
        CsrfFailed: it does not (answered 403 with a message to reload the page).
    """
    if not check_csrf(request, token):
        raise CsrfFailed(N_("this form has expired or did not come from medscreen; reload the page and try again"))


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request, closed (and rolled back if uncommitted) afterwards."""
    with request.app.state.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db)]


#: the session cookie's key holding the login session id
SESSION_KEY = "sid"


def session_user(request: Request, db: Session) -> User | None:
    """The active user of the session cookie's live login session, or None (an ended session is cleared)."""
    session_id = request.session.get(SESSION_KEY)
    if session_id is None:
        return None
    user = user_for_login_session(db, session_id)
    if user is None:
        request.session.clear()
    return user


def is_signed_in(request: Request) -> bool:
    """Whether the request carries a live session or a valid API token (checked before its body is read)."""
    with request.app.state.sessions() as db:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return user_for_token(db, token.strip()) is not None
        return user_for_login_session(db, request.session.get(SESSION_KEY)) is not None


@dataclass
class Auth:
    """The signed-in user, how they signed in, and the client's address (for audit rows)."""

    user: User
    bearer: bool
    ip: str | None


def _api_auth(request: Request, db: DbSession) -> Auth:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        user = user_for_token(db, token.strip())
        if user is None:
            raise NotAuthenticated("the API token is unknown, revoked or its user is inactive; "
                                   "make a new token with an admin")
        db.commit()  # keeps last_used_at
        request.state.user_language = user.language
        return Auth(user, True, client_ip(request))
    user = session_user(request, db)
    if user is None:
        raise NotAuthenticated("sign in at /login, or send 'Authorization: Bearer msk_...' with an API token")
    request.state.user_language = user.language
    return Auth(user, False, client_ip(request))


ApiUser = Annotated[Auth, Depends(_api_auth)]


def _api_csrf(request: Request, auth: ApiUser) -> Auth:
    if not auth.bearer and not check_csrf(request, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed(f"missing or wrong {CSRF_HEADER} header; send the token shown in the page's "
                         "csrf-token meta tag, or use an API token")
    return auth


#: an API user whose POST passed the CSRF check (bearer tokens pass)
CsrfChecked = Annotated[Auth, Depends(_api_csrf)]


def _page_auth(request: Request, db: DbSession) -> Auth:
    user = session_user(request, db)
    if user is None:
        raise LoginRequired()
    request.state.user_language = user.language  # error pages of this request speak the user's language too
    return Auth(user, False, client_ip(request))


PageUser = Annotated[Auth, Depends(_page_auth)]
