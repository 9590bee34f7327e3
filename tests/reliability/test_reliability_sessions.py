"""Item 5: a session ends at logout, password change and deactivation; its lifetime is a setting; Secure on HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from reliability_support import Browser, World, small_settings, world_on
from sqlalchemy import select, update

from medscreen.store.logins import revoke_login_sessions
from medscreen.store.models import AuditEvent, LoginSession, User, utcnow
from medscreen.store.users import set_active, set_password


@pytest.fixture()
def fresh(tmp_path, backend: str, request: pytest.FixtureRequest) -> Iterator[World]:
    yield from world_on(backend, request, tmp_path / "home", small_settings(session_max_age_s=60))


def _saved_cookie_client(world: World, browser: Browser) -> TestClient:
    copy = TestClient(world.app, follow_redirects=False)
    copy.cookies.update(dict(browser.client.cookies.items()))
    return copy


def test_cookie_saved_before_logout_stops_working(fresh: World) -> None:
    b = Browser(fresh.app, "worker")
    saved = _saved_cookie_client(fresh, b)
    assert saved.get("/api/v1/patients").status_code == 200
    assert b.client.post("/logout", data={"csrf_token": b.csrf}).status_code == 303
    assert saved.get("/api/v1/patients").status_code == 401
    assert saved.get("/patients").status_code == 303
    with fresh.app.state.sessions() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "logout")) is not None


@pytest.mark.parametrize("change", ["password", "deactivate", "revoke"])
def test_password_change_and_deactivation_end_sessions(fresh: World, change: str) -> None:
    b = Browser(fresh.app, "worker")
    assert b.client.get("/api/v1/patients").status_code == 200
    with fresh.app.state.sessions() as s:
        user = s.scalar(select(User).where(User.username == "worker"))
        if change == "password":
            set_password(s, user, "another long password")
        elif change == "deactivate":
            set_active(s, user, False)
        else:
            assert revoke_login_sessions(s, user) == 1
        s.commit()
    assert b.client.get("/api/v1/patients").status_code == 401


def test_session_lifetime_comes_from_settings(fresh: World) -> None:
    b = Browser(fresh.app, "worker")
    with fresh.app.state.sessions() as s:
        row = s.scalar(select(LoginSession))
        lifetime = row.expires_at - row.created_at
        assert timedelta(seconds=59) < lifetime <= timedelta(seconds=61)
        s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert b.client.get("/api/v1/patients").status_code == 401


def test_cookie_is_secure_over_https_only(fresh: World) -> None:
    for base, secure in [("https://clinic.example", True), ("http://testserver", False)]:
        client = TestClient(fresh.app, base_url=base, follow_redirects=False)
        r = client.get("/login")
        cookie = r.headers["set-cookie"]
        assert ("secure" in cookie.lower()) is secure, cookie


def test_sign_in_still_works_after_logout(fresh: World) -> None:
    b = Browser(fresh.app, "worker")
    b.client.post("/logout", data={"csrf_token": b.csrf})
    assert b.client.get("/api/v1/patients").status_code == 401  # the old session is over
    again = Browser(fresh.app, "worker")
    assert again.client.get("/api/v1/patients").status_code == 200
