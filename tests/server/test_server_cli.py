"""The server's commands: users create, export-labels (serve itself is exercised by the benchmark)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from medscreen.cli.main import app
from medscreen.config import get_settings


def test_users_create_and_export_labels(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "home")
    r = runner.invoke(app, ["users", "create", "nurse1", "--role", "health_worker", "--clinic", "Kisumu",
                            "--password-stdin", "--data-dir", home], input="correct horse battery\n")
    assert r.exit_code == 2 and "medscreen init" in r.output and not (tmp_path / "home").exists()  # no silent db
    assert runner.invoke(app, ["init", "--data-dir", home]).exit_code == 0
    r = runner.invoke(app, ["users", "create", "nurse1", "--role", "health_worker", "--clinic", "Kisumu",
                            "--password-stdin", "--data-dir", home], input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    assert "created health_worker 'nurse1'" in r.output
    r = runner.invoke(app, ["users", "create", "nurse2", "--role", "reviewer", "--data-dir", home])
    assert r.exit_code == 2 and "--clinic" in r.output
    r = runner.invoke(app, ["users", "create", "nurse1", "--admin", "--password-stdin", "--data-dir", home],
                      input="another long password\n")
    assert r.exit_code == 2 and "taken" in r.output
    r = runner.invoke(app, ["export-labels", "--data-dir", home, "--out", str(tmp_path / "l.csv")])
    assert r.exit_code == 2 and "review cases first" in r.output


def test_users_token_prints_a_working_token_once(tmp_path: Path) -> None:
    from medscreen.store.database import database_url, make_engine, session_factory
    from medscreen.store.users import user_for_token

    runner = CliRunner()
    home = tmp_path / "home"
    assert runner.invoke(app, ["init", "--data-dir", str(home)]).exit_code == 0
    r = runner.invoke(app, ["users", "create", "script", "--role", "health_worker", "--clinic", "Kisumu",
                            "--password-stdin", "--data-dir", str(home)], input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "token", "script", "--name", "nightly export", "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("msk_")
    engine = make_engine(database_url(home))
    try:
        with session_factory(engine)() as s:
            user = user_for_token(s, token)
            assert user is not None and user.username == "script"
    finally:
        engine.dispose()
    r = runner.invoke(app, ["users", "token", "nobody", "--name", "x", "--data-dir", str(home)])
    assert r.exit_code == 2 and "nobody" in r.output
    r = runner.invoke(app, ["users", "token", "Scrip", "--name", "x", "--data-dir", str(home)])
    assert r.exit_code == 2 and "did you mean 'script'" in r.output.lower()  # the same lookup as the other commands
    r = runner.invoke(app, ["users", "token", " Script ", "--name", "y", "--data-dir", str(home)])
    assert r.exit_code == 0, r.output  # names are stored lower-case


def test_users_language(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "home")
    assert runner.invoke(app, ["init", "--data-dir", home]).exit_code == 0
    r = runner.invoke(app, ["users", "create", "infirmiere", "--role", "health_worker", "--clinic", "Thiès",
                            "--language", "frr", "--password-stdin", "--data-dir", home], input="correct horse battery\n")
    assert r.exit_code == 2 and "did you mean 'fr'" in r.output  # refused before the password is read
    r = runner.invoke(app, ["users", "create", "infirmiere", "--role", "health_worker", "--clinic", "Thiès",
                            "--language", "FR", "--password-stdin", "--data-dir", home], input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["users", "list", "--data-dir", home])
    assert r.output.split() == ["infirmiere", "health_worker", "Thiès", "active", "fr"]
    r = runner.invoke(app, ["users", "language", "infirmiere", "default", "--data-dir", home])
    assert r.exit_code == 0 and "the server default language" in r.output
    assert runner.invoke(app, ["users", "list", "--data-dir", home]).output.split()[-1] == "-"
    r = runner.invoke(app, ["users", "language", "infirmiere", "de", "--data-dir", home])
    assert r.exit_code == 2 and "en, fr" in r.output


def test_an_error_message_keeps_its_brackets(tmp_path: Path, monkeypatch) -> None:
    """Rich would take "[binary]" for markup and drop it: the install hint must reach the user whole."""
    monkeypatch.setenv("MEDSCREEN_DATABASE_URL", "mysql://u@host/db")  # a driver that is not installed
    get_settings.cache_clear()  # read once per process: read this test's environment, and forget it afterwards
    try:
        r = CliRunner().invoke(app, ["users", "list", "--data-dir", str(tmp_path / "home")])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 2 and "pip install 'psycopg[binary]'" in r.output, r.output
