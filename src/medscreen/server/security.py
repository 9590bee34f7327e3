"""Session secret, CSRF tokens and client addresses.

The session cookie is Starlette's signed cookie (HttpOnly, SameSite=Lax). Its
key is made once per data folder and kept in ``<data_home>/secret_key``
(mode 0600), so sessions survive restarts. Each session carries a random
CSRF token that every form POST (hidden ``csrf_token`` field) and every
cookie-authenticated API POST (``X-CSRF-Token`` header) must echo.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from starlette.requests import Request

from medscreen.store.errors import StoreError

__all__ = ["CSRF_HEADER", "CSRF_FIELD", "check_csrf", "client_ip", "csrf_token", "load_secret_key"]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SECRET_FILE = "secret_key"


def load_secret_key(data_home: Path) -> str:
    """The session-signing key of ``data_home``, made (0600, 256 random bits) on first use.

    Raises:
        StoreError: the key file cannot be written or read, or is group/world readable.
    """
    path = Path(data_home) / SECRET_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the session key {path}: {exc.strerror}; check the folder's permissions") from None
    else:
        with os.fdopen(fd, "w") as fp:
            fp.write(secrets.token_urlsafe(48))
    try:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            raise StoreError(f"session key {path} is readable by other users; run: chmod 600 {path}")
        key = path.read_text().strip()
    except OSError as exc:
        raise StoreError(f"cannot read the session key {path}: {exc.strerror}; check its permissions") from None
    if len(key) < 32:
        raise StoreError(f"session key {path} is too short; delete it and restart to make a new one")
    return key


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made when the session has none."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, supplied: str | None) -> bool:
    """Whether ``supplied`` matches the session's CSRF token (constant-time)."""
    expected = request.session.get("csrf")
    return bool(expected and supplied) and secrets.compare_digest(str(expected), str(supplied))


def client_ip(request: Request) -> str | None:
    """The client's IP address for audit rows, or None when it is not an IP (a test client)."""
    host = request.client.host if request.client else None
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
