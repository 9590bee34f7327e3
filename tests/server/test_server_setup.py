"""Setting up a clinic laptop: init, one data folder, phone addresses and QR, doctor, clinic names, access log."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_support import StubScreener
from typer.testing import CliRunner

import medscreen.server.lan as lan
from medscreen.cli.main import app as cli
from medscreen.server.access_log import ACCESS_LOGGER, start_access_log
from medscreen.server.app import create_app
from medscreen.server.doctor import check_tls, run_checks
from medscreen.config import ServerSettings, Settings, get_settings
from medscreen.server.tls import init_tls


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def ran(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``uvicorn.run`` recorded instead of run."""
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setattr(lan, "lan_addresses", lambda: ["192.168.1.20"])
    return calls


def test_serve_on_every_network_prints_the_phone_address_and_a_qr_code(tmp_path: Path, ran: list[dict]) -> None:
    r = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8123", "--data-dir", str(tmp_path / "h")])
    assert r.exit_code == 0, r.output
    assert "http://192.168.1.20:8123/" in r.output
    assert "▀" in r.output or "█" in r.output  # the QR code, in block characters
    assert ran == [{"host": "0.0.0.0", "port": 8123, "log_level": "warning", "access_log": False}]
    assert (tmp_path / "h" / "medscreen.db").is_file()  # serve (and init) make the database


def test_serve_on_loopback_says_how_to_reach_phones(tmp_path: Path, ran: list[dict]) -> None:
    r = CliRunner().invoke(cli, ["serve", "--data-dir", str(tmp_path / "h")])
    assert r.exit_code == 0, r.output
    assert "http://127.0.0.1:8000/" in r.output and "HOST=0.0.0.0" in r.output
    assert ran[0]["host"] == "127.0.0.1"


def test_serve_tls_uses_the_certificate_tls_init_made(tmp_path: Path, ran: list[dict]) -> None:
    home = str(tmp_path / "h")
    runner = CliRunner()
    r = runner.invoke(cli, ["serve", "--tls", "--data-dir", home])
    assert r.exit_code == 2 and "medscreen tls init" in r.output
    r = runner.invoke(cli, ["tls", "init", "--data-dir", home])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["serve", "--tls", "--host", "0.0.0.0", "--data-dir", home])
    assert r.exit_code == 0, r.output
    assert "https://192.168.1.20:8000/" in r.output and "phone-setup" in r.output
    assert ran[-1]["ssl_certfile"].endswith("server.crt") and ran[-1]["ssl_keyfile"].endswith("server.key")
    r = runner.invoke(cli, ["serve", "--tls-cert", str(tmp_path / "own.pem"), "--data-dir", home])
    assert r.exit_code == 2 and "--tls-key" in r.output


@pytest.fixture()
def fresh_settings() -> Iterator[None]:
    """Settings are read once per process: read them again with this test's environment, and after it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_commands_other_than_serve_and_init_make_no_database(tmp_path: Path, monkeypatch, fresh_settings) -> None:
    monkeypatch.setenv("MEDSCREEN_HOME", str(tmp_path / "clinic"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in (["users", "list"], ["users", "tokens", "list"], ["backup", "--out", str(tmp_path / "b.tar")],
                 ["export-labels", "--out", str(tmp_path / "l.csv")]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 2 and "medscreen init" in r.output, (args, r.output)
    assert not (tmp_path / "clinic").exists() and not (tmp_path / "medscreen-data").exists()
    assert runner.invoke(cli, ["init"]).exit_code == 0  # MEDSCREEN_HOME, from any folder
    monkeypatch.chdir(tmp_path / "clinic")
    r = runner.invoke(cli, ["users", "list"])
    assert r.exit_code == 0, r.output


def test_a_clinic_differing_only_by_case_or_spacing_is_refused(tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--data-dir", home]).exit_code == 0

    def create(name: str, clinic: str):
        return runner.invoke(cli, ["users", "create", name, "--role", "health_worker", "--clinic", clinic,
                                   "--password-stdin", "--data-dir", home], input="correct horse battery\n")

    assert create("nurse1", "Kisumu").exit_code == 0
    assert create("nurse2", "  Kisumu ").exit_code == 0  # the same clinic, spacing tidied
    r = create("nurse3", "kisumu")
    assert r.exit_code == 2 and "'Kisumu'" in r.output and "case or spacing" in r.output
    r = create("nurse4", "KISUMU  ")
    assert r.exit_code == 2
    out = runner.invoke(cli, ["users", "list", "--data-dir", home]).output
    assert out.count("Kisumu") == 2 and "nurse3" not in out


def test_doctor_reports_each_problem_with_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "h"
    runner = CliRunner()
    r = runner.invoke(cli, ["doctor", "--data-dir", str(home), "--port", str(_free_port()), "--host", "127.0.0.1"])
    assert r.exit_code == 1 and "FAIL" in r.output and "medscreen init" in r.output
    assert not home.exists()  # doctor changes nothing
    assert runner.invoke(cli, ["init", "--data-dir", str(home)]).exit_code == 0
    port = _free_port()
    r = runner.invoke(cli, ["doctor", "--data-dir", str(home), "--port", str(port), "--host", "127.0.0.1"])
    assert "schema at the newest migration" in r.output and "matches its card" in r.output, r.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        checks = {c.name: c for c in run_checks(home, Settings(), host="127.0.0.1", port=port, addresses=[])}
    assert checks["port"].level == "fail" and "--port" in checks["port"].fix
    assert checks["network"].level == "warn" and "Wi-Fi" in checks["network"].fix
    assert checks["folder"].level == "ok" and checks["database"].level == "ok"
    assert "https" not in checks  # no certificate: HTTPS not set up, nothing to check

    init_tls(home, ["192.168.1.20"])
    assert check_tls(home, Settings(), ["192.168.1.20"]).level == "ok"
    moved = check_tls(home, Settings(), ["192.168.1.31"])  # the laptop got another address
    assert moved.level == "warn" and "tls init" in moved.fix
    home.chmod(0o755)
    assert run_checks(home, Settings(), port=_free_port(), addresses=[])[0].fix == f"chmod 700 {home}"


def test_doctor_reports_an_unreachable_database_in_words(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    settings = Settings(database={"url": "postgresql+psycopg://medscreen:s3cret@127.0.0.1:1/medscreen"})
    checks = {c.name: c for c in run_checks(tmp_path, settings, port=_free_port(), addresses=[])}
    assert checks["database"].level == "fail" and "refused" in checks["database"].found
    assert "s3cret" not in checks["database"].found


def test_access_log_has_route_templates_and_no_patient_data(tmp_path: Path) -> None:
    home = tmp_path / "h"
    log = start_access_log(home, ServerSettings(access_log_max_bytes=2000, access_log_backups=2))
    try:
        app = create_app(home, "sqlite://", screener=StubScreener())
        with TestClient(app) as client:
            client.get("/api/v1/patients/4711?name=Amina")
            client.get("/login")
            for _ in range(40):
                client.get("/static/app.css")
        for handler in logging.getLogger(ACCESS_LOGGER).handlers:
            handler.flush()
        text = log.read_text() + "".join(p.read_text() for p in log.parent.glob("access.log.*"))
        assert "GET /api/v1/patients/{patient_id} 401" in text and "GET /login 200" in text
        assert "4711" not in text and "Amina" not in text
        assert (log.parent / "access.log.1").is_file() and not (log.parent / "access.log.3").exists()  # rotated
    finally:
        logger = logging.getLogger(ACCESS_LOGGER)
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def test_an_older_database_is_upgraded_by_serve(tmp_path: Path, ran: list[dict]) -> None:
    """An upgrade (pull, make install, restart): the previous release's database is migrated at start, rows kept."""
    from sqlalchemy import text

    from medscreen.store.database import current_revision, database_url, head_revision, make_engine, upgrade

    home = tmp_path / "h"
    url = database_url(home)
    upgrade(url, "0003")  # a database from before the sessions/idempotency migration
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO clinics (name, created_at) VALUES ('Kisumu', '2026-01-01 00:00:00')"))
    engine.dispose()
    checks = {c.name: c for c in run_checks(home, Settings(), port=_free_port(), addresses=[])}
    assert checks["database"].level == "warn" and "backup" in checks["database"].fix
    r = CliRunner().invoke(cli, ["serve", "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    assert current_revision(url) == head_revision()
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM clinics")).scalar_one() == "Kisumu"
    engine.dispose()


def test_the_systemd_units_run_commands_that_exist() -> None:
    import configparser
    import shlex

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(deploy / "medscreen.service")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert argv[0].endswith("/medscreen") and argv[1] == "serve"
    r = CliRunner().invoke(cli, ["serve", "--help"])
    for option in (a for a in argv[2:] if a.startswith("--")):
        assert option in r.output, option
    assert unit["Service"]["Environment"].startswith("MEDSCREEN_HOME=")
    backup = (deploy / "medscreen-backup.service").read_text()
    assert "medscreen backup --out" in backup and "-mtime" in backup
    assert "OnCalendar=" in (deploy / "medscreen-backup.timer").read_text()


def test_admins_see_the_phone_address_and_qr_code_on_a_page(browsers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("medscreen.server.phone_setup.lan_addresses", lambda: ["192.168.1.20"])
    page = browsers["admin"].client.get("/admin/network")
    assert page.status_code == 200 and "http://192.168.1.20:80/" in page.text
    assert "<svg" in page.text and "style=" not in page.text.split("<svg", 1)[1].split("</svg>")[0]  # CSP: no inline styles
    assert 'href="/admin/network"' in page.text
    assert browsers["worker"].client.get("/admin/network").status_code == 403
    assert 'href="/admin/network"' not in browsers["worker"].client.get("/patients").text
    assert browsers["worker"].client.get("/phone-setup").status_code == 200  # open to all: phones need it first
    assert browsers["worker"].client.get("/ca.crt").status_code == 404  # no tls init in this world
