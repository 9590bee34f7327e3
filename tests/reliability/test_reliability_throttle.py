"""Item 2: failed sign-ins are throttled per account and per address (429 + Retry-After); password checks are bounded."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from reliability_support import PASSWORD, Browser, Peak, World, make_world, run_threads, small_settings
from sqlalchemy import select

from medscreen.config import ServerSettings
from medscreen.server.throttle import LoginThrottle, PasswordChecksBusy
from medscreen.store.models import AuditEvent, User


@pytest.fixture()
def strict(tmp_path) -> Iterator[World]:
    settings = small_settings(login_failures_per_account=3, login_failures_per_address=5, login_window_s=600,
                              max_concurrent_password_hashes=1, password_hash_wait_s=0.2)
    yield from make_world(tmp_path / "home", settings)


def _login(b: Browser, username: str, password: str):
    return b.client.post("/login", data={"username": username, "password": password, "csrf_token": b.csrf})


def test_account_is_locked_after_repeated_failures_even_for_the_right_password(strict: World) -> None:
    b = Browser(strict.app)
    assert [_login(b, "worker", "wrong password!").status_code for _ in range(3)] == [401, 401, 401]
    r = _login(b, "worker", PASSWORD)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 600
    assert "try again in" in r.text
    with strict.app.state.sessions() as s:
        worker_id = s.scalar(select(User.id).where(User.username == "worker"))
        failed = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")))
        assert failed and all(e.object_id == str(worker_id) for e in failed)  # names the account tried
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "login.throttled")) is not None
    assert _login(Browser(strict.app), "reviewer", PASSWORD).status_code == 303  # other accounts still work


def test_one_address_trying_many_accounts_is_throttled(strict: World) -> None:
    b = Browser(strict.app)
    codes = [_login(b, f"user{i}", "wrong password!").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]


def test_failures_expire_after_the_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(ServerSettings(login_failures_per_account=2, login_window_s=60), clock=lambda: now[0])
    throttle.failed("nurse", "10.0.0.1")
    throttle.failed("nurse", "10.0.0.1")
    assert throttle.retry_after("nurse", "10.0.0.2") == 60
    now[0] += 30
    assert throttle.retry_after("NURSE ", "10.0.0.2") == 30
    now[0] += 31
    assert throttle.retry_after("nurse", "10.0.0.2") is None


def test_password_checks_are_bounded(strict: World) -> None:
    throttle: LoginThrottle = strict.app.state.login_throttle
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with throttle.password_check():
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        r = _login(Browser(strict.app), "admin", PASSWORD)
        assert r.status_code == 503 and r.headers["Retry-After"]
        with pytest.raises(PasswordChecksBusy):
            with throttle.password_check():
                pass
    finally:
        release.set()
        t.join()
    assert _login(Browser(strict.app), "admin", PASSWORD).status_code == 303


def test_concurrent_sign_ins_never_hash_more_than_the_bound() -> None:
    throttle = LoginThrottle(ServerSettings(max_concurrent_password_hashes=2, password_hash_wait_s=5))
    peak = Peak()

    def sign_in() -> None:
        with throttle.password_check(), peak:
            pass

    run_threads(sign_in, [()] * 12)
    assert peak.most == 2
