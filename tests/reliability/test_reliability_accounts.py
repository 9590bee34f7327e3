"""Item 6: accounts are managed from the command line: list, deactivate, reactivate, reset password, tokens."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from medscreen.cli.main import app
from medscreen.store.database import database_url, make_engine, session_factory
from medscreen.store.logins import start_login_session, user_for_login_session
from medscreen.store.users import authenticate, find_user, user_for_token


def _run(*args: str, input: str | None = None):
    r = CliRunner().invoke(app, list(args), input=input)
    return r


def test_account_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert _run("init", "--data-dir", home).exit_code == 0
    assert _run("users", "create", "nurse1", "--role", "health_worker", "--clinic", "Kisumu", "--password-stdin",
                "--data-dir", home, input="correct horse battery\n").exit_code == 0
    token = _run("users", "token", "nurse1", "--name", "nightly", "--data-dir", home).output.strip().splitlines()[-1]
    engine = make_engine(database_url(Path(home)))
    sessions = session_factory(engine)
    try:
        with sessions() as s:
            sid = start_login_session(s, find_user(s, "nurse1"), 3600)
            s.commit()
        r = _run("users", "list", "--data-dir", home)
        assert r.exit_code == 0 and "nurse1" in r.output and "active" in r.output
        r = _run("users", "deactivate", "nurse1", "--data-dir", home)
        assert r.exit_code == 0, r.output
        with sessions() as s:
            assert user_for_login_session(s, sid) is None and user_for_token(s, token) is None
        assert "deactivated" in _run("users", "list", "--data-dir", home).output
        assert _run("users", "reactivate", "nurse1", "--data-dir", home).exit_code == 0
        with sessions() as s:
            assert user_for_token(s, token) is not None
            sid = start_login_session(s, find_user(s, "nurse1"), 3600)
            s.commit()
        r = _run("users", "reset-password", "nurse1", "--password-stdin", "--data-dir", home,
                 input="a brand new passphrase\n")
        assert r.exit_code == 0, r.output
        with sessions() as s:
            assert user_for_login_session(s, sid) is None
            assert authenticate(s, "nurse1", "a brand new passphrase") is not None
        r = _run("users", "tokens", "list", "--data-dir", home)
        assert r.exit_code == 0 and "nightly" in r.output and "msk_" not in r.output
        token_id = r.output.split()[0]
        assert _run("users", "tokens", "revoke", token_id, "--data-dir", home).exit_code == 0
        with sessions() as s:
            assert user_for_token(s, token) is None
        assert "revoked" in _run("users", "tokens", "list", "--user", "nurse1", "--data-dir", home).output
        r = _run("users", "deactivate", "nurse", "--data-dir", home)
        assert r.exit_code == 2 and "did you mean 'nurse1'" in r.output
        assert _run("users", "tokens", "revoke", "999", "--data-dir", home).exit_code == 2
    finally:
        engine.dispose()
